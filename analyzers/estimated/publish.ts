import type { Metrics } from '../../core/metrics.ts';
import { ESTIMATED_METRICS } from './band.ts';
import { dropOf, type EstimatedPerformance } from './estimation.ts';

const STATS = ['value', 'lower', 'upper', 'drop'] as const;

/**
 * A model's newest estimates into driftwatch_model_performance_estimated:
 * at most 5 metrics x 4 stats per model. A series the window lacks (no
 * estimator any more, no band, no baseline value) is removed, not left stale.
 */
export function publishEstimated(metrics: Metrics, model: string, estimated: EstimatedPerformance | null | undefined): void {
  for (const metric of ESTIMATED_METRICS) {
    const m = estimated?.metrics[metric];
    const values: Record<(typeof STATS)[number], number | null | undefined> = { value: m?.value, lower: m?.lower, upper: m?.upper, drop: m ? dropOf(m) : null };
    for (const stat of STATS) {
      const v = values[stat];
      if (v !== null && v !== undefined && Number.isFinite(v)) metrics.performanceEstimated.set({ model, metric, stat }, v);
      else metrics.performanceEstimated.remove({ model, metric, stat });
    }
  }
}
