import type { Sql } from './sql.ts';
import { WINDOW_SQL, windowParams, type Window } from './window.ts';

/**
 * The engine side of estimated performance (analyzers/estimated/): the
 * labelled reference the calibrators are fitted on, and per window the
 * sums of calibrated probabilities the estimates are made of. Classes and
 * calibration tables are bound parameters; only their count shapes the SQL.
 */

/** What the window queries need to know of a frozen estimator. */
export interface EstimationPlan {
  task: 'binary' | 'classification';
  /** Binary: ['1'], the positive class; multi-class: the classes with a logged score, sorted. */
  classes: string[];
  /** Per class, its calibrator sampled at i / resolution (analyzers/estimated/calibration.ts calibrationGrid). */
  grids: number[][];
  resolution: number;
}

/** A binary score is the prediction; a class's score its entry in `scores`. Both clipped to [0, 1]. */
const scoreOf = (task: EstimationPlan['task'], k: number) =>
  task === 'binary' ? 'least(greatest(assumeNotNull(prediction_num), 0), 1)' : `least(greatest(scores[{c${k}:String}], 0), 1)`;

/** Binary predictions are scores cut at 0.5 (as store/performance.ts confusion); multi-class ones the logged class. */
const predictedOf = (task: EstimationPlan['task']) => (task === 'binary' ? "if(prediction_num >= 0.5, '1', '0')" : 'assumeNotNull(prediction_cat)');

const hasScores = (task: EstimationPlan['task']) =>
  task === 'binary' ? 'prediction_num IS NOT NULL' : 'prediction_cat IS NOT NULL AND hasAll(mapKeys(scores), {classes:Array(String)})';

const classParams = (classes: readonly string[]) => Object.fromEntries(classes.map((c, k) => [`c${k}`, c]));

/** The classes the labelled events of a range logged scores for (at most `max` + 1, so too many can be told). */
export async function scoredClasses(sql: Sql, w: Window, max: number): Promise<string[]> {
  const [row] = await sql.query<{ classes: string[] }>(
    `SELECT arraySort(groupUniqArrayArray({max:UInt32})(mapKeys(scores))) AS classes
     FROM events FINAL
     WHERE ${WINDOW_SQL} AND prediction_cat IS NOT NULL
       AND event_id IN (SELECT event_id FROM labels FINAL WHERE model = {model:String})`,
    { ...windowParams(w), max: max + 1 },
  );
  return row?.classes ?? [];
}

export interface ReferenceRow {
  /** Uncalibrated score per class, in the order of `classes`. */
  s: number[];
  predicted: string;
  label: string;
}

/** Up to `limit` labelled events of a range with every class's score, a fixed pseudo-random pick (by event id) when there are more. */
export async function labelledScores(sql: Sql, w: Window, task: EstimationPlan['task'], classes: readonly string[], limit: number): Promise<ReferenceRow[]> {
  const scores = task === 'binary' ? `[${scoreOf(task, 0)}]` : `[${classes.map((_, k) => scoreOf(task, k)).join(', ')}]`;
  const label = task === 'binary' ? 'toString(toUInt8(label_num))' : 'ifNull(label_cat, toString(label_num))';
  return sql.query<ReferenceRow>(
    `SELECT e.s AS s, e.predicted AS predicted, l.label AS label
     FROM (SELECT event_id, ${scores} AS s, ${predictedOf(task)} AS predicted FROM events FINAL WHERE ${WINDOW_SQL} AND ${hasScores(task)}) AS e
     INNER JOIN (
       SELECT event_id, ${label} AS label FROM labels FINAL
       WHERE model = {model:String} AND event_id IN (SELECT event_id FROM events FINAL WHERE ${WINDOW_SQL})
         ${task === 'binary' ? 'AND label_num IN (0, 1)' : ''}
     ) AS l USING (event_id)
     ORDER BY cityHash64(event_id) LIMIT {limit:UInt64}`,
    { ...windowParams(w), ...classParams(classes), classes, limit },
  );
}

/** Scores are grouped at this resolution: a bounded answer at any window size, and the ranking estimated ROC AUC walks. */
export const SCORE_STEPS = 10_000;

export interface BinaryGroup {
  /** The score rounded to 1 / SCORE_STEPS. */
  b: number;
  /** Predicted positive (score >= 0.5). */
  positive: boolean;
  n: number;
  /** Sum of the group's uncalibrated scores. */
  sum_s: number;
}

/**
 * A binary window as score groups: calibration is applied to each group's
 * mean score in JavaScript, so the engine only counts (a calibrator is
 * linear between its knots, so the mean's calibrated value is the mean of
 * the calibrated values except in a group that straddles a knot).
 */
export async function binaryGroups(sql: Sql, w: Window): Promise<BinaryGroup[]> {
  const rows = await sql.query<{ b: number; positive: number; n: number; sum_s: number }>(
    `SELECT toUInt32(round(s * ${SCORE_STEPS})) AS b, prediction_num >= 0.5 AS positive, count() AS n, sum(s) AS sum_s
     FROM (SELECT ${scoreOf('binary', 0)} AS s, prediction_num FROM events FINAL WHERE ${WINDOW_SQL} AND ${hasScores('binary')})
     GROUP BY b, positive`,
    windowParams(w),
  );
  return rows.map((r) => ({ b: Number(r.b), positive: Number(r.positive) === 1, n: Number(r.n), sum_s: r.sum_s }));
}

/**
 * The multi-class window's events with each class's calibrated probability
 * p<k>: the calibration table looked up and interpolated between its two
 * nearest entries, then normalised to sum to one per event (uniform when
 * all calibrate to zero), as NannyML does. Per event, since the
 * normalisation mixes the classes.
 */
function calibrated(plan: EstimationPlan): string {
  const K = plan.classes.length;
  const cols: string[] = [`${predictedOf(plan.task)} AS pred`];
  for (let k = 0; k < K; k++) {
    cols.push(
      `${scoreOf(plan.task, k)} AS s${k}`,
      `least(toUInt32(floor(s${k} * {resolution:UInt32})), {resolution:UInt32} - 1) AS i${k}`,
      `arrayElement(g${k}, i${k} + 1) AS lo${k}`,
      `lo${k} + (s${k} * {resolution:UInt32} - i${k}) * (arrayElement(g${k}, i${k} + 2) - lo${k}) AS r${k}`,
    );
  }
  cols.push(`${plan.classes.map((_, k) => `r${k}`).join(' + ')} AS total`);
  for (let k = 0; k < K; k++) cols.push(`if(total > 0, r${k} / total, 1 / ${K}) AS p${k}`);
  // Each table is bound once, in WITH: a parameter written twice is parsed twice.
  const tables = plan.classes.map((_, k) => `{g${k}:Array(Float64)} AS g${k}`).join(', ');
  return `WITH ${tables} SELECT ${cols.join(',\n ')} FROM events FINAL WHERE ${WINDOW_SQL} AND ${hasScores(plan.task)}`;
}

export interface EstimateSums {
  n: number;
  /** Sum over events of the probability that the predicted class is right. */
  correct: number;
  /** Per class: expected true positives, false positives, false negatives. */
  tp: number[];
  fp: number[];
  fn: number[];
}

export interface ScoreGroup {
  /** The class index. */
  k: number;
  /** The uncalibrated score, rounded to 1 / SCORE_STEPS. */
  b: number;
  n: number;
  /** Sum of the calibrated probabilities of the class in the group. */
  p: number;
}

/**
 * A multi-class window in one scan: the expected confusion sums, and per
 * class the events and calibrated probabilities by rounded score (dense
 * -Resample arrays: 2-3x faster here than arrayJoin and GROUP BY).
 */
export async function multiclassEstimate(sql: Sql, w: Window, plan: EstimationPlan): Promise<{ sums: EstimateSums; groups: ScoreGroup[] }> {
  const K = plan.classes.length;
  const isClass = (k: number) => `pred = {c${k}:String}`;
  const per = (f: (k: number) => string) => `[${plan.classes.map((_, k) => f(k)).join(', ')}]`;
  const bin = (k: number) => `toUInt32(round(s${k} * ${SCORE_STEPS}))`;
  const [row] = await sql.query<EstimateSums & { gn: number[][]; gp: number[][] }>(
    `SELECT count() AS n, sum(multiIf(${plan.classes.map((_, k) => `${isClass(k)}, p${k}`).join(', ')}, 0)) AS correct,
            ${per((k) => `sumIf(p${k}, ${isClass(k)})`)} AS tp,
            ${per((k) => `sumIf(1 - p${k}, ${isClass(k)})`)} AS fp,
            ${per((k) => `sumIf(p${k}, NOT (${isClass(k)}))`)} AS fn,
            ${per((k) => `countResample(0, ${SCORE_STEPS + 1}, 1)(${bin(k)})`)} AS gn,
            ${per((k) => `sumResample(0, ${SCORE_STEPS + 1}, 1)(p${k}, ${bin(k)})`)} AS gp
     FROM (${calibrated(plan)})`,
    {
      ...windowParams(w),
      ...classParams(plan.classes),
      ...Object.fromEntries(plan.grids.map((g, k) => [`g${k}`, g])),
      classes: plan.classes,
      resolution: plan.resolution,
    },
  );
  const zeros = () => new Array<number>(K).fill(0);
  if (!row || Number(row.n) === 0) return { sums: { n: 0, correct: 0, tp: zeros(), fp: zeros(), fn: zeros() }, groups: [] };
  const groups: ScoreGroup[] = [];
  for (let k = 0; k < K; k++) {
    row.gn[k].forEach((n, b) => {
      if (Number(n) > 0) groups.push({ k, b, n: Number(n), p: row.gp[k][b] });
    });
  }
  return { sums: { n: Number(row.n), correct: row.correct, tp: row.tp, fp: row.fp, fn: row.fn }, groups };
}
