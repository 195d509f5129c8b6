import type { Metrics } from '../core/metrics.ts';
import type { DriftReport, FeatureDrift } from './drift.ts';
import { publishEstimated } from './estimated/publish.ts';

/** The series published for a model: feature -> the methods it has a drift score for. */
export type Published = Map<string, Set<string>>;

/** The series standing for every feature beyond the cap: each statistic's worst value among them. */
export const OVERFLOW_FEATURE = '__overflow__';

/** Higher is worse for every statistic but the p-values. */
const worst = (method: string, a: number, b: number) => (method.endsWith('p_value') ? Math.min(a, b) : Math.max(a, b));

function overflow(features: readonly FeatureDrift[]): FeatureDrift | null {
  if (features.length === 0) return null;
  const metrics: Record<string, number> = {};
  for (const f of features) {
    for (const [method, value] of Object.entries(f.metrics)) {
      if (!Number.isFinite(value)) continue;
      metrics[method] = method in metrics ? worst(method, metrics[method], value) : value;
    }
  }
  return { ...features[0], feature: OVERFLOW_FEATURE, metrics, drifted: features.some((f) => f.drifted) };
}

/**
 * Moves a window's report into the gauges. Only the `cap` most drifted
 * features of a model get series of their own, so a model with thousands of
 * features cannot blow up Prometheus; the rest are aggregated into one
 * series, feature="__overflow__" (each statistic's worst value), and counted
 * in driftwatch_features_over_metrics_cap. Series published last time and
 * not now (a feature that dropped out of the top, a metric a feature no
 * longer has) are removed rather than left stale.
 */
export function publishReport(metrics: Metrics, report: DriftReport, cap: number, previous: Published): Published {
  const { model } = report;
  const rest = overflow(report.features.slice(cap));
  // The prediction always gets its series; features share the cap.
  const kept = [...(report.prediction ? [report.prediction] : []), ...report.features.slice(0, cap), ...(rest ? [rest] : [])];
  const quality = new Map((report.data_quality?.features ?? []).map((q) => [q.feature, q]));
  const keptNames = new Set(kept.map((f) => f.feature));
  const overflowQuality = [...quality.values()].filter((q) => !keptNames.has(q.feature));
  const now: Published = new Map();
  for (const f of kept) {
    const methods = new Set<string>();
    for (const [method, value] of Object.entries(f.metrics)) {
      if (!Number.isFinite(value)) continue;
      metrics.driftScore.set({ model, feature: f.feature, method }, value);
      methods.add(method);
    }
    metrics.featureDrifted.set({ model, feature: f.feature }, f.drifted ? 1 : 0);
    const q =
      f.feature === OVERFLOW_FEATURE && overflowQuality.length > 0
        ? {
            missing_share: Math.max(...overflowQuality.map((x) => x.missing_share)),
            type_violation_share: Math.max(...overflowQuality.map((x) => x.type_violation_share)),
          }
        : quality.get(f.feature);
    if (q) {
      metrics.featureMissing.set({ model, feature: f.feature }, q.missing_share);
      metrics.featureTypeViolation.set({ model, feature: f.feature }, q.type_violation_share);
    } else {
      metrics.featureMissing.remove({ model, feature: f.feature });
      metrics.featureTypeViolation.remove({ model, feature: f.feature });
    }
    now.set(f.feature, methods);
  }
  for (const [feature, methods] of previous) {
    const still = now.get(feature);
    if (!still) {
      metrics.featureDrifted.remove({ model, feature });
      metrics.featureMissing.remove({ model, feature });
      metrics.featureTypeViolation.remove({ model, feature });
    }
    for (const method of methods) if (!still?.has(method)) metrics.driftScore.remove({ model, feature, method });
  }
  metrics.featuresOverCap.set({ model }, Math.max(0, report.features.length - cap));
  metrics.driftedFeatures.set({ model }, report.drifted_features.length);
  if (report.features.some((f) => f.status === 'ok') && Number.isFinite(report.drifted_share)) metrics.driftedShare.set({ model }, report.drifted_share);
  else metrics.driftedShare.remove({ model });
  metrics.windowEvents.set({ model }, report.n_events);
  if (report.errors?.rate != null) metrics.predictionErrorRatio.set({ model }, report.errors.rate);
  else metrics.predictionErrorRatio.remove({ model });
  metrics.lastWindowEnd.set({ model }, report.to / 1000);
  publishEstimated(metrics, model, report.estimated_performance);
  return now;
}
