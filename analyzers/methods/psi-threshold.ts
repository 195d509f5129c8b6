import chi2Quantile from '@stdlib/stats-base-dists-chisquare-quantile';

/**
 * A PSI threshold that means the same at any window size.
 *
 * Under no drift, PSI (Jeffreys' divergence of the binned shares) times the
 * harmonic factor 1 / (1/n_ref + 1/n_cur) is asymptotically chi-square with
 * (bins - 1) degrees of freedom, like the two-sample chi-square statistic it
 * approximates. So the PSI that sampling noise alone exceeds with
 * probability `alpha` is
 *
 *   chi2.ppf(1 - alpha, bins - 1) * (1/n_ref + 1/n_cur).
 *
 * That alone would make a 2M-event window flag differences nobody cares
 * about (the complaint about p-values on big data), so the verdict also
 * needs an effect of at least `minEffect` (PSI): small windows are held to
 * statistical significance, large ones to a minimum effect size. Both are
 * documented in docs/statistics.md; test/drift-calibration.test.ts measures
 * the false-positive rate and the power.
 */
export interface PsiCalibration {
  alpha: number;
  minEffect: number;
}

/** Bins that can hold anything: where either side has counts (an empty outer bin adds no freedom). */
export function occupiedBins(reference: readonly number[], current: readonly number[]): number {
  let bins = 0;
  for (let i = 0; i < reference.length; i++) if (reference[i] > 0 || current[i] > 0) bins++;
  return bins;
}

// The quantile depends on alpha and the bin count alone, and a drift series asks it for every
// step and feature (72,000 times for a month of 100 features by the hour): kept once computed.
const quantiles = new Map<string, number>();
const nullQuantile = (alpha: number, dof: number) => {
  const key = `${alpha}/${dof}`;
  let q = quantiles.get(key);
  if (q === undefined) {
    q = chi2Quantile(1 - alpha, dof);
    if (quantiles.size < 10_000) quantiles.set(key, q);
  }
  return q;
};

/** PSI that noise alone exceeds with probability alpha, for these bin counts and sample sizes. */
export function psiNullQuantile(bins: number, nReference: number, nCurrent: number, alpha: number): number {
  if (nReference <= 0 || nCurrent <= 0) return Number.POSITIVE_INFINITY;
  return nullQuantile(alpha, Math.max(1, bins - 1)) * (1 / nReference + 1 / nCurrent);
}

/** The threshold a window's PSI is judged by: beyond noise at this size, and at least the minimum effect. */
export function calibratedPsiThreshold(reference: readonly number[], current: readonly number[], calibration: PsiCalibration): number {
  const nReference = reference.reduce((a, b) => a + b, 0);
  const nCurrent = current.reduce((a, b) => a + b, 0);
  return Math.max(calibration.minEffect, psiNullQuantile(occupiedBins(reference, current), nReference, nCurrent, calibration.alpha));
}
