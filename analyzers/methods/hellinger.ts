import type { MethodDescriptor } from './method.ts';
import { shares } from './shares.ts';

export const hellingerDescriptor: MethodDescriptor = {
  name: 'hellinger',
  appliesTo: ['numeric', 'categorical'],
  defaultThreshold: 0.1,
  higherIsDrift: true,
  description: 'Hellinger distance (in [0, 1]) between reference and current shares of the frozen bins.',
};

/** H = sqrt(1 - sum sqrt(p_i q_i)), the Bhattacharyya-coefficient form. */
export function hellinger(reference: readonly number[], current: readonly number[]): number {
  const p = shares(reference);
  const q = shares(current);
  let coefficient = 0;
  for (let i = 0; i < p.length; i++) coefficient += Math.sqrt(p[i] * q[i]);
  return Math.sqrt(Math.max(0, 1 - coefficient));
}
