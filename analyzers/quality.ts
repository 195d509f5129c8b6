import type { FeatureCount } from '../store/aggregates.ts';
import { PREDICTION } from '../store/aggregates.ts';
import type { FeatureReference } from './baseline.ts';

export interface FeatureQuality {
  feature: string;
  kind: 'numeric' | 'categorical';
  /** Events carrying the feature with the baseline's kind of value. */
  present_share: number;
  /** Events where the feature was null or absent. */
  missing_share: number;
  /** Events carrying the feature with the other kind of value (a string where the baseline had numbers, or the reverse). */
  type_violation_share: number;
}

export interface DataQuality {
  n_events: number;
  features: FeatureQuality[];
  /** In the baseline, in no event of the window. */
  absent_features: string[];
  /** In the window, not in the baseline. */
  new_features: string[];
}

/**
 * Data quality of a window against the baseline's features, from the
 * per-feature counts of the inventory query. Values outside the reference
 * range are reported with drift (share_below_reference, share_above_reference).
 */
export function dataQuality(reference: readonly FeatureReference[], total: number, inventory: readonly FeatureCount[]): DataQuality {
  const counts = new Map<string, { numeric: number; categorical: number; missing: number }>();
  for (const c of inventory) {
    const entry = counts.get(c.feature) ?? { numeric: 0, categorical: 0, missing: 0 };
    entry[c.kind] += c.n;
    counts.set(c.feature, entry);
  }
  const known = new Set(reference.map((f) => f.name));
  const features: FeatureQuality[] = [];
  const absent: string[] = [];
  for (const f of reference) {
    if (f.name === PREDICTION) continue;
    const c = counts.get(f.name) ?? { numeric: 0, categorical: 0, missing: 0 };
    const expected = f.kind === 'numeric' ? c.numeric : c.categorical;
    const other = f.kind === 'numeric' ? c.categorical : c.numeric;
    if (expected + other + c.missing === 0) absent.push(f.name);
    features.push({
      feature: f.name,
      kind: f.kind,
      present_share: total > 0 ? expected / total : 0,
      missing_share: total > 0 ? (total - expected - other) / total : 0,
      type_violation_share: total > 0 ? other / total : 0,
    });
  }
  const added = [...counts.keys()].filter((name) => !known.has(name) && name !== PREDICTION).sort();
  return { n_events: total, features, absent_features: absent, new_features: added };
}
