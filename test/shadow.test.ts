import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ShadowReport } from '../analyzers/shadow/report.ts';
import { startService, type Service } from '../cli/service.ts';
import { samplePpm } from '../store/shadow-predictions.ts';
import { tempDir, testConfig } from './helpers.ts';
import { waitFor } from './kafka-helpers.ts';
import { modelBytes, SHADOW_DIR, specs, traffic, type TrafficRow } from './shadow-fixtures.ts';

/**
 * Shadow re-scoring end to end on the real engine (chDB) and real models
 * (scikit-learn exported to ONNX, run by onnxruntime-node): registration
 * over the API, scoring of stored events, reports, metrics and a restart.
 */
const dir = tempDir();
const WINDOW = 5 * 60_000;
const config = (extra: Record<string, string> = {}) =>
  testConfig({ DATA_DIR: dir.path, ANALYSIS_WINDOW: '5m', SHADOW_MODEL_DIR: SHADOW_DIR, SHADOW_SAMPLE_SHARE: '1', SHADOW_BATCH_ROWS: '128', ...extra });
let service: Service;

beforeAll(async () => {
  service = await startService(config(), { logger: false });
});
afterAll(async () => {
  await service.close();
  dir.remove();
});

const base = Math.floor(Date.now() / WINDOW) * WINDOW - 24 * WINDOW;
const windowAt = (k: number) => ({ from: base + k * WINDOW, to: base + (k + 1) * WINDOW });

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function send(path: string, items: unknown[]) {
  const { status, body } = await call('POST', path, items);
  expect(status).toBe(200);
  expect(body.rejected).toEqual([]);
}

/** An event as a serving stack that ran the logistic regression would have logged it. */
const logged = (model: string, id: string, ts: number, row: TrafficRow, features = row.features) => ({
  event_id: id,
  model,
  timestamp: ts,
  features,
  prediction: row.logreg.label,
  scores: { '0': 1 - row.logreg.p1, '1': row.logreg.p1 },
});

const report = async (model: string, name: string, w: { from: number; to: number }) => {
  const { status, body } = await call('GET', `/v1/models/${model}/shadow/${name}/report?from=${w.from}&to=${w.to}`);
  expect(status).toBe(200);
  return body as ShadowReport;
};

describe('registration', () => {
  it('registers an uploaded model and one named by path, and lists them with their graphs', async () => {
    const upload = await call('POST', '/v1/models/credit/shadow', { ...specs.logreg(), model_base64: modelBytes('logreg').toString('base64') });
    expect(upload.status).toBe(201);
    expect(upload.body).toMatchObject({ model: 'credit', name: 'logreg', role: 'reference', source: 'upload', model_bytes: modelBytes('logreg').length });
    expect(upload.body.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(upload.body.graph.inputs).toEqual([{ name: 'float_input', isTensor: true, type: 'float32', shape: ['', 4] }]);

    const byPath = await call('POST', '/v1/models/credit/shadow', { ...specs.gbt(), model_path: 'gbt.onnx' });
    expect(byPath.status).toBe(201);
    expect(byPath.body).toMatchObject({ name: 'gbt', role: 'challenger', source: 'gbt.onnx' });

    const list = await call('GET', '/v1/models/credit/shadow');
    expect(list.body.shadows.map((s: { name: string }) => s.name)).toEqual(['gbt', 'logreg']);
  });

  it('documents the shadow routes in the OpenAPI document', async () => {
    const doc = (await call('GET', '/docs/json')).body;
    expect(Object.keys(doc.paths).filter((p) => p.includes('shadow')).sort()).toEqual([
      '/v1/models/{model}/shadow',
      '/v1/models/{model}/shadow/{name}',
      '/v1/models/{model}/shadow/{name}/history',
      '/v1/models/{model}/shadow/{name}/report',
    ]);
    expect(doc.paths['/v1/models/{model}/shadow'].post.requestBody.content['application/json'].schema.required).toEqual(['name', 'role', 'inputs']);
  });

  it('refuses what cannot work, each with a clear reason', async () => {
    const bad = async (body: object, status: number, code: string, message: RegExp) => {
      const answer = await call('POST', '/v1/models/credit/shadow', body);
      expect(answer.status).toBe(status);
      expect(answer.body.code).toBe(code);
      expect(answer.body.message).toMatch(message);
    };
    const corrupt = modelBytes('gbt').subarray(0, 3_000).toString('base64');
    await bad({ ...specs.gbt({ name: 'broken' }), model_base64: corrupt }, 422, 'DW_BAD_MODEL', /not a usable ONNX model/);
    await bad(
      { ...specs.gbt({ name: 'misfit', inputs: [{ name: 'num', dtype: 'float32', columns: [{ feature: 'age' }] }] }), model_path: 'gbt.onnx' },
      422,
      'DW_MODEL_SIGNATURE',
      /input "num" takes 4 columns but the mapping gives 1; model input "purpose" is not mapped/,
    );
    await bad({ ...specs.gbt({ name: 'escape' }), model_path: '../shadow-fixtures.ts' }, 400, 'DW_BAD_BODY', /under SHADOW_MODEL_DIR/);
    await bad({ ...specs.gbt({ name: 'neither' }) }, 400, 'DW_BAD_BODY', /exactly one of model_base64/);
    await bad({ ...specs.gbt({ name: 'b64' }), model_base64: 'not base64!' }, 400, 'DW_BAD_BODY', /not base64/);
    const wrongType = { ...specs.gbt({ name: 'dtype' }), model_path: 'gbt.onnx' };
    (wrongType.inputs[0] as { dtype: string }).dtype = 'complex';
    await bad(wrongType, 400, 'FST_ERR_VALIDATION', /dtype/);
    const listed = await call('GET', '/v1/models/credit/shadow');
    expect(listed.body.shadows).toHaveLength(2);
  });
});

describe('parity and challenger reports', () => {
  // Window 0: the reference period (first half of the traffic), frozen as the baseline.
  // Window 1: all 1,000 rows, with the logged score of 7% and the logged class of another 3% perturbed.
  // Window 2: the second half with debt_ratio shifted up: the challenger's predictions drift.
  const perturbedScore = (i: number) => i % 100 < 7;
  const perturbedClass = (i: number) => i % 100 >= 50 && i % 100 < 53;

  beforeAll(async () => {
    const w0 = windowAt(0);
    const w1 = windowAt(1);
    const w2 = windowAt(2);
    await send('/v1/events', traffic.slice(0, 500).map((row, i) => logged('credit', `r-${i}`, w0.from + i * 100, row)));
    await send(
      '/v1/events',
      traffic.map((row, i) => {
        const e = logged('credit', `w1-${i}`, w1.from + i * 100, row);
        if (perturbedScore(i)) e.scores = { '0': e.scores['0'] - 0.05, '1': e.scores['1'] + 0.05 };
        if (perturbedClass(i)) e.prediction = 1 - row.logreg.label;
        return e;
      }),
    );
    await send(
      '/v1/events',
      traffic.slice(500).map((row, i) =>
        logged('credit', `w2-${i}`, w2.from + i * 100, row, { ...row.features, debt_ratio: Number(row.features.debt_ratio) + 0.35 }),
      ),
    );
    // Labels for every other event of window 1.
    await send('/v1/labels', traffic.flatMap((row, i) => (i % 2 === 0 ? [{ event_id: `w1-${i}`, model: 'credit', label: row.default }] : [])));
    const frozen = await call('POST', '/v1/models/credit/baselines', { from: w0.from, to: w0.to });
    expect(frozen.status).toBe(201);
  });

  it('finds exactly the perturbed share between the logged predictions and the reference model', async () => {
    const r = await report('credit', 'logreg', windowAt(1));
    expect(r.n_sampled).toBe(1000);
    expect(r.n_scored).toBe(1000);
    expect(r.skipped).toEqual({});
    expect(r.comparison.n_checked).toBe(1000);
    expect(r.comparison.mismatch_share).toBe(0.1);
    expect(r.comparison.class_agreement).toBe(0.97);
    // 70 scores off by 0.05, the rest equal up to float32 rounding.
    expect(r.comparison.max_abs_diff).toBeCloseTo(0.05, 5);
    expect(r.comparison.mean_abs_diff).toBeCloseTo((70 * 0.05) / 1000, 5);
  });

  it('puts both models side by side on the labelled events', async () => {
    const r = await report('credit', 'logreg', windowAt(1));
    const labelled = traffic.map((row, i) => ({ row, i })).filter(({ i }) => i % 2 === 0);
    const loggedClass = (row: TrafficRow, i: number) => (perturbedClass(i) ? 1 - row.logreg.label : row.logreg.label);
    const accuracy = (pick: (row: TrafficRow, i: number) => number) => labelled.filter(({ row, i }) => pick(row, i) === row.default).length / labelled.length;
    expect(r.performance.n_labelled).toBe(500);
    expect(r.performance.champion.accuracy).toBeCloseTo(accuracy(loggedClass), 12);
    expect(r.performance.shadow.accuracy).toBeCloseTo(accuracy((row) => row.logreg.label), 12);
    expect(r.performance.champion.accuracy).not.toBe(r.performance.shadow.accuracy);
    const auc = (score: (row: TrafficRow, i: number) => number) => {
      // Mann-Whitney: the share of (positive, negative) pairs the score orders right, ties half.
      const pos = labelled.filter(({ row }) => row.default === 1).map(({ row, i }) => score(row, i));
      const neg = labelled.filter(({ row }) => row.default === 0).map(({ row, i }) => score(row, i));
      let right = 0;
      for (const p of pos) for (const n of neg) right += p > n ? 1 : p === n ? 0.5 : 0;
      return right / (pos.length * neg.length);
    };
    // The logged score is a float64 copy of the model's float32 output: both rank the events alike.
    expect(r.performance.shadow.roc_auc).toBeCloseTo(auc((row) => row.logreg.p1), 6);
    expect(r.performance.champion.roc_auc).toBeCloseTo(auc((row, i) => row.logreg.p1 + (perturbedScore(i) ? 0.05 : 0)), 6);
  });

  it("measures the challenger's agreement and its prediction drift against the baseline period", async () => {
    const calm = await report('credit', 'gbt', windowAt(1));
    const shifted = await report('credit', 'gbt', windowAt(2));
    // The challenger is another model: it agrees with the logged logistic regression often, not always.
    const gbtAgrees = traffic.filter((row, i) => (perturbedClass(i) ? 1 - row.logreg.label : row.logreg.label) === row.gbt.label).length / 1000;
    expect(calm.comparison.class_agreement).toBeCloseTo(gbtAgrees, 12);
    expect(calm.prediction_drift).toMatchObject({ method: 'psi', status: 'ok', n_reference: 500, n_current: 1000 });
    expect(calm.prediction_drift!.score!).toBeLessThan(0.1);
    expect(shifted.prediction_drift!.score!).toBeGreaterThan(0.25);
  });

  it('stores window reports, publishes gauges and counts rows when the scheduler runs a window', async () => {
    await service.scheduler.runWindow(windowAt(1));
    const history = await call('GET', `/v1/models/credit/shadow/logreg/history?from=${windowAt(1).from}`);
    expect(history.body.reports).toHaveLength(1);
    expect(history.body.reports[0]).toMatchObject({ from: new Date(windowAt(1).from).toISOString(), comparison: { mismatch_share: 0.1 } });
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/driftwatch_shadow_mismatch_ratio\{model="credit",shadow="logreg",role="reference"\} 0\.1\n/);
    expect(metrics).toMatch(/driftwatch_shadow_class_agreement_ratio\{model="credit",shadow="logreg"\} 0\.97\n/);
    expect(metrics).toMatch(/driftwatch_shadow_prediction_psi\{model="credit",shadow="gbt"\} /);
    expect(metrics).toMatch(/driftwatch_shadow_performance\{model="credit",shadow="logreg",who="champion",metric="accuracy"\} /);
    // Window 1 scored once by each model (the report above and this run do not score twice).
    expect(metrics).toMatch(/driftwatch_shadow_rows_total\{model="credit",shadow="logreg",outcome="ok"\} 1000\n/);
  });

  it("measures a challenger's prediction drift against the active baseline's period, not a newer baseline's", async () => {
    const [chosen] = (await call('GET', '/v1/models/credit/baselines')).body.baselines;
    expect((await call('PUT', `/v1/models/credit/baselines/${chosen.baseline_id}/active`)).status).toBe(200);
    // Frozen from the shifted window itself: against it, window 2 would not drift at all.
    const w2 = windowAt(2);
    expect((await call('POST', '/v1/models/credit/baselines', { from: w2.from, to: w2.to })).status).toBe(201);
    const shifted = await report('credit', 'gbt', w2);
    expect(shifted.prediction_drift).toMatchObject({ status: 'ok', n_reference: 500 });
    expect(shifted.prediction_drift!.score!).toBeGreaterThan(0.25);
  });
});

describe('a binary challenger of a model that logs a probability', () => {
  // The serving stack logs the logistic regression's probability as the prediction, no class; every event is labelled.
  const w = windowAt(10);
  const challenger = (name: string, score: Record<string, unknown>) => ({
    ...specs.gbt({ name, class: undefined, score: { output: 'probabilities', index: 1, compare_to: 'prediction', ...score } }),
    model_path: 'gbt.onnx',
  });
  beforeAll(async () => {
    await send('/v1/events', traffic.map((row, i) => ({ event_id: `p-${i}`, model: 'credit-p', timestamp: w.from + i * 100, features: row.features, prediction: row.logreg.p1 })));
    await send('/v1/labels', traffic.map((row, i) => ({ event_id: `p-${i}`, model: 'credit-p', label: row.default })));
  });

  /** Accuracy, and precision, recall and F1 of class 1, with the class cut from the score at `threshold`. */
  const expected = (score: (row: TrafficRow) => number, threshold: number) => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    let tn = 0;
    for (const row of traffic) {
      const predicted = score(row) >= threshold ? 1 : 0;
      if (predicted === 1) row.default === 1 ? tp++ : fp++;
      else row.default === 1 ? fn++ : tn++;
    }
    // No event predicted (or labelled) 1: precision (recall) is 0, as classificationMetrics has it.
    const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
    return { accuracy: (tp + tn) / traffic.length, precision, recall, f1: precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0 };
  };

  // The logged logistic regression's probabilities lie between 0.3 and 0.5: at 0.47 it predicts both classes.
  for (const threshold of [undefined, 0.47]) {
    it(`reports accuracy, precision, recall and F1 of the score cut at ${threshold ?? 'the default 0.5'}`, async () => {
      const name = threshold === undefined ? 'gbt-p' : 'gbt-p47';
      const registered = await call('POST', '/v1/models/credit-p/shadow', challenger(name, threshold === undefined ? {} : { threshold }));
      expect(registered.status).toBe(201);
      const r = await report('credit-p', name, w);
      const cut = threshold ?? 0.5;
      expect(r.performance.n_labelled).toBe(1000);
      expect(r.performance.threshold).toBe(cut);
      const champion = expected((row) => row.logreg.p1, cut);
      const shadow = expected((row) => row.gbt.p1, cut);
      for (const metric of ['accuracy', 'precision', 'recall', 'f1'] as const) {
        expect(r.performance.champion[metric], `champion ${metric}`).toBeCloseTo(champion[metric], 12);
        expect(r.performance.shadow[metric], `shadow ${metric}`).toBeCloseTo(shadow[metric], 12);
      }
      // Before the cut, the logged probability was compared as text with the label: accuracy 0.
      expect(r.performance.champion.accuracy).toBeGreaterThan(0.4);
      expect(r.performance.shadow.accuracy).toBeGreaterThan(0.6);
      expect(r.performance.shadow.roc_auc).toBeGreaterThan(0.6);
    });
  }

  it('the threshold moves the classes', async () => {
    const [half, low] = [await report('credit-p', 'gbt-p', w), await report('credit-p', 'gbt-p47', w)];
    expect(low.performance.shadow.recall).toBeGreaterThan(half.performance.shadow.recall);
    expect(low.performance.shadow.roc_auc).toBe(half.performance.shadow.roc_auc);
  });

  it('refuses with 422 and the reason a mapping that compares a probability with a class label', async () => {
    const asClass = await call('POST', '/v1/models/credit-p/shadow', { ...challenger('as-class', {}), class: { output: 'probabilities', index: 1 } });
    expect(asClass.status).toBe(422);
    expect(asClass.body.code).toBe('DW_MODEL_SIGNATURE');
    expect(asClass.body.message).toMatch(/class output "probabilities" is float32, a score rather than a class label/);
    const both = await call('POST', '/v1/models/credit-p/shadow', { ...challenger('both', {}), class: { output: 'label' } });
    expect(both.status).toBe(422);
    expect(both.body.code).toBe('DW_MODEL_SIGNATURE');
    expect(both.body.message).toMatch(/both compared with the logged prediction, which cannot be a probability and a class label/);
  });
});

describe('sampling, bad events, the live pass and restarts', () => {
  it('re-scores the configured share of events, chosen by event id', async () => {
    const w = windowAt(4);
    const rows = Array.from({ length: 5000 }, (_, i) => traffic[i % 1000]);
    await send('/v1/events', rows.map((row, i) => ({ event_id: `a-${i}`, model: 'amount', timestamp: w.from + i * 50, features: row.features, prediction: row.regressor })));
    const registered = await call('POST', '/v1/models/amount/shadow', { ...specs.regressor({ sample_share: 0.1 }), model_path: 'regressor.onnx' });
    expect(registered.status).toBe(201);
    const r = await report('amount', 'regressor', w);
    // Binomial(5000, 0.1): mean 500, sd 21; the hash sample must land within 4 sd.
    expect(r.n_sampled).toBeGreaterThan(500 - 85);
    expect(r.n_sampled).toBeLessThan(500 + 85);
    expect(r.n_scored).toBe(r.n_sampled);
    expect(r.comparison.mismatch_share).toBe(0);
    expect(r.comparison.max_abs_diff).toBeLessThan(0.01);
    expect(samplePpm(0.1)).toBe(100_000);
  });

  it('counts events the mapping cannot feed as skips by reason, and ingest stores them all', async () => {
    const w = windowAt(6);
    const row = traffic[0];
    const { age: _age, ...noAge } = row.features;
    const events = [
      ...Array.from({ length: 10 }, (_, i) => logged('credit', `miss-${i}`, w.from + i, row, noAge)),
      ...Array.from({ length: 5 }, (_, i) => logged('credit', `text-${i}`, w.from + 100 + i, row, { ...row.features, age: 'old' })),
      ...Array.from({ length: 20 }, (_, i) => logged('credit', `fine-${i}`, w.from + 200 + i, row)),
    ];
    await send('/v1/events', events);
    const r = await report('credit', 'logreg', w);
    expect(r.skipped).toEqual({ missing_feature: 10, type_mismatch: 5 });
    expect(r.n_scored).toBe(20);
    expect(r.comparison.mismatch_share).toBe(0);
  });

  it('a model that throws on some events costs only those events: ingest, drift analysis and the other rows go on', async () => {
    const w = windowAt(8);
    const table = [0.25, 0.5, 0.75];
    // lookup.onnx gathers from a table of three values: i = 3 is out of bounds and onnxruntime throws.
    const events = Array.from({ length: 40 }, (_, k) => ({
      event_id: `lk-${k}`,
      model: 'lookup',
      timestamp: w.from + k,
      features: { i: k % 4 },
      prediction: table[k % 4] ?? 0,
    }));
    await send('/v1/events', events);
    const spec = { name: 'lookup', role: 'reference', inputs: [{ name: 'x', dtype: 'float32', columns: [{ feature: 'i' }] }], score: { output: 'y', compare_to: 'prediction' } };
    expect((await call('POST', '/v1/models/lookup/shadow', { ...spec, model_path: 'lookup.onnx' })).status).toBe(201);
    const drift = await service.scheduler.runWindow(w);
    expect(drift.map((r) => r.model)).toContain('credit');
    const history = await call('GET', `/v1/models/lookup/shadow/lookup/history?from=${w.from}`);
    expect(history.body.reports[0]).toMatchObject({ n_sampled: 40, n_scored: 30, skipped: { run_error: 10 }, comparison: { mismatch_share: 0 } });
    expect((await call('DELETE', '/v1/models/lookup/shadow/lookup')).status).toBe(204);
  });

  it('the live pass stores shadow predictions next to fresh events without a report', async () => {
    const now = Date.now();
    await send('/v1/events', traffic.slice(0, 50).map((row, i) => logged('credit', `live-${i}`, now - 20_000 + i, row)));
    // The live pass takes what is stored; a 200 (journaled ingest) can come just before that.
    const stored = async () =>
      Number((await service.sql.query<{ n: number }>("SELECT count() AS n FROM events WHERE model = 'credit' AND startsWith(event_id, 'live-')"))[0].n);
    await waitFor(async () => (await stored()) === 50, 10_000, 'the live events to be stored');
    await service.shadow.scorer.pass();
    const [row] = await service.sql.query<{ n: number }>(
      `SELECT count() AS n FROM shadow_predictions WHERE model = 'credit' AND shadow = 'logreg' AND startsWith(event_id, 'live-') AND status = 'ok'`,
    );
    expect(Number(row.n)).toBe(50);
  });

  it('keeps registrations, their revisions and predictions across a restart, and forgets deleted ones', async () => {
    const before = (await call('GET', '/v1/models/credit/shadow')).body.shadows.map((s: { name: string; revision: string }) => [s.name, s.revision]);
    await service.close();
    service = await startService(config(), { logger: false });
    const after = (await call('GET', '/v1/models/credit/shadow')).body.shadows.map((s: { name: string; revision: string }) => [s.name, s.revision]);
    expect(after).toEqual(before);
    // Already scored before the restart: the report scores nothing again.
    const r = await report('credit', 'logreg', windowAt(1));
    expect(r.n_scored).toBe(1000);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).not.toMatch(/driftwatch_shadow_rows_total\{model="credit",shadow="logreg"/);

    expect((await call('DELETE', '/v1/models/credit/shadow/gbt')).status).toBe(204);
    expect((await call('GET', '/v1/models/credit/shadow/gbt')).status).toBe(404);
    await service.close();
    service = await startService(config(), { logger: false });
    expect((await call('GET', '/v1/models/credit/shadow')).body.shadows.map((s: { name: string }) => s.name)).toEqual(['logreg']);
  });

  it('needs an API key to register or delete when keys are configured', async () => {
    await service.close();
    service = await startService(config({ API_KEYS: 'k1' }), { logger: false });
    const post = (auth?: string) =>
      fetch(`${service.url}/v1/models/m/shadow`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify({ ...specs.logreg(), model_path: 'logreg.onnx' }),
      });
    expect((await post()).status).toBe(401);
    expect((await fetch(`${service.url}/v1/models/credit/shadow/logreg`, { method: 'DELETE' })).status).toBe(401);
    expect((await post('Bearer k1')).status).toBe(201);
    expect((await fetch(`${service.url}/v1/models/credit/shadow/logreg`, { method: 'DELETE', headers: { authorization: 'Bearer k1' } })).status).toBe(204);
  });
});
