import chisquareCdf from '@stdlib/stats-base-dists-chisquare-cdf';
import type { MethodDescriptor } from './method.ts';

export const chiSquareDescriptor: MethodDescriptor = {
  name: 'chi_square',
  appliesTo: ['categorical'],
  defaultThreshold: 0.05,
  higherIsDrift: false,
  description: "Pearson's chi-square test of independence on the 2 x K table of reference and current category counts (p-value).",
};

export interface ChiSquareResult {
  statistic: number;
  dof: number;
  p_value: number;
}

/**
 * Same as scipy.stats.chi2_contingency on [reference, current]: categories
 * empty on both sides are dropped, and Yates' continuity correction applies
 * when there is one degree of freedom.
 */
export function chiSquare(reference: readonly number[], current: readonly number[]): ChiSquareResult {
  const columns: [number, number][] = [];
  for (let i = 0; i < reference.length; i++) {
    if (reference[i] + current[i] > 0) columns.push([reference[i], current[i]]);
  }
  const dof = columns.length - 1;
  let refTotal = 0;
  let curTotal = 0;
  for (const [r, c] of columns) {
    refTotal += r;
    curTotal += c;
  }
  const total = refTotal + curTotal;
  if (dof < 1 || refTotal === 0 || curTotal === 0) return { statistic: 0, dof: Math.max(dof, 0), p_value: 1 };
  let statistic = 0;
  for (const [r, c] of columns) {
    const columnTotal = r + c;
    for (const [observed, rowTotal] of [
      [r, refTotal],
      [c, curTotal],
    ]) {
      const expected = (rowTotal * columnTotal) / total;
      let diff = Math.abs(observed - expected);
      if (dof === 1) diff = Math.max(0, diff - Math.min(0.5, diff));
      statistic += (diff * diff) / expected;
    }
  }
  return { statistic, dof, p_value: Math.max(0, 1 - chisquareCdf(statistic, dof)) };
}
