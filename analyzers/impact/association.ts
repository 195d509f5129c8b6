import { PREDICTION, type Window } from '../../store/aggregates.ts';
import { jointCounts, rankCorrelations, type JointCount } from '../../store/impact.ts';
import type { Sql } from '../../store/sql.ts';
import type { FeatureReference } from '../baseline.ts';

/**
 * Impact without a model: how strongly each feature goes with the logged
 * prediction on the baseline. Spearman's rho for a numeric feature against a
 * numeric prediction (a score, a regression value), mutual information
 * otherwise (a categorical feature, or a predicted class). Both are put on
 * one scale, mutual information in nats, so they can be normalized together:
 * rho becomes the mutual information of a bivariate normal whose rank
 * correlation is rho (Pearson r = 2 sin(pi rho / 6), MI = -ln(1 - r^2) / 2).
 * An association, not a cause: a feature that merely travels with one the
 * model uses scores high too; docs/statistics.md says so.
 */
export type AssociationMethod = 'spearman' | 'mutual_information' | 'spearman+mutual_information';

export interface Association {
  method: AssociationMethod | null;
  /** Per feature, mutual information with the prediction in nats (rho converted). */
  raw: Record<string, number>;
  n_sample: number;
}

/** Mutual information of a bivariate normal with Spearman correlation `rho`, in nats. */
export function spearmanToMutualInformation(rho: number): number {
  const r = Math.min(0.999999, Math.abs(2 * Math.sin((Math.PI * rho) / 6)));
  return Math.max(0, -0.5 * Math.log(1 - r * r));
}

/**
 * Plug-in mutual information of (x, y) counts in nats, less the Miller-Madow
 * bias (cells - 1 per variable, over 2N): without it, a feature with many
 * categories looks associated with anything on a finite sample. Never below 0.
 */
export function mutualInformation(cells: readonly { x: string; y: string; n: number }[]): number {
  const total = cells.reduce((a, c) => a + c.n, 0);
  if (total === 0) return 0;
  const px = new Map<string, number>();
  const py = new Map<string, number>();
  for (const c of cells) {
    px.set(c.x, (px.get(c.x) ?? 0) + c.n);
    py.set(c.y, (py.get(c.y) ?? 0) + c.n);
  }
  let mi = 0;
  for (const c of cells) if (c.n > 0) mi += (c.n / total) * Math.log((c.n * total) / (px.get(c.x)! * py.get(c.y)!));
  const bias = ((px.size - 1) * (py.size - 1)) / (2 * total);
  return Math.max(0, mi - bias);
}

/** Each feature's association with the logged prediction over a sample of the range; no method when the baseline has no prediction. */
export async function associationImpact(sql: Sql, range: Window, features: readonly FeatureReference[], sampleRows: number): Promise<Association> {
  const target = features.find((f) => f.name === PREDICTION);
  if (!target) return { method: null, raw: {}, n_sample: 0 };
  const inputs = features.filter((f) => f.name !== PREDICTION);
  const numeric = inputs.filter((f) => f.kind === 'numeric');
  const categorical = inputs.filter((f) => f.kind === 'categorical').map((f) => f.name);
  const raw: Record<string, number> = Object.fromEntries(inputs.map((f) => [f.name, 0]));
  let n = 0;
  if (target.kind === 'numeric') {
    for (const r of await rankCorrelations(sql, range, numeric.map((f) => f.name), sampleRows)) {
      // A constant feature (or prediction) has no rank correlation: it moves nothing.
      raw[r.feature] = r.rho === null ? 0 : spearmanToMutualInformation(r.rho);
      n = Math.max(n, r.n);
    }
  }
  const binned = target.kind === 'numeric' ? [] : numeric;
  const cells = await jointCounts(
    sql,
    range,
    { categorical, numeric: new Map(binned.map((f) => [f.name, f.kind === 'numeric' ? f.edges : []])), target: target.kind },
    sampleRows,
  );
  const byFeature = new Map<string, JointCount[]>();
  for (const c of cells) byFeature.set(c.feature, [...(byFeature.get(c.feature) ?? []), c]);
  for (const [feature, list] of byFeature) {
    raw[feature] = mutualInformation(list);
    n = Math.max(n, list.reduce((a, c) => a + c.n, 0));
  }
  const spearman = target.kind === 'numeric' && numeric.length > 0;
  const mi = categorical.length > 0 || binned.length > 0;
  const method = spearman && mi ? 'spearman+mutual_information' : spearman ? 'spearman' : mi ? 'mutual_information' : null;
  return { method, raw, n_sample: n };
}
