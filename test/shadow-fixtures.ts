import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ShadowSpec } from '../analyzers/shadow/spec.ts';

/** The models, inputs and expected outputs scripts/fixtures/shadow_models.py wrote. */
export const SHADOW_DIR = join(import.meta.dirname, 'fixtures', 'shadow');
export const modelBytes = (name: 'logreg' | 'gbt' | 'regressor' | 'lookup') => readFileSync(join(SHADOW_DIR, `${name}.onnx`));

type Features = Record<string, number | string>;
interface Outputs {
  label?: number[];
  probabilities?: number[][];
  variable?: number[];
}
export interface Expected {
  numeric: string[];
  purposes: string[];
  rows: Features[];
  logreg: { sklearn: Outputs; onnxruntime: Outputs };
  gbt: { sklearn: Outputs; onnxruntime: Outputs };
  regressor: { sklearn: Outputs; onnxruntime: Outputs };
}
export interface TrafficRow {
  features: Features;
  default: number;
  amount: number;
  logreg: { label: number; p1: number };
  gbt: { label: number; p1: number };
  regressor: number;
}

export const expected = JSON.parse(readFileSync(join(SHADOW_DIR, 'expected.json'), 'utf8')) as Expected;
export const traffic = JSON.parse(readFileSync(join(SHADOW_DIR, 'traffic.json'), 'utf8')) as TrafficRow[];

const numericColumns = () => expected.numeric.map((feature) => ({ feature }));

/** Feature mappings of the three fixtures, as a user would register them. */
export const specs = {
  logreg: (over: Partial<ShadowSpec> = {}): ShadowSpec => ({
    name: 'logreg',
    role: 'reference',
    inputs: [{ name: 'float_input', dtype: 'float32', columns: numericColumns() }],
    score: { output: 'probabilities', index: 1, compare_to: 'scores.1' },
    class: { output: 'label' },
    ...over,
  }),
  gbt: (over: Partial<ShadowSpec> = {}): ShadowSpec => ({
    name: 'gbt',
    role: 'challenger',
    inputs: [
      { name: 'num', dtype: 'float32', columns: numericColumns() },
      { name: 'purpose', dtype: 'string', columns: [{ feature: 'purpose' }] },
    ],
    score: { output: 'probabilities', index: 1, compare_to: 'scores.1' },
    class: { output: 'label' },
    ...over,
  }),
  regressor: (over: Partial<ShadowSpec> = {}): ShadowSpec => ({
    name: 'regressor',
    role: 'reference',
    inputs: [{ name: 'X', dtype: 'float32', columns: [...numericColumns(), { feature: 'purpose', one_hot: expected.purposes }] }],
    score: { output: 'variable', compare_to: 'prediction', tolerance: 0.01 },
    ...over,
  }),
};
