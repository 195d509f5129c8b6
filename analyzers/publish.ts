import type { Metrics } from '../core/metrics.ts';
import type { DriftReport, FeatureDrift } from './drift.ts';
import { publishMultivariate } from './multivariate/publish.ts';
import type { FeatureQuality } from './quality.ts';
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
  const impacts = features.map((f) => f.impact).filter((v): v is number => typeof v === 'number');
  return {
    ...features[0],
    feature: OVERFLOW_FEATURE,
    metrics,
    drifted: features.some((f) => f.drifted),
    // The share the features beyond the cap hold together.
    impact: impacts.length > 0 ? impacts.reduce((a, v) => a + v, 0) : null,
  };
}

const CHECKS = ['missing', 'type_violation', 'out_of_range'] as const;

/** A kept feature's out-of-range share and quality verdicts (for the overflow series: the worst of the rest). */
function publishQuality(metrics: Metrics, model: string, feature: string, qualities: readonly FeatureQuality[]): void {
  const outside = qualities.map((q) => q.out_of_range_share).filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (outside.length > 0) metrics.featureOutOfRange.set({ model, feature }, Math.max(...outside));
  else metrics.featureOutOfRange.remove({ model, feature });
  for (const check of CHECKS) {
    const verdicts = qualities.flatMap((q) => (q.checks?.[check] ? [q.checks[check]] : []));
    if (verdicts.length > 0) metrics.featureQualityDrifted.set({ model, feature, check }, Number(verdicts.some((v) => v.drifted)));
    else metrics.featureQualityDrifted.remove({ model, feature, check });
  }
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
    if (typeof f.impact === 'number') metrics.featureDriftImpact.set({ model, feature: f.feature }, f.impact);
    else metrics.featureDriftImpact.remove({ model, feature: f.feature });
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
    const own = quality.get(f.feature);
    publishQuality(metrics, model, f.feature, f.feature === OVERFLOW_FEATURE ? overflowQuality : own ? [own] : []);
    now.set(f.feature, methods);
  }
  for (const [feature, methods] of previous) {
    const still = now.get(feature);
    if (!still) {
      metrics.featureDrifted.remove({ model, feature });
      metrics.featureDriftImpact.remove({ model, feature });
      metrics.featureMissing.remove({ model, feature });
      metrics.featureTypeViolation.remove({ model, feature });
      publishQuality(metrics, model, feature, []);
    }
    for (const method of methods) if (!still?.has(method)) metrics.driftScore.remove({ model, feature, method });
  }
  metrics.featuresOverCap.set({ model }, Math.max(0, report.features.length - cap));
  metrics.driftedFeatures.set({ model }, report.drifted_features.length);
  if (report.features.some((f) => f.status === 'ok') && Number.isFinite(report.drifted_share)) metrics.driftedShare.set({ model }, report.drifted_share);
  else metrics.driftedShare.remove({ model });
  if (report.drift_impact) metrics.driftedImpactRatio.set({ model }, report.drift_impact.share);
  else metrics.driftedImpactRatio.remove({ model });
  metrics.windowEvents.set({ model }, report.n_events);
  if (report.errors?.rate != null) metrics.predictionErrorRatio.set({ model }, report.errors.rate);
  else metrics.predictionErrorRatio.remove({ model });
  metrics.lastWindowEnd.set({ model }, report.to / 1000);
  publishMultivariate(metrics, report);
  publishEstimated(metrics, model, report.estimated_performance);
  return now;
}
