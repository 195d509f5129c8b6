import { randomUUID } from 'node:crypto';
import {
  topTagValues,
  categoryCounts,
  featureInventory,
  freezeSample,
  numericHistograms,
  numericSummaries,
  PREDICTION,
  sampleCounts,
  type ReferenceSample,
  withoutDuplicates,
  type Window,
} from '../store/aggregates.ts';
import { saveBaseline } from '../store/baselines.ts';
import type { Sql } from '../store/sql.ts';
import type { PerformanceReport } from './performance.ts';
import { computePerformance } from './performance-window.ts';
import { freezeReconstruction, type FreezeOptions, type ReconstructionModel } from './multivariate/drift.ts';
import { baselineQuality, type BaselineQuality } from './quality.ts';
import type { FrozenImpact } from './impact/frozen.ts';
import { freezeEstimator, type FrozenEstimator } from './estimated/estimation.ts';

export interface NumericReference {
  name: string;
  kind: 'numeric';
  n: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  /** Strictly increasing edges e0..ek: e0 the reference minimum, ek its maximum. */
  edges: number[];
  /** Reference counts per bin: below e0, k inner bins, above ek (the outer two are 0 by construction). */
  counts: number[];
  /** How many reference values the frozen KS sample holds. */
  sample_n: number;
}

export interface CategoricalReference {
  name: string;
  kind: 'categorical';
  n: number;
  counts: Record<string, number>;
  /** Reference values beyond the category cap, pooled. */
  other: number;
}

export type FeatureReference = NumericReference | CategoricalReference;

export interface Baseline {
  baseline_id: string;
  model: string;
  /** A name given at freeze or later (PATCH); null without one. */
  name?: string | null;
  /** Frozen by a rolling policy (analyzers/rolling.ts) rather than by hand. */
  rolled?: boolean;
  created_at: number;
  from: number;
  to: number;
  n_events: number;
  features: FeatureReference[];
  /** Performance over the reference range with the labels known when it was frozen. */
  performance?: PerformanceReport | null;
  /** Calibrators and band components for performance estimated without labels (analyzers/estimated/); null when the reference has too few labels or no scores. */
  estimator?: FrozenEstimator | null;
  /** For a segment baseline: which tag value it covers, and the model-wide baseline it was frozen with. */
  segment?: { tag: string; value: string } | null;
  parent_baseline_id?: string | null;
  /** The PCA of the numeric features that multivariate drift measures windows against (analyzers/multivariate/); null with fewer than two. */
  multivariate?: ReconstructionModel | null;
  /** The reference's own missing and type-violation shares per feature, which a window's data quality is judged against. */
  quality?: BaselineQuality;
  /** Feature impacts, computed on first use and kept in the spec (analyzers/impact/frozen.ts). */
  impact?: FrozenImpact | null;
  /** Only on a baseline built in memory (never stored): where KS draws its reference values from. */
  reference_sample?: ReferenceSample;
}

/** The KS reference of a baseline: its frozen sample, or the range a baseline built in memory reads it from. */
export const referenceOf = (b: Baseline): ReferenceSample => b.reference_sample ?? { baselineId: b.baseline_id };

/**
 * How a baseline is made: frozen (stored, with a copy of its KS sample) or
 * built in memory to compare two ranges, stored nowhere; both run the same
 * code, so a comparison uses exactly what a frozen baseline would hold.
 */
export interface BuildAs {
  store: boolean;
  name?: string | null;
  rolled?: boolean;
}

const FROZEN: BuildAs = { store: true };

export interface BaselineOptions {
  bins: number;
  maxCategories: number;
  sampleMax: number;
  now?: number;
  /** Count failed predictions (status 'error') too (ANALYSIS_INCLUDE_FAILED; default false). */
  includeFailed?: boolean;
  /** How the multivariate model is fitted (MULTIVARIATE_*); its defaults without. */
  multivariate?: FreezeOptions;
}

export class EmptyRangeError extends Error {}

/** Strictly increasing edges from [min, quantiles..., max]; a constant feature keeps [c, c]. */
export function edgesFrom(min: number, quantiles: number[], max: number): number[] {
  const edges: number[] = [];
  for (const e of [min, ...quantiles, max]) if (edges.length === 0 || e > edges[edges.length - 1]) edges.push(e);
  if (edges.length === 1) edges.push(edges[0]);
  return edges;
}

/**
 * Freezes what drift analysis needs from a range of stored events: per
 * numeric feature its bin edges, reference histogram, moments and a copy of
 * its values (sampled down to `sampleMax`) for KS; per categorical feature
 * its category counts. Later events never change a frozen baseline.
 */
export async function freezeBaseline(
  sql: Sql,
  range: Window,
  options: BaselineOptions,
  parentId: string | null = null,
  as: BuildAs = FROZEN,
): Promise<Baseline> {
  // Failed predictions are no reference for what the model sees: left out unless includeFailed.
  // Asked once whether the range needs FINAL: freezing reads it several times.
  const window: Window = await withoutDuplicates(sql, { ...range, includeFailed: options.includeFailed ?? false });
  const inventory = await featureInventory(sql, window);
  if (inventory.total === 0) throw new EmptyRangeError('no events for this model in the given range');

  // A feature's kind is the kind most of its values had in the reference.
  const byName = new Map<string, { numeric: number; categorical: number }>();
  for (const f of inventory.features) {
    if (f.kind === 'missing') continue;
    const entry = byName.get(f.feature) ?? { numeric: 0, categorical: 0 };
    entry[f.kind] += f.n;
    byName.set(f.feature, entry);
  }
  const numeric = [...byName].filter(([, c]) => c.numeric >= c.categorical).map(([name]) => name);
  const categorical = [...byName].filter(([, c]) => c.numeric < c.categorical).map(([name]) => name);
  const categoricalN = new Map([...byName].map(([name, c]) => [name, c.categorical]));

  const baselineId = randomUUID();
  const summaries = await numericSummaries(sql, window, numeric, options.bins);
  const edges = new Map(summaries.map((s) => [s.feature, edgesFrom(s.min, s.quantiles, s.max)]));
  const histograms = await numericHistograms(sql, window, edges);
  const maxN = Math.max(0, ...summaries.map((s) => s.n));
  const keepPerMillion = maxN <= options.sampleMax ? 1_000_000 : Math.floor((options.sampleMax / maxN) * 1_000_000);
  const inMemory: ReferenceSample = { window, features: numeric, keepPerMillion };
  if (as.store) await freezeSample(sql, baselineId, window, numeric, keepPerMillion);
  const sampled = await sampleCounts(sql, as.store ? { baselineId } : inMemory);

  const features: FeatureReference[] = summaries.map((s) => ({
    name: s.feature,
    kind: 'numeric',
    n: s.n,
    min: s.min,
    max: s.max,
    mean: s.mean,
    std: s.std,
    edges: edges.get(s.feature)!,
    counts: histograms.get(s.feature)!,
    sample_n: sampled.get(s.feature) ?? 0,
  }));
  const categories = await categoryCounts(sql, window, categorical, options.maxCategories);
  for (const name of categorical) {
    const counts: Record<string, number> = {};
    let listed = 0;
    for (const c of categories) {
      if (c.feature !== name) continue;
      counts[c.value] = c.n;
      listed += c.n;
    }
    const n = categoricalN.get(name) ?? listed;
    features.push({ name, kind: 'categorical', n, counts, other: Math.max(0, n - listed) });
  }
  features.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const performance = await computePerformance(sql, window);
  const baseline: Baseline = {
    baseline_id: baselineId,
    model: window.model,
    created_at: options.now ?? Date.now(),
    from: window.from,
    to: window.to,
    n_events: inventory.total,
    features,
    performance,
    estimator: await freezeEstimator(sql, window, performance.task),
    multivariate: await freezeReconstruction(
      sql,
      window,
      summaries.filter((s) => s.feature !== PREDICTION).map((s) => ({ name: s.feature, n: s.n })),
      inventory.total,
      options.multivariate,
    ),
    quality: baselineQuality(features, inventory.total, inventory.features),
    // Measured on first use (analyzers/impact/frozen.ts), so none yet.
    impact: null,
    segment: window.segment ?? null,
    parent_baseline_id: parentId,
    name: as.name ?? null,
    rolled: as.rolled ?? false,
  };
  if (!as.store) return { ...baseline, reference_sample: inMemory };
  await saveBaseline(sql, baseline);
  return baseline;
}

/**
 * Freezes one baseline per value of tag `tag` in the range (the `maxSegments`
 * most frequent values), each tied to the model-wide baseline `parent`.
 */
export async function freezeSegmentBaselines(
  sql: Sql,
  parent: Baseline,
  tag: string,
  maxSegments: number,
  options: BaselineOptions,
  as: BuildAs = FROZEN,
): Promise<Baseline[]> {
  const window = { model: parent.model, from: parent.from, to: parent.to };
  const values = await topTagValues(sql, window, tag, maxSegments);
  const out: Baseline[] = [];
  for (const v of values) {
    out.push(await freezeBaseline(sql, { ...window, segment: { tag, value: v.value } }, options, parent.baseline_id, { ...as, name: null }));
  }
  return out;
}
