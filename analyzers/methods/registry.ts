import { chiSquareDescriptor } from './chi-square.ts';
import { ksDescriptor } from './ks.ts';
import type { MethodDescriptor } from './method.ts';
import { psiDescriptor } from './psi.ts';

export const METHODS: readonly MethodDescriptor[] = [psiDescriptor, ksDescriptor, chiSquareDescriptor];
