import type { Metrics } from '../core/metrics.ts';
import type { DriftReport } from './drift.ts';

/** The series published for a model: feature -> the methods it has a drift score for. */
export type Published = Map<string, Set<string>>;

/**
 * Moves a window's report into the gauges. Only the `cap` most drifted
 * features of a model get series of their own, so a model with thousands of
 * features cannot blow up Prometheus; the rest are counted in
 * driftwatch_features_over_metrics_cap. Series published last time and not
 * now (a feature that dropped out of the top, a metric a feature no longer
 * has) are removed rather than left stale.
 */
export function publishReport(metrics: Metrics, report: DriftReport, cap: number, previous: Published): Published {
  const { model } = report;
  // The prediction always gets its series; features share the cap.
  const kept = [...(report.prediction ? [report.prediction] : []), ...report.features.slice(0, cap)];
  const now: Published = new Map();
  for (const f of kept) {
    const methods = new Set<string>();
    for (const [method, value] of Object.entries(f.metrics)) {
      if (!Number.isFinite(value)) continue;
      metrics.driftScore.set({ model, feature: f.feature, method }, value);
      methods.add(method);
    }
    metrics.featureDrifted.set({ model, feature: f.feature }, f.drifted ? 1 : 0);
    now.set(f.feature, methods);
  }
  for (const [feature, methods] of previous) {
    const still = now.get(feature);
    if (!still) metrics.featureDrifted.remove({ model, feature });
    for (const method of methods) if (!still?.has(method)) metrics.driftScore.remove({ model, feature, method });
  }
  metrics.featuresOverCap.set({ model }, Math.max(0, report.features.length - cap));
  metrics.driftedFeatures.set({ model }, report.drifted_features.length);
  metrics.windowEvents.set({ model }, report.n_events);
  metrics.lastWindowEnd.set({ model }, report.to / 1000);
  return now;
}
