import type { Window } from '../store/aggregates.ts';
import { confusion, labelSummary, regressionSums, scoreMetrics, type LabelSummary } from '../store/performance.ts';
import type { Sql } from '../store/sql.ts';
import { classificationMetrics, expectedCalibrationError, regressionMetrics, type PerformanceReport } from './performance.ts';

/**
 * Performance of one window with the labels that have arrived so far. Labels
 * come late, so the same window gives more complete answers over time: the
 * scheduler recomputes recent windows (PERFORMANCE_RECOMPUTE_WINDOWS).
 */
export async function computePerformance(sql: Sql, window: Window, known?: LabelSummary): Promise<PerformanceReport> {
  // `known`: the window's summary read already (the scheduler reads its earlier windows' together).
  const summary = known ?? (await labelSummary(sql, window));
  const metrics: Record<string, number> = {};
  if (summary.task === 'binary') {
    Object.assign(metrics, classificationMetrics(await confusion(sql, window, 'binary'), '1'));
    const scores = await scoreMetrics(sql, window);
    if (scores.auc !== null && Number.isFinite(scores.auc)) metrics.roc_auc = scores.auc;
    metrics.log_loss = scores.log_loss;
    metrics.expected_calibration_error = expectedCalibrationError(scores.bins);
  } else if (summary.task === 'classification') {
    Object.assign(metrics, classificationMetrics(await confusion(sql, window, 'classification')));
  } else if (summary.task === 'regression') {
    Object.assign(metrics, regressionMetrics(await regressionSums(sql, window)));
  }
  return {
    task: summary.task,
    n_events: summary.n_events,
    n_labelled: summary.n_labelled,
    label_coverage: summary.n_events > 0 ? summary.n_labelled / summary.n_events : 0,
    label_delay_p50_s: summary.delay_p50_ms === null ? null : summary.delay_p50_ms / 1000,
    label_delay_p90_s: summary.delay_p90_ms === null ? null : summary.delay_p90_ms / 1000,
    metrics,
  };
}

/** Current metrics next to the baseline's, with the change of each. */
export function comparePerformance(current: PerformanceReport, baseline: PerformanceReport | null | undefined) {
  const change: Record<string, number> = {};
  if (baseline) {
    for (const [name, value] of Object.entries(current.metrics)) {
      const before = baseline.metrics[name];
      if (before !== undefined) change[name] = value - before;
    }
  }
  return { ...current, baseline_metrics: baseline?.metrics ?? null, change };
}
