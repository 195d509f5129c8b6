import { probit } from 'simple-statistics';
import { sampleRows, windowReconstructionError } from '../../store/multivariate.ts';
import type { Sql } from '../../store/sql.ts';
import type { Window } from '../../store/window.ts';
import { fitReconstruction, type ReconstructionModel } from './pca.ts';

export type { ReconstructionModel } from './pca.ts';

/** A window's multivariate drift: its mean reconstruction error against the baseline's frozen PCA, and the band noise allows at its size. */
export interface MultivariateDrift {
  method: 'pca_reconstruction_error';
  /** The numeric features the PCA covers. */
  features: string[];
  n_components: number;
  explained_variance: number;
  /** Events the window's error was averaged over (sampled down to MULTIVARIATE_WINDOW_SAMPLE_MAX). */
  n_current: number;
  /** Mean Euclidean distance between the standardized events and their reconstruction; null without events. */
  reconstruction_error: number | null;
  /** The reference's mean error, and its per-event standard deviation. */
  reference_error: number;
  reference_std: number;
  /** The band a stationary window of this size stays in; null without events. */
  lower_threshold: number | null;
  upper_threshold: number | null;
  /** (error - reference_error) / reference_error. */
  change: number | null;
  drifted: boolean;
  status: 'ok' | 'insufficient_data' | 'no_data';
}

export interface FreezeOptions {
  /** Reference events sampled for the fit (MULTIVARIATE_SAMPLE_MAX). */
  sampleMax: number;
  /** Share of variance the kept components explain (MULTIVARIATE_VARIANCE). */
  varianceShare: number;
  /** At most this many numeric features, the most often present first (MULTIVARIATE_MAX_FEATURES). */
  maxFeatures: number;
}

export const DEFAULT_FREEZE: FreezeOptions = { sampleMax: 20_000, varianceShare: 0.65, maxFeatures: 100 };

/**
 * Fits a baseline's reconstruction model on its reference range: `numeric`
 * are the numeric features with how many reference events carry each.
 * Null when there is nothing joint to model (fewer than two features with
 * spread, or too few events).
 */
export async function freezeReconstruction(
  sql: Sql,
  range: Window,
  numeric: readonly { name: string; n: number }[],
  total: number,
  options: FreezeOptions = DEFAULT_FREEZE,
): Promise<ReconstructionModel | null> {
  const features = [...numeric]
    .sort((a, b) => b.n - a.n || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, options.maxFeatures)
    .map((f) => f.name)
    .sort();
  if (features.length < 2) return null;
  const rows = await sampleRows(sql, range, features, total, options.sampleMax);
  return fitReconstruction(features, rows, options.varianceShare);
}

export interface VerdictOptions {
  /** Two-sided significance of the band (DRIFT_ALPHA). */
  alpha: number;
  /** The band is at least this relative change of the reference error either side (MULTIVARIATE_MIN_EFFECT). */
  minEffect: number;
  minWindowEvents: number;
  /** Window events the error is computed on (MULTIVARIATE_WINDOW_SAMPLE_MAX). */
  windowSampleMax: number;
}

/**
 * The band a stationary window's mean error stays in: the reference mean
 * ± z·s·sqrt(1/n + 1/N), z the two-sided normal quantile at alpha. A
 * window's mean over n events spreads with s/sqrt(n) around the true mean
 * (the spread of the error over reference sub-windows of size n), and the
 * reference's own mean, from N events, is itself off by s/sqrt(N); the band
 * is never narrower than ±minEffect of the reference mean.
 */
export function errorBand(model: ReconstructionModel, n: number, options: Pick<VerdictOptions, 'alpha' | 'minEffect'>): { lower: number; upper: number } {
  const { mean, std, n: N } = model.reference;
  const z = probit(1 - options.alpha / 2);
  const half = Math.max(z * std * Math.sqrt(1 / n + 1 / N), options.minEffect * mean);
  return { lower: Math.max(0, mean - half), upper: mean + half };
}

/** A window's multivariate drift against a frozen model; `total` is the window's event count. */
export async function multivariateDrift(sql: Sql, model: ReconstructionModel, window: Window, total: number, options: VerdictOptions): Promise<MultivariateDrift> {
  const { n, mean } = await windowReconstructionError(sql, window, model, total, options.windowSampleMax);
  const base = {
    method: 'pca_reconstruction_error' as const,
    features: model.features,
    n_components: model.components.length,
    explained_variance: model.explained_variance,
    n_current: n,
    reference_error: model.reference.mean,
    reference_std: model.reference.std,
  };
  if (n === 0) {
    return { ...base, reconstruction_error: null, lower_threshold: null, upper_threshold: null, change: null, drifted: false, status: 'no_data' };
  }
  const band = errorBand(model, n, options);
  // Judged on the window's events, not the sample: a window below MIN_WINDOW_EVENTS has no verdict however it was sampled.
  const status = total < options.minWindowEvents ? 'insufficient_data' : 'ok';
  if (mean === null || !Number.isFinite(mean)) {
    // Values some 1e154 standard deviations out overflow the squares (the engine answers NaN as null):
    // far outside any band, but JSON has no Infinity (a 500).
    return { ...base, reconstruction_error: null, lower_threshold: band.lower, upper_threshold: band.upper, change: null, drifted: status === 'ok', status };
  }
  return {
    ...base,
    reconstruction_error: mean,
    lower_threshold: band.lower,
    upper_threshold: band.upper,
    change: model.reference.mean > 0 ? (mean - model.reference.mean) / model.reference.mean : null,
    drifted: status === 'ok' && (mean < band.lower || mean > band.upper),
    status,
  };
}
