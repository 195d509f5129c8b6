import type { Sql } from '../store/sql.ts';
import type { Baseline, CategoricalReference, NumericReference } from './baseline.ts';
import { categoricalDrift, numericDrift, rawCounts, type BinnedCounts, type DriftOptions } from './drift.ts';
import { chiSquare } from './methods/chi-square.ts';
import type { Preaggregates } from './preaggregates.ts';
import { dataQuality } from './quality.ts';

export type StepSource = 'preaggregates' | 'raw' | 'unavailable';

/** One feature's binned statistics per step, null where a step has no value for it (no events, or unavailable). */
export interface FeatureSeries {
  feature: string;
  kind: 'numeric' | 'categorical';
  n: (number | null)[];
  psi: (number | null)[];
  jensen_shannon: (number | null)[];
  hellinger: (number | null)[];
  chi2_statistic: (number | null)[];
  chi2_p_value: (number | null)[];
  /** The verdict of the scheduled analysis on the step's counts (calibrated or fixed PSI threshold). */
  drifted: (boolean | null)[];
  missing_share: (number | null)[];
  type_violation_share: (number | null)[];
}

export interface DriftSeries {
  model: string;
  baseline_id: string;
  from: number;
  to: number;
  step_ms: number;
  steps: { from: number; to: number; n_events: number | null; source: StepSource }[];
  features: FeatureSeries[];
}

export interface SeriesQuery {
  from: number;
  to: number;
  stepMs: number;
  /** The baseline's features to report (all when null); every name must be one of the baseline's. */
  features: string[] | null;
}

const METRICS = ['n', 'psi', 'jensen_shannon', 'hellinger', 'chi2_statistic', 'chi2_p_value', 'drifted', 'missing_share', 'type_violation_share'] as const;

/**
 * Drift over time against a baseline: per step and feature the binned
 * statistics the scheduled analysis computes, from the pre-aggregates, and
 * from raw events for at most `rawMaxSteps` steps they cannot answer
 * exactly (the newest); older such steps come back `unavailable`, never
 * approximate.
 */
export async function driftSeries(
  sql: Sql,
  preaggregates: Preaggregates | undefined,
  baseline: Baseline,
  q: SeriesQuery,
  options: DriftOptions & { rawMaxSteps: number },
): Promise<DriftSeries> {
  const wanted = q.features ? new Set(q.features) : null;
  const chosen = baseline.features.filter((f) => !wanted || wanted.has(f.name));
  const numeric = chosen.filter((f): f is NumericReference => f.kind === 'numeric');
  const categorical = chosen.filter((f): f is CategoricalReference => f.kind === 'categorical');
  const n = Math.ceil((q.to - q.from) / q.stepMs);
  const series: FeatureSeries[] = chosen.map((f) => ({
    feature: f.name,
    kind: f.kind,
    ...(Object.fromEntries(METRICS.map((m) => [m, new Array(n).fill(null)])) as Omit<FeatureSeries, 'feature' | 'kind'>),
  }));
  /** Step i's cells from its counts. */
  const fill = (i: number, counts: BinnedCounts) => {
    const categoricalN = new Map(counts.inventory.features.filter((f) => f.kind === 'categorical').map((f) => [f.feature, f.n]));
    const current = new Map(categorical.map((f) => [f.name, new Map<string, number>()]));
    for (const c of counts.categories) current.get(c.feature)?.set(c.value, c.n);
    const quality = new Map(dataQuality(chosen, counts.inventory.total, counts.inventory.features).features.map((f) => [f.feature, f]));
    chosen.forEach((ref, j) => {
      const out = series[j];
      let drift;
      if (ref.kind === 'numeric') {
        const bins = counts.histograms.get(ref.name)!;
        drift = numericDrift(ref, bins, undefined, options);
        // The window report gives numeric features no chi-square; over time it is one more view of the same bins.
        if (drift.n_current > 0) {
          const chi = chiSquare(ref.counts, bins);
          drift.metrics.chi2_statistic = chi.statistic;
          drift.metrics.chi2_p_value = chi.p_value;
        }
      } else {
        drift = categoricalDrift(ref, current.get(ref.name)!, categoricalN.get(ref.name) ?? 0, options);
      }
      out.n[i] = drift.n_current;
      for (const m of ['psi', 'jensen_shannon', 'hellinger', 'chi2_statistic', 'chi2_p_value'] as const) out[m][i] = drift.metrics[m] ?? null;
      out.drifted[i] = drift.status === 'no_data' ? null : drift.drifted;
      const fq = quality.get(ref.name);
      out.missing_share[i] = fq?.missing_share ?? null;
      out.type_violation_share[i] = fq?.type_violation_share ?? null;
    });
  };
  const clear = (i: number) => {
    for (const out of series) for (const m of METRICS) out[m][i] = null;
  };
  // The pre-aggregates' steps are computed while the engine checks them against the stored events.
  const early = new Set<number>();
  const pre = preaggregates
    ? (
        await preaggregates.stepCounts(sql, baseline, { ...q, includeFailed: options.includeFailed }, { numeric: numeric.map((f) => f.name), categorical: categorical.map((f) => f.name) }, (unchecked) =>
          unchecked.forEach((counts, i) => {
            fill(i, counts);
            early.add(i);
          }),
        )
      ).steps
    : new Array<BinnedCounts | null>(n).fill(null);

  const steps: DriftSeries['steps'] = [];
  // The raw budget goes to the newest steps the pre-aggregates cannot
  // answer: a heatmap or a dashboard is read from its recent end, and an
  // older gap is the one to leave.
  const raw = new Set<number>();
  for (let i = n - 1; i >= 0 && raw.size < options.rawMaxSteps; i--) if (!pre[i]) raw.add(i);
  for (let i = 0; i < n; i++) {
    const window = { model: baseline.model, from: q.from + i * q.stepMs, to: Math.min(q.to, q.from + (i + 1) * q.stepMs), includeFailed: options.includeFailed ?? false };
    let counts = pre[i];
    let source: StepSource = 'preaggregates';
    if (!counts && early.has(i)) clear(i);
    if (!counts && raw.has(i)) {
      counts = await rawCounts(sql, { ...baseline, features: chosen }, window, options.maxCategories);
      source = 'raw';
    }
    if (!counts) {
      steps.push({ from: window.from, to: window.to, n_events: null, source: 'unavailable' });
      continue;
    }
    steps.push({ from: window.from, to: window.to, n_events: counts.inventory.total, source });
    if (source === 'raw' || !early.has(i)) fill(i, counts);
  }
  return { model: baseline.model, baseline_id: baseline.baseline_id, from: q.from, to: q.to, step_ms: q.stepMs, steps, features: series };
}
