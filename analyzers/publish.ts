import type { Metrics } from '../core/metrics.ts';
import type { DriftReport } from './drift.ts';

/** Every metric name a report may carry; series of features that leave the top are removed for each. */
const PUBLISHED_METRICS = [
  'psi', 'ks_statistic', 'ks_p_value', 'chi2_statistic', 'chi2_p_value', 'chi2_dof', 'jensen_shannon', 'hellinger',
  'l_infinity', 'share_below_reference', 'share_above_reference', 'new_category_share', 'missing_share',
  'type_violation_share', 'wasserstein', 'wasserstein_normalized',
];

/**
 * Moves a window's report into the gauges. Only the `cap` most drifted
 * features of a model get series of their own, so a model with thousands of
 * features cannot blow up Prometheus; the rest are counted in
 * driftwatch_features_over_metrics_cap. Series of features that dropped out
 * are removed rather than left stale.
 */
export function publishReport(metrics: Metrics, report: DriftReport, cap: number, previous: Set<string>): Set<string> {
  const { model } = report;
  // The prediction always gets its series; features share the cap.
  const kept = [...(report.prediction ? [report.prediction] : []), ...report.features.slice(0, cap)];
  const now = new Set<string>();
  for (const f of kept) {
    now.add(f.feature);
    for (const [method, value] of Object.entries(f.metrics)) {
      if (Number.isFinite(value)) metrics.driftScore.set({ model, feature: f.feature, method }, value);
    }
    metrics.featureDrifted.set({ model, feature: f.feature }, f.drifted ? 1 : 0);
  }
  for (const feature of previous) {
    if (now.has(feature)) continue;
    metrics.featureDrifted.remove({ model, feature });
    for (const method of PUBLISHED_METRICS) {
      metrics.driftScore.remove({ model, feature, method });
    }
  }
  metrics.featuresOverCap.set({ model }, Math.max(0, report.features.length - cap));
  metrics.driftedFeatures.set({ model }, report.drifted_features.length);
  metrics.windowEvents.set({ model }, report.n_events);
  metrics.lastWindowEnd.set({ model }, report.to / 1000);
  return now;
}
