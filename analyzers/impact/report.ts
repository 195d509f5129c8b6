import type { DriftReport } from '../drift.ts';
import type { FrozenImpact, ImpactMethod } from './frozen.ts';

/**
 * What a window's report says about impact: each feature's frozen impact
 * beside its drift score, and the window summary `drift_impact`.
 */
export interface DriftImpact {
  method: ImpactMethod;
  /**
   * Sum of the impacts of the features that drifted in this window: the
   * share of the model's output sensitivity (permutation) or of the
   * prediction's association (association) that sits on drifted features.
   * Near 1: what drifted is what the output depends on; near 0: the drift is
   * on features that barely move it (docs/statistics.md#drift-impact).
   */
  share: number;
  /** The drifted features, highest impact first (drift score breaks ties): the drift that matters first. */
  ranking: { feature: string; impact: number | null; score: number | null }[];
  /** Whether the prediction itself drifted in this window; null when the baseline has no prediction. */
  prediction_drifted: boolean | null;
}

/** The report with `impact` on each feature, `impact_method` and `drift_impact`; the feature order is kept (drifted first, then by score). */
export function withImpact<R extends DriftReport>(report: R, frozen: FrozenImpact | null): R {
  const method = frozen?.method ?? null;
  const features = report.features.map((f) => ({ ...f, impact: method ? (frozen!.impacts[f.feature] ?? null) : null }));
  if (!method) return { ...report, features, impact_method: null, drift_impact: null };
  const drifted = features.filter((f) => f.drifted && f.status === 'ok');
  const ranking = drifted
    .map((f) => ({ feature: f.feature, impact: f.impact, score: f.score }))
    .sort((a, b) => (b.impact ?? -1) - (a.impact ?? -1) || (b.score ?? -1) - (a.score ?? -1) || (a.feature < b.feature ? -1 : 1));
  const share = Math.min(1, drifted.reduce((a, f) => a + (f.impact ?? 0), 0));
  return {
    ...report,
    features,
    impact_method: method,
    drift_impact: { method, share, ranking, prediction_drifted: report.prediction ? report.prediction.status === 'ok' && report.prediction.drifted : null },
  };
}
