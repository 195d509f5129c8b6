import type { DriftReport, FeatureDrift } from '../../analyzers/drift.ts';

const verdictOnly = ({ feature, kind, score, threshold, drifted, status }: FeatureDrift) => ({ feature, kind, score, threshold, drifted, status });

/**
 * A stored report as `drift/history?compact=true` answers it: each feature's
 * verdict without its statistics, and data quality naming only the features
 * that have a problem. A heatmap needs the scores alone; for 500 features
 * the full history was five times the size (docs/benchmarks.md).
 */
export function compactReport<T extends DriftReport>(report: T): T {
  const quality = report.data_quality;
  return {
    ...report,
    features: report.features.map(verdictOnly),
    prediction: report.prediction ? verdictOnly(report.prediction) : null,
    data_quality: quality && {
      ...quality,
      features: quality.features.filter(
        (f) => f.missing_share > 0 || f.type_violation_share > 0 || Object.values(f.checks ?? {}).some((c) => c.drifted),
      ),
    },
  } as T;
}
