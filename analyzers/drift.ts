import { categoryCounts, featureInventory, ksTests, numericHistograms, PREDICTION, withoutDuplicates, type CategoryCount, type FeatureCount, type KsRow, type Window } from '../store/aggregates.ts';
import type { Sql } from '../store/sql.ts';
import { referenceOf, type Baseline, type CategoricalReference, type NumericReference } from './baseline.ts';
import { chiSquare } from './methods/chi-square.ts';
import { hellinger } from './methods/hellinger.ts';
import { jensenShannon } from './methods/jensen-shannon.ts';
import { lInfinity } from './methods/l-infinity.ts';
import { ks2sampAsympPValue } from './methods/kolmogorov.ts';
import { ksMethodFor } from './methods/ks.ts';
import type { FeatureKind } from './methods/method.ts';
import { psi } from './methods/psi.ts';
import { calibratedPsiThreshold } from './methods/psi-threshold.ts';
import { comparePerformance, computePerformance } from './performance-window.ts';
import { dataQuality, judgeQuality, type DataQuality } from './quality.ts';
import { multivariateDrift, type MultivariateDrift } from './multivariate/drift.ts';
import { estimatePerformance, type EstimatedPerformance } from './estimated/estimation.ts';
import { windowErrors, type WindowErrors } from '../store/failures.ts';
import { DEFAULT_IMPACT_SAMPLE_ROWS, impactFor, type ImpactMethod } from './impact/frozen.ts';
import { withImpact, type DriftImpact } from './impact/report.ts';

export type FeatureStatus = 'ok' | 'insufficient_data' | 'no_data';

export interface FeatureDrift {
  feature: string;
  kind: FeatureKind;
  n_reference: number;
  n_current: number;
  /** Every statistic computed for this feature: psi, ks_statistic, ks_p_value, chi2_statistic, ... */
  metrics: Record<string, number>;
  /** The method whose score decides `drifted`. */
  method: string;
  score: number | null;
  /** null without a verdict (no events in the window): there is nothing to calibrate it on. */
  threshold: number | null;
  drifted: boolean;
  status: FeatureStatus;
  /** Categories seen now that the baseline never saw, with their share of the window (categorical only). */
  new_categories?: { value: string; share: number }[];
  /** Reference and current distributions, when asked for (computeDrift's `distributions`): what the UI and the report draw. */
  distribution?: Distribution;
  /** How much this feature moves the model's output, as a share of all features' (analyzers/impact/); null when unknown. */
  impact?: number | null;
}

/**
 * A feature's two distributions on the baseline's own bins. Numeric: counts
 * per bin, below edges[0], between each pair of edges, above the last.
 * Categorical: counts per category either side knows, plus the pooled rest
 * beyond the baseline's category cap.
 */
export type Distribution =
  | { kind: 'numeric'; edges: number[]; reference: number[]; current: number[] }
  | { kind: 'categorical'; categories: string[]; reference: number[]; current: number[]; other: { reference: number; current: number } };

export interface DriftReport {
  model: string;
  baseline_id: string;
  from: number;
  to: number;
  /** The tag value this report covers, against that segment's own baseline; null for the whole model. */
  segment: { tag: string; value: string } | null;
  n_events: number;
  features: FeatureDrift[];
  drifted_features: string[];
  /** Share of the features with a verdict that drifted, and whether that reaches DATASET_DRIFT_SHARE. */
  drifted_share: number;
  dataset_drifted: boolean;
  /** Drift of the model's output (score distribution or predicted-class shares), when the baseline has it. */
  prediction: FeatureDrift | null;
  /** Missing values, type violations, absent and new features. */
  data_quality: DataQuality | null;
  /** Performance with the labels that had arrived when the report was made, against the baseline's. */
  performance: ReturnType<typeof comparePerformance> | null;
  /** Failed predictions among the window's events: the error rate and its types (issue 20). */
  errors?: WindowErrors;
  /** Drift of the joint distribution of the numeric features (PCA reconstruction error); null when the baseline has no model. */
  multivariate?: MultivariateDrift | null;
  /** How the features' `impact` was measured (analyzers/impact/); null when it could not be. */
  impact_method?: ImpactMethod | null;
  /** Which share of the model's output sensitivity the drifted features hold, and the drifted features by impact. */
  drift_impact?: DriftImpact | null;
  /** Performance estimated from calibrated scores before labels arrive (CBPE), realized values beside; absent without a baseline estimator. */
  estimated_performance?: EstimatedPerformance | null;
}

export interface DriftOptions {
  /** Count failed predictions (status 'error') in drift and performance too (ANALYSIS_INCLUDE_FAILED; default false). */
  includeFailed?: boolean;
  /** The fixed PSI threshold (thresholdMode "fixed"). */
  psiThreshold: number;
  /**
   * "calibrated" (the default): PSI must exceed what noise gives at this
   * window's size with probability driftAlpha, and be at least psiMinEffect
   * (methods/psi-threshold.ts). "fixed": PSI >= psiThreshold at any size.
   */
  thresholdMode?: 'calibrated' | 'fixed';
  driftAlpha?: number;
  psiMinEffect?: number;
  /** The dataset counts as drifted when at least this share of its judged features drifted. */
  datasetDriftShare?: number;
  minWindowEvents: number;
  maxCategories: number;
  /** Multivariate drift (analyzers/multivariate/): the least relative change of the error that counts, and the window events it is computed on. */
  multivariateMinEffect?: number;
  multivariateWindowSampleMax?: number;
  /** Data quality verdicts: the least rise of a share over the baseline's that counts (QUALITY_MIN_EFFECT). */
  qualityMinEffect?: number;
  /** Baseline events feature impact is measured on (IMPACT_SAMPLE_ROWS); 0 turns impact off. */
  impactSampleRows?: number;
  /**
   * At most about this many window values per feature go into KS and
   * Wasserstein, drawn by a hash of the event id, and at most this many of
   * the baseline's frozen sample, every k-th of its sorted values
   * (docs/preaggregates.md); absent: every value.
   */
  ksSampleMax?: number;
}

/** What the binned methods and data quality read of a window: from raw events, or from the pre-aggregates. */
export interface BinnedCounts {
  inventory: { total: number; features: FeatureCount[] };
  histograms: Map<string, number[]>;
  categories: CategoryCount[];
}

export const DEFAULT_MULTIVARIATE_MIN_EFFECT = 0.02;
export const DEFAULT_MULTIVARIATE_WINDOW_SAMPLE_MAX = 50_000;
export const DEFAULT_QUALITY_MIN_EFFECT = 0.01;


export const DEFAULT_DATASET_DRIFT_SHARE = 0.5;

/** Orders reports so the strongest drift comes first: drifted, then by score, then by name. */
export function rankFeatures(features: FeatureDrift[]): FeatureDrift[] {
  return [...features].sort(
    (a, b) =>
      Number(b.drifted) - Number(a.drifted) ||
      (b.score ?? -1) - (a.score ?? -1) ||
      (a.feature < b.feature ? -1 : a.feature > b.feature ? 1 : 0),
  );
}

export const DEFAULT_DRIFT_ALPHA = 0.001;
export const DEFAULT_PSI_MIN_EFFECT = 0.005;

/** The PSI threshold for these counts under the options (see DriftOptions.thresholdMode). */
export function psiThresholdFor(reference: readonly number[], current: readonly number[], options: DriftOptions): number {
  if ((options.thresholdMode ?? 'calibrated') === 'fixed') return options.psiThreshold;
  return calibratedPsiThreshold(reference, current, {
    alpha: options.driftAlpha ?? DEFAULT_DRIFT_ALPHA,
    minEffect: options.psiMinEffect ?? DEFAULT_PSI_MIN_EFFECT,
  });
}

function verdict(
  score: number | null,
  threshold: number,
  nCurrent: number,
  options: DriftOptions,
): { threshold: number | null; drifted: boolean; status: FeatureStatus } {
  // An empty window calibrates to an infinite threshold, which JSON cannot
  // carry (a report's anyOf schema refused it: a 500 found by schemathesis).
  if (nCurrent === 0 || score === null) return { threshold: null, drifted: false, status: 'no_data' };
  if (nCurrent < options.minWindowEvents) return { threshold, drifted: false, status: 'insufficient_data' };
  return { threshold, drifted: score >= threshold, status: 'ok' };
}

export function numericDrift(ref: NumericReference, counts: number[], ks: KsRow | undefined, options: DriftOptions, withDistribution = false): FeatureDrift {
  const nCurrent = counts.reduce((a, b) => a + b, 0);
  const metrics: Record<string, number> = {};
  let score: number | null = null;
  if (nCurrent > 0) {
    score = psi(ref.counts, counts);
    metrics.psi = score;
    metrics.jensen_shannon = jensenShannon(ref.counts, counts);
    metrics.hellinger = hellinger(ref.counts, counts);
    metrics.share_below_reference = counts[0] / nCurrent;
    metrics.share_above_reference = counts[counts.length - 1] / nCurrent;
  }
  if (ks) {
    metrics.ks_statistic = ks.d_statistic;
    if (ks.p_value !== null) metrics.ks_p_value = ks.p_value;
    metrics.wasserstein = ks.wasserstein;
    // In reference standard deviations: comparable across features of any scale.
    if (ref.std > 0) metrics.wasserstein_normalized = ks.wasserstein / ref.std;
  }
  const threshold = psiThresholdFor(ref.counts, counts, options);
  return {
    feature: ref.name,
    kind: 'numeric',
    n_reference: ref.n,
    n_current: nCurrent,
    metrics,
    method: 'psi',
    score,
    ...verdict(score, threshold, nCurrent, options),
    ...(withDistribution ? { distribution: { kind: 'numeric' as const, edges: ref.edges, reference: ref.counts, current: counts } } : {}),
  };
}

export function categoricalDrift(
  ref: CategoricalReference,
  current: Map<string, number>,
  nCurrent: number,
  options: DriftOptions,
  withDistribution = false,
): FeatureDrift {
  // Bins: every category either side knows, plus the pooled tail beyond the cap.
  const names = new Set([...Object.keys(ref.counts), ...current.keys()]);
  const listedCurrent = [...current.values()].reduce((a, b) => a + b, 0);
  const refCounts: number[] = [];
  const curCounts: number[] = [];
  for (const name of names) {
    refCounts.push(ref.counts[name] ?? 0);
    curCounts.push(current.get(name) ?? 0);
  }
  refCounts.push(ref.other);
  curCounts.push(Math.max(0, nCurrent - listedCurrent));
  const metrics: Record<string, number> = {};
  let score: number | null = null;
  const newCategories: { value: string; share: number }[] = [];
  if (nCurrent > 0) {
    score = psi(refCounts, curCounts);
    const chi = chiSquare(refCounts, curCounts);
    metrics.psi = score;
    metrics.jensen_shannon = jensenShannon(refCounts, curCounts);
    metrics.hellinger = hellinger(refCounts, curCounts);
    metrics.l_infinity = lInfinity(refCounts, curCounts);
    metrics.chi2_statistic = chi.statistic;
    metrics.chi2_p_value = chi.p_value;
    metrics.chi2_dof = chi.dof;
    for (const [value, n] of current) {
      if (!(value in ref.counts) && ref.other === 0) newCategories.push({ value, share: n / nCurrent });
    }
    newCategories.sort((a, b) => b.share - a.share);
    metrics.new_category_share = newCategories.reduce((a, c) => a + c.share, 0);
  }
  const threshold = psiThresholdFor(refCounts, curCounts, options);
  return {
    feature: ref.name,
    kind: 'categorical',
    n_reference: ref.n,
    n_current: nCurrent,
    metrics,
    method: 'psi',
    score,
    ...verdict(score, threshold, nCurrent, options),
    new_categories: newCategories.slice(0, 20),
    ...(withDistribution
      ? {
          distribution: {
            kind: 'categorical' as const,
            categories: [...names],
            reference: refCounts.slice(0, -1),
            current: curCounts.slice(0, -1),
            other: { reference: refCounts.at(-1)!, current: curCounts.at(-1)! },
          },
        }
      : {}),
  };
}

/** The binned methods' and data quality's counts of a window, read from its raw events. */
export async function rawCounts(sql: Sql, baseline: Baseline, window: Window, maxCategories: number): Promise<BinnedCounts> {
  const numeric = baseline.features.filter((f): f is NumericReference => f.kind === 'numeric');
  const categorical = baseline.features.filter((f) => f.kind === 'categorical').map((f) => f.name);
  return {
    inventory: await featureInventory(sql, window),
    histograms: await numericHistograms(sql, window, new Map(numeric.map((f) => [f.name, f.edges]))),
    categories: await categoryCounts(sql, window, categorical, maxCategories),
  };
}

/**
 * Compares one window of a model's events with a frozen baseline, feature by
 * feature; with `distributions`, each feature also carries both histograms.
 */
export async function computeDrift(
  sql: Sql,
  baseline: Baseline,
  analysed: Window,
  options: DriftOptions,
  {
    distributions = false,
    counts,
  }: {
    distributions?: boolean;
    /** The pre-aggregates' counts of this window, or null where they cannot answer exactly (then raw events are read). */
    counts?: (window: Window) => Promise<BinnedCounts | null>;
  } = {},
): Promise<DriftReport> {
  // Failed predictions carry no output to judge: left out unless includeFailed.
  // Asked once whether the window needs FINAL: the report reads it several times.
  const window: Window = await withoutDuplicates(sql, { ...analysed, includeFailed: options.includeFailed ?? false });
  const numeric = baseline.features.filter((f): f is NumericReference => f.kind === 'numeric');
  const categorical = baseline.features.filter((f): f is CategoricalReference => f.kind === 'categorical');

  const { inventory, histograms, categories } = (await counts?.(window)) ?? (await rawCounts(sql, baseline, window, options.maxCategories));
  const categoricalN = new Map(inventory.features.filter((f) => f.kind === 'categorical').map((f) => [f.feature, f.n]));

  // KS uses the exact distribution for small samples, like scipy's method="auto".
  const byMethod = { exact: [] as string[], asymp: [] as string[] };
  for (const f of numeric) {
    const nCurrent = histograms.get(f.name)!.reduce((a, b) => a + b, 0);
    if (nCurrent > 0 && f.sample_n > 0) byMethod[ksMethodFor(f.sample_n, nCurrent)].push(f.name);
  }
  const ks = new Map<string, KsRow>();
  const widest = Math.max(0, ...numeric.map((f) => histograms.get(f.name)!.reduce((a, b) => a + b, 0)));
  const bound = options.ksSampleMax;
  const keepPerMillion = bound !== undefined && widest > bound ? Math.floor((bound / widest) * 1_000_000) : 1_000_000;
  // The reference side bounded alike: every k-th value of a frozen sample larger than the bound.
  const referenceEvery = bound === undefined ? undefined : new Map(numeric.map((f) => [f.name, Math.max(1, Math.ceil(f.sample_n / bound))]));
  for (const method of ['exact', 'asymp'] as const) {
    for (const row of await ksTests(sql, referenceOf(baseline), window, byMethod[method], method, keepPerMillion, referenceEvery)) {
      // scipy's asymptotic p-value: the finite-n kstwo distribution at D (the engine's is the Kolmogorov limit).
      if (method === 'asymp') row.p_value = ks2sampAsympPValue(row.d_statistic, row.n_reference, row.n_current);
      ks.set(row.feature, row);
    }
  }

  const current = new Map<string, Map<string, number>>(categorical.map((f) => [f.name, new Map()]));
  for (const c of categories) {
    current.get(c.feature)!.set(c.value, c.n);
  }

  const all = [
    ...numeric.map((f) => numericDrift(f, histograms.get(f.name)!, ks.get(f.name), options, distributions)),
    ...categorical.map((f) => categoricalDrift(f, current.get(f.name)!, categoricalN.get(f.name) ?? 0, options, distributions)),
  ];
  const alpha = options.driftAlpha ?? DEFAULT_DRIFT_ALPHA;
  const outOfRange = new Map(
    [...histograms].map(([name, counts]) => [name, { n: counts.reduce((a, b) => a + b, 0), outside: counts[0] + counts[counts.length - 1] }]),
  );
  const quality = judgeQuality(dataQuality(baseline.features, inventory.total, inventory.features), baseline.features, baseline.quality, outOfRange, {
    alpha,
    minEffect: options.qualityMinEffect ?? DEFAULT_QUALITY_MIN_EFFECT,
    minWindowEvents: options.minWindowEvents,
  });
  const multivariate = baseline.multivariate
    ? await multivariateDrift(sql, baseline.multivariate, window, inventory.total, {
        alpha,
        minEffect: options.multivariateMinEffect ?? DEFAULT_MULTIVARIATE_MIN_EFFECT,
        minWindowEvents: options.minWindowEvents,
        windowSampleMax: options.multivariateWindowSampleMax ?? DEFAULT_MULTIVARIATE_WINDOW_SAMPLE_MAX,
      })
    : null;
  // Per-feature quality shares also travel with the feature's metrics, so history and gauges keep them.
  for (const q of quality.features) {
    const target = all.find((f) => f.feature === q.feature);
    if (!target) continue;
    target.metrics.missing_share = q.missing_share;
    target.metrics.type_violation_share = q.type_violation_share;
  }
  const realized = await computePerformance(sql, window);
  const performance = comparePerformance(realized, baseline.performance);
  const estimated = baseline.estimator ? await estimatePerformance(sql, baseline.estimator, window, realized, baseline.performance ?? null) : null;
  const sampleRows = options.impactSampleRows ?? DEFAULT_IMPACT_SAMPLE_ROWS;
  const report: DriftReport = {
    ...assembleReport(baseline.model, baseline.baseline_id, window, inventory.total, all, options.datasetDriftShare),
    segment: window.segment ?? null,
    data_quality: quality,
    performance,
    errors: await windowErrors(sql, window),
    multivariate,
    estimated_performance: estimated,
  };
  // Frozen with the baseline on first use: a window only looks it up.
  return sampleRows > 0 ? withImpact(report, await impactFor(sql, baseline, { sampleRows })) : report;
}

/** A report from per-target results: features ranked, the prediction apart. */
export function assembleReport(
  model: string,
  baselineId: string,
  window: { from: number; to: number },
  nEvents: number,
  results: FeatureDrift[],
  datasetDriftShare = DEFAULT_DATASET_DRIFT_SHARE,
): DriftReport {
  const features = rankFeatures(results.filter((f) => f.feature !== PREDICTION));
  const judged = features.filter((f) => f.status === 'ok');
  const drifted = judged.filter((f) => f.drifted).length;
  const share = judged.length > 0 ? drifted / judged.length : 0;
  return {
    model,
    baseline_id: baselineId,
    from: window.from,
    to: window.to,
    segment: null,
    n_events: nEvents,
    features,
    drifted_features: features.filter((f) => f.drifted).map((f) => f.feature),
    drifted_share: share,
    dataset_drifted: judged.length > 0 && share >= datasetDriftShare,
    prediction: results.find((f) => f.feature === PREDICTION) ?? null,
    data_quality: null,
    performance: null,
  };
}

