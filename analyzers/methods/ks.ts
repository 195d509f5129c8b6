import type { MethodDescriptor } from './method.ts';

export const ksDescriptor: MethodDescriptor = {
  name: 'ks',
  appliesTo: ['numeric'],
  defaultThreshold: 0.05,
  higherIsDrift: false,
  description:
    'Two-sample Kolmogorov-Smirnov test between the frozen reference sample and the window (statistic D and p-value), computed in ClickHouse.',
};

/** scipy.stats.ks_2samp(method="auto") uses the exact distribution up to this sample size. */
export const KS_EXACT_MAX_N = 10_000;

export function ksMethodFor(nReference: number, nCurrent: number): 'exact' | 'asymp' {
  return Math.max(nReference, nCurrent) <= KS_EXACT_MAX_N ? 'exact' : 'asymp';
}
