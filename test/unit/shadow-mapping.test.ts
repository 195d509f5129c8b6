import { describe, expect, it } from 'vitest';
import { encodeBatch } from '../../analyzers/shadow/encode.ts';
import { checkSignature, comparedField, type Graph, type InputSpec, type ShadowSpec } from '../../analyzers/shadow/spec.ts';

describe('encodeBatch', () => {
  const inputs: InputSpec[] = [
    {
      name: 'x',
      dtype: 'float32',
      columns: [
        { feature: 'income' },
        { feature: 'purpose', one_hot: ['car', 'home'] },
        { feature: 'grade', ordinal: ['a', 'b', 'c'], unknown: 9 },
        { feature: 'is_new' },
        { feature: 'score', default: 600 },
        { feature: 'gap', missing: 'nan' },
      ],
    },
    { name: 's', dtype: 'string', columns: [{ feature: 'purpose' }, { feature: 'zip' }] },
  ];

  it('builds one [rows, width] tensor per input, expanding one-hot and ordinal columns', () => {
    const batch = encodeBatch(inputs, [
      { num: { income: 50_000, gap: 1.5, zip: 10115 }, cat: { purpose: 'home', grade: 'c', is_new: 'true' } },
      { num: { income: 20_000, score: 700, zip: 2 }, cat: { purpose: 'boat', grade: 'z', is_new: 'false' } },
    ]);
    expect(batch.kept).toEqual([0, 1]);
    expect(batch.skipped).toEqual([]);
    expect(batch.inputs[0].dims).toEqual([2, 7]);
    expect(Array.from(batch.inputs[0].data as Float32Array)).toEqual([50_000, 0, 1, 2, 1, 600, 1.5, 20_000, 0, 0, 9, 0, 700, Number.NaN]);
    expect(batch.inputs[1]).toMatchObject({ dims: [2, 2], data: ['home', '10115', 'boat', '2'] });
  });

  it('skips an event that lacks a feature without a default, or sends text for a number, and keeps the rest', () => {
    const batch = encodeBatch(inputs, [
      { num: { zip: 1 }, cat: { purpose: 'car', grade: 'a', is_new: 'true' } },
      { num: { income: 'x' as unknown as number, zip: 1 }, cat: { purpose: 'car', grade: 'a', is_new: 'maybe' } },
      { num: { income: 1, zip: 1 }, cat: { purpose: 'car', grade: 'a', is_new: 'true' } },
    ]);
    expect(batch.skipped).toEqual([
      { index: 0, reason: 'missing_feature' },
      { index: 1, reason: 'type_mismatch' },
    ]);
    expect(batch.kept).toEqual([2]);
    expect(batch.inputs[0].dims).toEqual([1, 7]);
  });

  it('writes int64 inputs as BigInt and leaves an empty batch empty', () => {
    const batch = encodeBatch([{ name: 'i', dtype: 'int64', columns: [{ feature: 'n' }] }], [{ num: { n: 7.9 }, cat: {} }]);
    expect(batch.inputs[0].data).toEqual(new BigInt64Array([7n]));
    expect(encodeBatch(inputs, []).inputs[0].dims).toEqual([0, 7]);
  });
});

describe('checkSignature', () => {
  const graph: Graph = {
    inputs: [
      { name: 'num', isTensor: true, type: 'float32', shape: ['', 4] },
      { name: 'purpose', isTensor: true, type: 'string', shape: ['', 1] },
    ],
    outputs: [
      { name: 'label', isTensor: true, type: 'int64', shape: [''] },
      { name: 'probabilities', isTensor: true, type: 'float32', shape: ['', 2] },
      { name: 'zip', isTensor: false },
    ],
  };
  const spec = (over: Partial<ShadowSpec> = {}): ShadowSpec => ({
    name: 's',
    role: 'reference',
    inputs: [
      { name: 'num', dtype: 'float32', columns: ['a', 'b', 'c', 'd'].map((feature) => ({ feature })) },
      { name: 'purpose', dtype: 'string', columns: [{ feature: 'p' }] },
    ],
    score: { output: 'probabilities', index: 1, compare_to: 'scores.1' },
    class: { output: 'label' },
    ...over,
  });

  it('accepts a mapping that fits', () => {
    expect(checkSignature(spec(), graph)).toEqual([]);
  });

  it('names every mismatch: unknown input, wrong dtype, width, unfed input, bad outputs', () => {
    const problems = checkSignature(
      spec({
        inputs: [
          { name: 'num', dtype: 'float64', columns: [{ feature: 'a' }, { feature: 'b' }] },
          { name: 'extra', dtype: 'float32', columns: [{ feature: 'e' }] },
        ],
        score: { output: 'probabilities', index: 2, compare_to: 'nonsense' },
        class: { output: 'zip' },
      }),
      graph,
    );
    expect(problems).toEqual([
      'input "num" is float32 in the model, not float64',
      'input "num" takes 4 columns but the mapping gives 2',
      'input "extra" is not an input of the model (it has: num, purpose)',
      'model input "purpose" is not mapped from any feature',
      'score output "probabilities" has 2 columns; index 2 is out of range',
      'class output "zip" is not a tensor (a ZipMap? export classifiers with zipmap=False)',
      'score compare_to "nonsense" must be "prediction" or "scores.<class>"',
    ]);
  });

  it('refuses NaN for missing values of a string input and a spec that compares nothing', () => {
    const s = spec({ score: undefined, class: undefined });
    s.inputs[1].columns[0].missing = 'nan';
    expect(checkSignature(s, graph)).toEqual([
      'input "purpose", feature "p": missing "nan" needs a float input',
      'nothing to compare: give a score output, a class output, or both',
    ]);
  });

  it('refuses a mapping that compares a probability with a class label', () => {
    expect(checkSignature(spec({ class: { output: 'probabilities', index: 1 } }), graph)).toEqual([
      'class output "probabilities" is float32, a score rather than a class label; map it as the score (its class is the score at or above score.threshold)',
    ]);
    expect(checkSignature(spec({ score: { output: 'probabilities', index: 1, compare_to: 'prediction' } }), graph)).toEqual([
      'the score and the class output are both compared with the logged prediction, which cannot be a probability and a class label at once: compare the score with "scores.<class>", or drop the class output (a binary class is then the score at or above score.threshold)',
    ]);
    expect(checkSignature(spec({ score: { output: 'probabilities', index: 1, compare_to: 'prediction', threshold: 0.3 }, class: undefined }), graph)).toEqual([]);
  });

  it('reads compare_to', () => {
    expect(comparedField('prediction')).toEqual({ kind: 'prediction' });
    expect(comparedField('scores.yes')).toEqual({ kind: 'score', cls: 'yes' });
    expect(comparedField('scores.')).toBeNull();
  });
});
