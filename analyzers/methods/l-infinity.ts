import type { MethodDescriptor } from './method.ts';
import { shares } from './shares.ts';

export const lInfinityDescriptor: MethodDescriptor = {
  name: 'l_infinity',
  appliesTo: ['categorical'],
  defaultThreshold: 0.1,
  higherIsDrift: true,
  description: 'The largest change in any one category share (L-infinity distance of the share vectors).',
};

export function lInfinity(reference: readonly number[], current: readonly number[]): number {
  const p = shares(reference);
  const q = shares(current);
  let max = 0;
  for (let i = 0; i < p.length; i++) max = Math.max(max, Math.abs(p[i] - q[i]));
  return max;
}
