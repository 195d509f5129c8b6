import type { CalibrationBin, ConfusionCell, RegressionSums, Task } from '../analyzers/performance.ts';
import type { Sql } from './sql.ts';
import { eventsOf, WINDOW_SQL, windowParams, type Window } from './window.ts';

const WINDOW = WINDOW_SQL;

/** The window's events joined to whatever labels have arrived for them (latest label wins, FINAL). */
const labelledEvents = (w: Window) => `
  SELECT e.event_id AS event_id, e.ts AS ts, e.prediction_num AS prediction_num, e.prediction_cat AS prediction_cat,
         l.label_num AS label_num, l.label_cat AS label_cat, l.label_ts AS label_ts,
         ifNull(l.label_cat, toString(l.label_num)) AS label_str
  FROM (SELECT event_id, ts, prediction_num, prediction_cat FROM ${eventsOf(w)} WHERE ${WINDOW}) AS e
  INNER JOIN (
    SELECT event_id, label_num, label_cat, ts AS label_ts FROM labels FINAL
    WHERE model = {model:String}
      AND event_id IN (SELECT event_id FROM ${eventsOf(w)} WHERE ${WINDOW})
  ) AS l USING (event_id)`;

export interface LabelSummary {
  n_events: number;
  n_labelled: number;
  delay_p50_ms: number | null;
  delay_p90_ms: number | null;
  task: Task | null;
}

type LabelledRow = { n: number; delay: number[]; cat_pred: number; num_pred: number; cat_label: number; binary_label: number; unit_score: number };

const LABELLED_SUMMARY = `count() AS n,
              quantiles(0.5, 0.9)(toFloat64(dateDiff('millisecond', ts, label_ts))) AS delay,
              countIf(prediction_cat IS NOT NULL) AS cat_pred,
              countIf(prediction_num IS NOT NULL) AS num_pred,
              countIf(label_cat IS NOT NULL) AS cat_label,
              countIf(label_num IN (0, 1)) AS binary_label,
              countIf(prediction_num >= 0 AND prediction_num <= 1) AS unit_score`;

function summaryOf(events: number, labelled: LabelledRow | undefined): LabelSummary {
  const n = Number(labelled?.n ?? 0);
  let task: Task | null = null;
  if (labelled && n > 0) {
    if (Number(labelled.cat_pred) === n) task = 'classification';
    else if (Number(labelled.num_pred) === n && Number(labelled.binary_label) === n && Number(labelled.unit_score) === n) task = 'binary';
    else if (Number(labelled.num_pred) === n && Number(labelled.cat_label) === 0) task = 'regression';
  }
  return {
    n_events: events,
    n_labelled: n,
    delay_p50_ms: labelled && n > 0 ? labelled.delay[0] : null,
    delay_p90_ms: labelled && n > 0 ? labelled.delay[1] : null,
    task,
  };
}

/**
 * Whether any label of the model is stored: one granule of labels' primary
 * key. Without one, the join of a window's events to labels is skipped: its
 * IN set holds every event id of the window (0.3-0.5 s of a 1M-event drift
 * report, and growing with the window) to find nothing.
 */
async function hasLabels(sql: Sql, model: string): Promise<boolean> {
  const [row] = await sql.query<{ n: number }>('SELECT count() AS n FROM (SELECT 1 FROM labels WHERE model = {model:String} LIMIT 1)', { model });
  return Number(row?.n ?? 0) > 0;
}

/** Label coverage and delay, and which kind of task the predictions and labels describe. */
export async function labelSummary(sql: Sql, w: Window): Promise<LabelSummary> {
  const params = windowParams(w);
  const labels = await hasLabels(sql, w.model);
  const [[events], [labelled]] = await Promise.all([
    sql.query<{ n: number }>(`SELECT count() AS n FROM ${eventsOf(w)} WHERE ${WINDOW}`, params),
    labels ? sql.query<LabelledRow>(`SELECT ${LABELLED_SUMMARY} FROM (${labelledEvents(w)})`, params) : [],
  ]);
  return summaryOf(Number(events?.n ?? 0), labelled);
}

/**
 * labelSummary of each step of `stepMs` in [w.from, w.to), in two
 * statements for all of them: the scheduler's recompute of earlier windows
 * (PERFORMANCE_RECOMPUTE_WINDOWS) costs two statements a model instead of
 * two a window, and a window without labels needs nothing more.
 */
export async function labelSummaries(sql: Sql, w: Window, stepMs: number): Promise<LabelSummary[]> {
  const params = { ...windowParams(w), step: stepMs };
  const step = `toUInt32(intDiv(toUnixTimestamp64Milli(ts) - {from:Int64}, {step:Int64}))`;
  const labels = await hasLabels(sql, w.model);
  const [events, labelled] = await Promise.all([
    sql.query<{ i: number; n: number }>(`SELECT ${step} AS i, count() AS n FROM ${eventsOf(w)} WHERE ${WINDOW} GROUP BY i`, params),
    labels ? sql.query<LabelledRow & { i: number }>(`SELECT ${step} AS i, ${LABELLED_SUMMARY} FROM (${labelledEvents(w)}) GROUP BY i`, params) : [],
  ]);
  const counts = new Map(events.map((r) => [Number(r.i), Number(r.n)]));
  const rows = new Map(labelled.map((r) => [Number(r.i), r]));
  return Array.from({ length: Math.ceil((w.to - w.from) / stepMs) }, (_, i) => summaryOf(counts.get(i) ?? 0, rows.get(i)));
}

/** Predicted class against actual label; binary scores are cut at 0.5 into classes "1" and "0". */
export async function confusion(sql: Sql, w: Window, task: 'binary' | 'classification'): Promise<ConfusionCell[]> {
  const predicted = task === 'binary' ? `if(prediction_num >= 0.5, '1', '0')` : 'assumeNotNull(prediction_cat)';
  const actual = task === 'binary' ? 'toString(toUInt8(label_num))' : 'label_str';
  const rows = await sql.query<ConfusionCell>(
    `SELECT ${predicted} AS predicted, ${actual} AS actual, count() AS n FROM (${labelledEvents(w)}) GROUP BY predicted, actual`,
    windowParams(w),
  );
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/** Score-based binary metrics: ROC AUC, log loss (scores clipped to [1e-15, 1 - 1e-15]) and ten calibration bins. */
export async function scoreMetrics(sql: Sql, w: Window): Promise<{ auc: number | null; log_loss: number; bins: CalibrationBin[] }> {
  const params = windowParams(w);
  const [[summary], bins] = await Promise.all([
    sql.query<{ auc: number | null; log_loss: number; classes: number }>(
      `SELECT uniqExact(label_num) AS classes,
              if(classes = 2, arrayAUC(groupArray(assumeNotNull(prediction_num)), groupArray(toUInt8(assumeNotNull(label_num)))), NULL) AS auc,
              avg(-(label_num * log(greatest(least(prediction_num, 1 - 1e-15), 1e-15))
                    + (1 - label_num) * log(greatest(least(1 - prediction_num, 1 - 1e-15), 1e-15)))) AS log_loss
       FROM (${labelledEvents(w)})`,
      params,
    ),
    sql.query<CalibrationBin & { bin: number }>(
      `SELECT least(toUInt8(floor(prediction_num * 10)), 9) AS bin, count() AS n,
              avg(prediction_num) AS mean_score, avg(label_num) AS mean_label
       FROM (${labelledEvents(w)}) GROUP BY bin ORDER BY bin`,
      params,
    ),
  ]);
  return {
    auc: summary?.auc ?? null,
    log_loss: Number(summary?.log_loss ?? 0),
    bins: bins.map((b) => ({ n: Number(b.n), mean_score: b.mean_score, mean_label: b.mean_label })),
  };
}

export async function regressionSums(sql: Sql, w: Window): Promise<RegressionSums> {
  const [row] = await sql.query<RegressionSums>(
    `SELECT count() AS n, avg(abs(prediction_num - label_num)) AS mae,
            sqrt(avg(pow(prediction_num - label_num, 2))) AS rmse,
            if(countIf(label_num != 0) > 0, avgIf(abs((prediction_num - label_num) / label_num), label_num != 0), NULL) AS mape,
            varPop(label_num) AS label_variance
     FROM (${labelledEvents(w)})`,
    windowParams(w),
  );
  return { ...row, n: Number(row?.n ?? 0) };
}
