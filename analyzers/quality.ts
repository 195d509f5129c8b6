import binomialCdf from '@stdlib/stats-base-dists-binomial-cdf';
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
  /** Numeric features: the share of the window's values below the reference minimum or above its maximum. */
  out_of_range_share?: number;
  /** Each share beside the baseline's and its verdict (judgeQuality); absent on a baseline frozen before verdicts existed. */
  checks?: QualityChecks;
}

/** One share of a window beside the baseline's, with its calibrated verdict. */
export interface ShareCheck {
  share: number;
  baseline: number;
  /** One-sided binomial test of the window's count against the baseline share: P(at least this many | baseline share). */
  p_value: number;
  /** p_value <= DRIFT_ALPHA and share - baseline >= QUALITY_MIN_EFFECT, in a window of at least MIN_WINDOW_EVENTS. */
  drifted: boolean;
}

export interface QualityChecks {
  missing: ShareCheck;
  type_violation: ShareCheck;
  /** Numeric features only. */
  out_of_range?: ShareCheck;
}

/** A baseline's own missing and type-violation shares, per feature. */
export type BaselineQuality = Record<string, { missing_share: number; type_violation_share: number }>;

export interface DataQuality {
  n_events: number;
  features: FeatureQuality[];
  /** In the baseline, in no event of the window. */
  absent_features: string[];
  /** In the window, not in the baseline. */
  new_features: string[];
  /** Features with at least one share check drifted. */
  flagged_features?: string[];
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

/** The shares a baseline freezes: its own missing and type-violation shares (what dataQuality gives for the reference range). */
export function baselineQuality(reference: readonly FeatureReference[], total: number, inventory: readonly FeatureCount[]): BaselineQuality {
  const out: BaselineQuality = {};
  for (const q of dataQuality(reference, total, inventory).features) out[q.feature] = { missing_share: q.missing_share, type_violation_share: q.type_violation_share };
  return out;
}

export interface QualityVerdictOptions {
  /** One-sided significance (DRIFT_ALPHA). */
  alpha: number;
  /** The least rise of a share over the baseline's that counts (QUALITY_MIN_EFFECT). */
  minEffect: number;
  minWindowEvents: number;
}

/** P(X >= k) for X ~ Binomial(n, p): how surprising k events or more are at the baseline share. */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  return Math.min(1, Math.max(0, 1 - binomialCdf(k - 1, n, p)));
}

export function shareCheck(k: number, n: number, baseline: number, options: QualityVerdictOptions): ShareCheck {
  const share = n > 0 ? k / n : 0;
  const p = binomialUpperTail(k, n, baseline);
  return { share, baseline, p_value: p, drifted: n >= options.minWindowEvents && p <= options.alpha && share - baseline >= options.minEffect };
}

/**
 * The expected share of a new value from the reference's own distribution
 * that falls outside the range of n reference values: 2/(n+1), exactly for
 * a continuous distribution (the new value is equally likely to rank
 * anywhere among the n+1), at most that for a discrete one. The reference's
 * own share is 0 by construction (its range is its minimum to its maximum),
 * which would make any single value outside significant.
 */
export const outOfRangeBaseline = (n: number) => 2 / (n + 1);

/**
 * Adds to a window's data quality each share's baseline value and verdict:
 * missing and type violations over the window's events, out of range over
 * the numeric values the window holds (`outOfRange`: feature -> values
 * counted and how many fell outside the reference range).
 */
export function judgeQuality(
  quality: DataQuality,
  reference: readonly FeatureReference[],
  baseline: BaselineQuality | undefined,
  outOfRange: ReadonlyMap<string, { n: number; outside: number }>,
  options: QualityVerdictOptions,
): DataQuality {
  const refs = new Map(reference.map((f) => [f.name, f]));
  const n = quality.n_events;
  const flagged: string[] = [];
  const features = quality.features.map((q) => {
    const out: FeatureQuality = { ...q };
    const ref = refs.get(q.feature);
    const range = outOfRange.get(q.feature);
    if (ref?.kind === 'numeric' && range) out.out_of_range_share = range.n > 0 ? range.outside / range.n : 0;
    const frozen = baseline?.[q.feature];
    if (!frozen) return out;
    out.checks = {
      missing: shareCheck(Math.round(q.missing_share * n), n, frozen.missing_share, options),
      type_violation: shareCheck(Math.round(q.type_violation_share * n), n, frozen.type_violation_share, options),
      ...(ref?.kind === 'numeric' && range ? { out_of_range: shareCheck(range.outside, range.n, outOfRangeBaseline(ref.n), options) } : {}),
    };
    if (Object.values(out.checks).some((c) => c.drifted)) flagged.push(q.feature);
    return out;
  });
  return { ...quality, features, flagged_features: flagged };
}
