import type { CalibrationLookup } from '../analyzers/estimated/calibration.ts';
import type { Sql } from './sql.ts';
import { eventsOf, WINDOW_SQL, windowParams, type Window } from './window.ts';

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
  /** Per class, its calibrator as lookup arrays (analyzers/estimated/calibration.ts calibrationLookup). */
  lookups: CalibrationLookup[];
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
     FROM ${eventsOf(w)}
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
     FROM (SELECT event_id, ${scores} AS s, ${predictedOf(task)} AS predicted FROM ${eventsOf(w)} WHERE ${WINDOW_SQL} AND ${hasScores(task)}) AS e
     INNER JOIN (
       SELECT event_id, ${label} AS label FROM labels FINAL
       WHERE model = {model:String} AND event_id IN (SELECT event_id FROM ${eventsOf(w)} WHERE ${WINDOW_SQL})
         ${task === 'binary' ? 'AND label_num IN (0, 1)' : ''}
     ) AS l USING (event_id)
     ORDER BY cityHash64(event_id) LIMIT {limit:UInt64}`,
    { ...windowParams(w), ...classParams(classes), classes, limit },
  );
}

/** Scores are grouped at this resolution for ROC AUC: a bounded answer at any window size. */
export const SCORE_STEPS = 10_000;

/**
 * The window's events with each class's calibrated probability p<k>,
 * exactly: the segment of the calibrator the score falls in is found from
 * its cell's first knot and the few knots inside the cell, then
 * interpolated. Multi-class probabilities are normalised to sum to one per
 * event (uniform when all calibrate to zero), as NannyML does.
 */
function calibrated(w: Window, plan: EstimationPlan): string {
  const K = plan.classes.length;
  const cols: string[] = [`${predictedOf(plan.task)} AS pred`];
  const at = (arr: string, i: string) => `arrayElement(${arr}, ${i})`;
  plan.lookups.forEach((l, k) => {
    const counted = Array.from({ length: l.pad }, (_, t) => ` + (s${k} >= ${at(`x${k}`, `j0_${k} + ${t + 1}`)})`).join('');
    cols.push(
      `${scoreOf(plan.task, k)} AS s${k}`,
      `${at(`l${k}`, `least(toUInt32(floor(s${k} * {cells${k}:UInt32})), {cells${k}:UInt32} - 1) + 1`)} AS j0_${k}`,
      `j0_${k}${counted} AS j${k}`,
      `${at(`y${k}`, `j${k}`)} + (s${k} - ${at(`x${k}`, `j${k}`)}) * (${at(`y${k}`, `j${k} + 1`)} - ${at(`y${k}`, `j${k}`)}) / (${at(`x${k}`, `j${k} + 1`)} - ${at(`x${k}`, `j${k}`)}) AS r${k}`,
    );
  });
  if (plan.task === 'binary') cols.push('r0 AS p0');
  else {
    cols.push(`${plan.classes.map((_, k) => `r${k}`).join(' + ')} AS total`);
    for (let k = 0; k < K; k++) cols.push(`if(total > 0, r${k} / total, 1 / ${K}) AS p${k}`);
  }
  // Each array is bound once, in WITH: a parameter written twice is parsed twice.
  const arrays = plan.lookups.flatMap((_, k) => [`{x${k}:Array(Float64)} AS x${k}`, `{y${k}:Array(Float64)} AS y${k}`, `{l${k}:Array(UInt32)} AS l${k}`]);
  return `WITH ${arrays.join(', ')} SELECT ${cols.join(',\n ')} FROM ${eventsOf(w)} WHERE ${WINDOW_SQL} AND ${hasScores(plan.task)}`;
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
 * A window in one scan: the expected confusion sums, and per class the
 * events and calibrated probabilities by rounded score (dense -Resample
 * arrays: 2-3x faster here than arrayJoin and GROUP BY).
 */
export async function windowEstimate(sql: Sql, w: Window, plan: EstimationPlan): Promise<{ sums: EstimateSums; groups: ScoreGroup[] }> {
  const K = plan.classes.length;
  const isClass = (k: number) => (plan.task === 'binary' ? "pred = '1'" : `pred = {c${k}:String}`);
  const correct = plan.task === 'binary' ? "if(pred = '1', p0, 1 - p0)" : `multiIf(${plan.classes.map((_, k) => `${isClass(k)}, p${k}`).join(', ')}, 0)`;
  const per = (f: (k: number) => string) => `[${plan.classes.map((_, k) => f(k)).join(', ')}]`;
  const bin = (k: number) => `toUInt32(round(s${k} * ${SCORE_STEPS}))`;
  const [row] = await sql.query<EstimateSums & { gn: number[][]; gp: number[][] }>(
    `SELECT count() AS n, sum(${correct}) AS correct,
            ${per((k) => `sumIf(p${k}, ${isClass(k)})`)} AS tp,
            ${per((k) => `sumIf(1 - p${k}, ${isClass(k)})`)} AS fp,
            ${per((k) => `sumIf(p${k}, NOT (${isClass(k)}))`)} AS fn,
            ${per((k) => `countResample(0, ${SCORE_STEPS + 1}, 1)(${bin(k)})`)} AS gn,
            ${per((k) => `sumResample(0, ${SCORE_STEPS + 1}, 1)(p${k}, ${bin(k)})`)} AS gp
     FROM (${calibrated(w, plan)})`,
    {
      ...windowParams(w),
      ...classParams(plan.classes),
      ...Object.fromEntries(plan.lookups.flatMap((l, k) => [[`x${k}`, l.x], [`y${k}`, l.y], [`l${k}`, l.start], [`cells${k}`, l.cells]])),
      classes: plan.classes,
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

/**
 * Realized multi-class ROC AUC of the window's labelled events: each class
 * against the rest on its logged score, averaged (scikit-learn's
 * roc_auc_score multi_class="ovr", average="macro"); null when a class has
 * no labelled events of either side.
 */
export async function realizedMulticlassAuc(sql: Sql, w: Window, classes: readonly string[]): Promise<number | null> {
  const scores = classes.map((_, k) => `scores[{c${k}:String}] AS s${k}`).join(', ');
  const aucs = classes.map((_, k) => `arrayAUC(groupArray(s${k}), groupArray(toUInt8(label = {c${k}:String})))`).join(', ');
  const [row] = await sql.query<{ auc: (number | null)[] }>(
    `SELECT [${aucs}] AS auc
     FROM (SELECT event_id, ${scores} FROM ${eventsOf(w)} WHERE ${WINDOW_SQL} AND ${hasScores('classification')}) AS e
     INNER JOIN (
       SELECT event_id, ifNull(label_cat, toString(label_num)) AS label FROM labels FINAL
       WHERE model = {model:String} AND event_id IN (SELECT event_id FROM ${eventsOf(w)} WHERE ${WINDOW_SQL})
     ) AS l USING (event_id)`,
    { ...windowParams(w), ...classParams(classes), classes },
  );
  const auc = row?.auc ?? [];
  if (auc.length !== classes.length || auc.some((a) => a === null || !Number.isFinite(a))) return null;
  return (auc as number[]).reduce((a, b) => a + b, 0) / auc.length;
}
