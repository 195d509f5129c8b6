import type { MethodDescriptor } from './method.ts';

/**
 * Additive smoothing for empty bins: each bin gets this pseudo-count on both
 * sides before shares are taken (Jeffreys' prior). It keeps ln(q/p) finite when
 * a bin is empty on one side, and its weight fades as windows grow: 0.5 in a
 * window of 100k events moves a share by 5e-6.
 */
export const PSI_SMOOTHING = 0.5;

export const psiDescriptor: MethodDescriptor = {
  name: 'psi',
  appliesTo: ['numeric', 'categorical'],
  defaultThreshold: 0.2,
  higherIsDrift: true,
  description:
    'Population Stability Index over bins frozen from the reference (quantile bins plus two outer bins for numeric features, categories for categorical ones).',
};

/**
 * PSI = sum over bins of (q - p) * ln(q / p), with p the reference share and
 * q the current share. Bins empty on both sides are left out before
 * smoothing: they say nothing, and smoothing them would add a term that
 * depends only on the two sample sizes (an empty outer bin of a 50k
 * reference against a 1k window alone adds about 0.002).
 */
export function psi(reference: readonly number[], current: readonly number[], alpha = PSI_SMOOTHING): number {
  if (reference.length !== current.length) throw new Error('psi: reference and current bin counts differ in length');
  let bins = 0;
  let refTotal = 0;
  let curTotal = 0;
  for (let i = 0; i < reference.length; i++) {
    if (reference[i] === 0 && current[i] === 0) continue;
    bins++;
    refTotal += reference[i];
    curTotal += current[i];
  }
  const refDenominator = refTotal + alpha * bins;
  const curDenominator = curTotal + alpha * bins;
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    if (reference[i] === 0 && current[i] === 0) continue;
    const p = (reference[i] + alpha) / refDenominator;
    const q = (current[i] + alpha) / curDenominator;
    sum += (q - p) * Math.log(q / p);
  }
  return sum;
}
