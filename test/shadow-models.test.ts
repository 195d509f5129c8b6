import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureRow } from '../analyzers/shadow/encode.ts';
import { checkModel, loadModel, ModelLoadError, type LoadedModel, type RowResult } from '../analyzers/shadow/model.ts';
import { checkSignature, type ShadowSpec } from '../analyzers/shadow/spec.ts';
import { expected, modelBytes, specs } from './shadow-fixtures.ts';

/** Real scikit-learn models exported by skl2onnx, run by onnxruntime-node, against what Python computed. */
const rows: FeatureRow[] = expected.rows.map((features) => {
  const num: Record<string, number> = {};
  const cat: Record<string, string> = {};
  for (const [k, v] of Object.entries(features)) {
    if (typeof v === 'number') num[k] = v;
    else cat[k] = v;
  }
  return { num, cat };
});

const scores = (results: RowResult[]) => results.map((r) => (r.ok ? r.prediction.score : Number.NaN));
const classes = (results: RowResult[]) => results.map((r) => (r.ok ? r.prediction.cls : null));

describe.each(['logreg', 'gbt'] as const)('%s classifier', (name) => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await loadModel(modelBytes(name));
  });
  afterAll(() => model.close());

  it('reports its graph and accepts the fixture mapping', () => {
    expect(model.graph.inputs.length).toBe(name === 'gbt' ? 2 : 1);
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['label', 'probabilities']);
  });

  it('matches onnxruntime in Python to 1e-6 and scikit-learn to 1e-5 on the fixture rows', async () => {
    const results = await model.score(specs[name](), rows);
    const ort = expected[name].onnxruntime;
    const sk = expected[name].sklearn;
    scores(results).forEach((s, i) => {
      expect(Math.abs(s! - ort.probabilities![i][1])).toBeLessThan(1e-6);
      expect(Math.abs(s! - sk.probabilities![i][1])).toBeLessThan(1e-5);
    });
    expect(classes(results)).toEqual(sk.label!.map(String));
    expect(classes(results)).toEqual(ort.label!.map(String));
  });

  it('gives the same answers batched and one run per row', async () => {
    const batched = await model.score(specs[name](), rows);
    const single = await model.scoreEach(specs[name](), rows);
    expect(scores(single)).toEqual(scores(batched));
  });
});

describe('regressor with one-hot encoding done by the mapping', () => {
  it('matches onnxruntime in Python and scikit-learn (float32 model: relative 1e-5)', async () => {
    const model = await loadModel(modelBytes('regressor'));
    try {
      const results = await model.score(specs.regressor(), rows);
      scores(results).forEach((s, i) => {
        expect(Math.abs(s! - expected.regressor.onnxruntime.variable![i])).toBeLessThan(1e-6 * Math.abs(s!) + 1e-3);
        expect(Math.abs(s! - expected.regressor.sklearn.variable![i]) / Math.abs(s!)).toBeLessThan(1e-5);
      });
      expect(classes(results).every((c) => c === null)).toBe(true);
    } finally {
      await model.close();
    }
  });
});

describe('bad models and inputs', () => {
  it('refuses a corrupt file with onnxruntime\'s reason', async () => {
    const bytes = modelBytes('gbt').subarray(0, 2_000);
    await expect(loadModel(bytes)).rejects.toThrow(ModelLoadError);
    await expect(loadModel(Buffer.from('not a model'))).rejects.toThrow(/not a usable ONNX model: .*protobuf/);
  });

  it('names why a mapping cannot feed the graph', async () => {
    const { model, problems } = await checkModel(modelBytes('logreg'), specs.logreg({ inputs: [{ name: 'float_input', dtype: 'float32', columns: [{ feature: 'age' }] }] }));
    await model.close();
    expect(problems).toEqual(['input "float_input" takes 4 columns but the mapping gives 1']);
  });

  it('counts NaN outputs from NaN inputs as skips and scores the rest of the batch', async () => {
    const model = await loadModel(modelBytes('logreg'));
    try {
      const spec = specs.logreg();
      spec.inputs[0].columns[0] = { feature: 'annual_income', missing: 'nan' };
      const withGap = rows.slice(0, 3).map((r, i) => (i === 1 ? { num: { ...r.num, annual_income: undefined as never }, cat: r.cat } : r));
      delete (withGap[1].num as Record<string, unknown>).annual_income;
      const results = await model.score(spec, withGap);
      expect(results[1]).toEqual({ ok: false, reason: 'nan_output' });
      expect(results[0].ok && results[2].ok).toBe(true);
    } finally {
      await model.close();
    }
  });

  it('isolates a row that makes the model throw at run time; the rest of the batch is scored', async () => {
    // lookup.onnx gathers from a table of three values: index 7 is out of bounds and onnxruntime throws.
    const model = await loadModel(modelBytes('lookup'));
    try {
      const spec: ShadowSpec = {
        name: 'lookup',
        role: 'reference',
        inputs: [{ name: 'x', dtype: 'float32', columns: [{ feature: 'i' }] }],
        score: { output: 'y', compare_to: 'prediction' },
      };
      expect(checkSignature(spec, model.graph)).toEqual([]);
      const results = await model.score(spec, [0, 2, 7, 1].map((i) => ({ num: { i }, cat: {} })));
      expect(results.map((r) => (r.ok ? r.prediction.score : r.reason))).toEqual([0.25, 0.75, 'run_error', 0.5]);
      expect(results[2].ok ? '' : results[2].detail).toMatch(/out of bounds|indices/i);
    } finally {
      await model.close();
    }
  });
});
