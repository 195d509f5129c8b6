import type { MethodDescriptor } from './method.ts';
import { shares } from './shares.ts';

export const jensenShannonDescriptor: MethodDescriptor = {
  name: 'jensen_shannon',
  appliesTo: ['numeric', 'categorical'],
  defaultThreshold: 0.1,
  higherIsDrift: true,
  description: 'Jensen-Shannon distance (base 2, in [0, 1]) between reference and current shares of the frozen bins.',
};

/** Same as scipy.spatial.distance.jensenshannon(reference, current, base=2); no smoothing needed. */
export function jensenShannon(reference: readonly number[], current: readonly number[]): number {
  const p = shares(reference);
  const q = shares(current);
  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    const m = (p[i] + q[i]) / 2;
    if (p[i] > 0) divergence += p[i] * Math.log2(p[i] / m);
    if (q[i] > 0) divergence += q[i] * Math.log2(q[i] / m);
  }
  return Math.sqrt(Math.max(0, divergence / 2));
}
