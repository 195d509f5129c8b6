import type { MethodDescriptor } from './method.ts';

/**
 * Wasserstein-1 (earth mover's) distance between the frozen reference sample
 * and the window's values, computed exactly in ClickHouse in the same pass as
 * KS (store/aggregates.ts, ksTests): the integral of |F - G| over the merged
 * sorted values, as scipy.stats.wasserstein_distance computes it. Reported raw
 * (`wasserstein`, in the feature's units) and divided by the reference
 * standard deviation (`wasserstein_normalized`).
 */
export const wassersteinDescriptor: MethodDescriptor = {
  name: 'wasserstein_normalized',
  appliesTo: ['numeric'],
  defaultThreshold: 0.1,
  higherIsDrift: true,
  description: 'Wasserstein-1 distance between reference sample and window, in reference standard deviations.',
};
