import { labelledScores, realizedMulticlassAuc, scoredClasses, windowEstimate, type EstimateSums, type EstimationPlan, type ScoreGroup } from '../../store/estimated-performance.ts';
import type { Sql } from '../../store/sql.ts';
import type { Window } from '../../store/window.ts';
import type { PerformanceReport } from '../performance.ts';
import { BAND_SIGMAS, binaryComponents, ESTIMATED_METRICS, multiclassComponents, samplingError, type ClassificationMetric, type ErrorComponents, type OneVsRest } from './band.ts';
import { calibrationLookup, fitIsotonic, type IsotonicCalibrator } from './calibration.ts';

/**
 * Confidence-based performance estimation (CBPE, as NannyML): with scores
 * calibrated on the baseline's labels, the probability that each
 * prediction is right is known without its label, and so are the expected
 * confusion counts of a window, hence accuracy, precision, recall, F1 and
 * ROC AUC. Frozen once per baseline (calibrators and band components); a
 * window costs one scan of its events.
 */
export interface FrozenEstimator {
  method: 'cbpe';
  task: 'binary' | 'classification';
  classes: string[];
  /** Per class (binary: the positive one), fitted on `n_reference` labelled reference events. */
  calibrators: IsotonicCalibrator[];
  components: ErrorComponents;
  n_reference: number;
}

/** Fewer labelled reference events than this give no estimator: the calibrator would be mostly noise. */
export const MIN_REFERENCE_LABELS = 100;
/** The calibrators are fitted on at most this many labelled reference events (a fixed pick by event id beyond). */
export const MAX_REFERENCE_LABELS = 200_000;
/** Multi-class models with more classes than this get no estimate (one pass per class per window). */
export const MAX_CLASSES = 20;

/** Fits the calibrators and band components on the labelled part of a reference range; null when it cannot. */
export async function freezeEstimator(sql: Sql, range: Window, task: PerformanceReport['task']): Promise<FrozenEstimator | null> {
  if (task !== 'binary' && task !== 'classification') return null;
  const classes = task === 'binary' ? ['1'] : await scoredClasses(sql, range, MAX_CLASSES);
  if (classes.length < (task === 'binary' ? 1 : 2) || classes.length > MAX_CLASSES) return null;
  const rows = await labelledScores(sql, range, task, classes, MAX_REFERENCE_LABELS);
  if (rows.length < MIN_REFERENCE_LABELS) return null;
  const perClass: OneVsRest[] = classes.map((cls, k) => ({
    yTrue: rows.map((r) => Number(r.label === cls)),
    yPred: rows.map((r) => Number(r.predicted === cls)),
    score: rows.map((r) => r.s[k]),
  }));
  const calibrators = perClass.map((c) => fitIsotonic(c.score as number[], c.yTrue as number[]));
  const components = task === 'binary' ? binaryComponents(perClass[0]) : multiclassComponents(perClass, rows.map((r) => Number(r.label === r.predicted)));
  return { method: 'cbpe', task, classes, calibrators, components, n_reference: rows.length };
}

export interface EstimatedMetric {
  /** The estimate from calibrated scores alone. */
  value: number;
  /** Standard error of the metric at this window's size. */
  sampling_error: number | null;
  /** value -/+ BAND_SIGMAS x sampling_error, within [0, 1]. */
  lower: number | null;
  upper: number | null;
  /** The metric computed from the labels that have arrived (analyzers/performance-window.ts), null without them. */
  realized: number | null;
  /** The baseline's realized value: what a drop is measured from. */
  reference: number | null;
}

export interface EstimatedPerformance {
  method: 'cbpe';
  task: 'binary' | 'classification';
  /** Events the estimate covers: those with a score (binary) or a score for every class and a predicted class (multi-class). */
  n_events: number;
  /** Labelled events behind the realized values. */
  n_labelled: number;
  band_sigmas: number;
  metrics: Partial<Record<ClassificationMetric, EstimatedMetric>>;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/** Point estimates from expected confusion counts: positive class (binary) or macro average over classes (multi-class). */
export function estimatesFromSums(s: EstimateSums): Record<Exclude<ClassificationMetric, 'roc_auc'>, number> {
  const K = s.tp.length;
  let precision = 0;
  let recall = 0;
  let f1 = 0;
  for (let k = 0; k < K; k++) {
    precision += ratio(s.tp[k], s.tp[k] + s.fp[k]);
    recall += ratio(s.tp[k], s.tp[k] + s.fn[k]);
    f1 += ratio(s.tp[k], s.tp[k] + 0.5 * (s.fp[k] + s.fn[k]));
  }
  return { accuracy: ratio(s.correct, s.n), precision: precision / K, recall: recall / K, f1: f1 / K };
}

/**
 * Estimated ROC AUC per class, averaged: events ranked by uncalibrated
 * score, highest first, each counted as p positive and 1 - p negative; the
 * area under the expected ROC curve. Tied scores form one step, as ties do
 * in the realized curve.
 */
export function estimatedAuc(groups: readonly ScoreGroup[], classes: number): number | null {
  let sum = 0;
  for (let k = 0; k < classes; k++) {
    const g = groups.filter((x) => x.k === k).sort((a, b) => b.b - a.b);
    const P = g.reduce((a, x) => a + x.p, 0);
    const N = g.reduce((a, x) => a + x.n - x.p, 0);
    if (!(P > 0) || !(N > 0)) return null;
    let tp = 0;
    let fp = 0;
    let area = 0;
    for (const x of g) {
      const tp2 = tp + x.p;
      const fp2 = fp + (x.n - x.p);
      area += ((fp2 - fp) / N) * ((tp + tp2) / 2 / P);
      tp = tp2;
      fp = fp2;
    }
    sum += area;
  }
  return sum / classes;
}

/** The plan the window query runs with: the calibrators as lookup arrays. */
export const planOf = (e: FrozenEstimator): EstimationPlan => ({ task: e.task, classes: e.classes, lookups: e.calibrators.map((c) => calibrationLookup(c)) });

/** Estimates for one window, with `realized` (the window's performance from labels) beside each where it has the metric. */
export async function estimatePerformance(
  sql: Sql,
  e: FrozenEstimator,
  window: Window,
  realized: PerformanceReport | null,
  reference: PerformanceReport | null = null,
): Promise<EstimatedPerformance | null> {
  const { sums, groups } = await windowEstimate(sql, window, planOf(e));
  if (sums.n === 0) return null;
  const values: Partial<Record<ClassificationMetric, number>> = estimatesFromSums(sums);
  const auc = estimatedAuc(groups, e.classes.length);
  if (auc !== null) values.roc_auc = auc;
  const sameTask = realized?.task === e.task && realized.n_labelled > 0;
  // Realized multi-class ROC AUC is not among the labels' metrics (analyzers/performance.ts): computed here, beside its estimate.
  const realizedAuc = sameTask && e.task === 'classification' ? await realizedMulticlassAuc(sql, window, e.classes) : null;
  const metrics: EstimatedPerformance['metrics'] = {};
  for (const name of ESTIMATED_METRICS) {
    const value = values[name];
    if (value === undefined || !Number.isFinite(value)) continue;
    const se = samplingError(e.components[name], sums.n);
    const known = !sameTask ? undefined : name === 'roc_auc' && e.task === 'classification' ? (realizedAuc ?? undefined) : realized.metrics[name];
    const before = reference?.task === e.task ? reference.metrics[name] : undefined;
    metrics[name] = {
      value,
      sampling_error: se,
      lower: se === null ? null : Math.max(0, value - BAND_SIGMAS * se),
      upper: se === null ? null : Math.min(1, value + BAND_SIGMAS * se),
      realized: known !== undefined && Number.isFinite(known) ? known : null,
      reference: before !== undefined && Number.isFinite(before) ? before : null,
    };
  }
  return { method: 'cbpe', task: e.task, n_events: sums.n, n_labelled: sameTask ? realized.n_labelled : 0, band_sigmas: BAND_SIGMAS, metrics };
}

/**
 * How far the top of a metric's band lies below the baseline's value (0
 * when the band reaches it): a drop beyond noise at the window's size.
 */
export function dropOf(m: EstimatedMetric): number | null {
  if (m.reference === null || m.upper === null) return null;
  return Math.max(0, m.reference - m.upper);
}
