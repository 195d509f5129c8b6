import { chiSquareDescriptor } from './chi-square.ts';
import { hellingerDescriptor } from './hellinger.ts';
import { jensenShannonDescriptor } from './jensen-shannon.ts';
import { ksDescriptor } from './ks.ts';
import { lInfinityDescriptor } from './l-infinity.ts';
import type { MethodDescriptor } from './method.ts';
import { psiDescriptor } from './psi.ts';
import { wassersteinDescriptor } from './wasserstein.ts';

export const METHODS: readonly MethodDescriptor[] = [
  psiDescriptor,
  ksDescriptor,
  chiSquareDescriptor,
  jensenShannonDescriptor,
  hellingerDescriptor,
  lInfinityDescriptor,
  wassersteinDescriptor,
];
