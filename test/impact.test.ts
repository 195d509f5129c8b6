import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { countEvents } from '../store/events.ts';
import { seeded, tempDir, testConfig } from './helpers.ts';
import { logisticModel, sigmoid } from './impact-fixtures.ts';
import { waitFor } from './kafka-helpers.ts';

/**
 * Drift impact (issue 19 item 3) end to end on the real engine (chDB) and a
 * real ONNX model run by onnxruntime-node: two features drift by the same
 * amount, the model depends on one and not the other, and impact tells them
 * apart, with the model (permutation) and without (association with the
 * logged prediction).
 */
const dir = tempDir();
const HOUR = 3_600_000;
let service: Service;

beforeAll(async () => {
  service = await startService(testConfig({ DATA_DIR: dir.path }), { logger: false });
});
afterAll(async () => {
  await service.close();
  dir.remove();
});

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const base = Math.floor(Date.now() / HOUR) * HOUR - 10 * HOUR;
const reference = { from: base, to: base + HOUR };
const bothShifted = { from: base + HOUR, to: base + 2 * HOUR };
const usedShifted = { from: base + 2 * HOUR, to: base + 3 * HOUR };
const unusedShifted = { from: base + 3 * HOUR, to: base + 4 * HOUR };
const N = 1500;
const COLORS = ['red', 'green', 'blue'];
const COLOR_EFFECT: Record<string, number> = { red: -1.5, green: 0, blue: 1.5 };

/**
 * Events whose logged prediction is what the model computes, sigmoid(2 *
 * used + color effect): `unused` and `shade` travel along, independent of it.
 * `shift` moves the numeric features by that many standard deviations.
 */
async function sendRange(model: string, range: { from: number; to: number }, shift: { used?: number; unused?: number }, seed: number, classes = false) {
  const { normal, random } = seeded(seed);
  const events = Array.from({ length: N }, (_, i) => {
    const used = normal(shift.used ?? 0);
    const unused = normal(shift.unused ?? 0);
    const color = COLORS[Math.floor(random() * 3)];
    const shade = COLORS[Math.floor(random() * 3)];
    return {
      event_id: `${model}-${seed}-${i}`,
      model,
      timestamp: range.from + Math.floor((i * (range.to - range.from)) / N),
      features: { used, unused, color, shade },
      // A classifier that logs only its class: the same model, cut at 0.5.
      prediction: classes ? (2 * used + COLOR_EFFECT[color] > 0 ? 'high' : 'low') : sigmoid(2 * used + COLOR_EFFECT[color]),
    };
  });
  for (let at = 0; at < events.length; at += 500) {
    const { status, body } = await call('POST', '/v1/events', events.slice(at, at + 500));
    expect(status).toBe(200);
    expect(body.rejected).toEqual([]);
  }
  await waitFor(async () => (await countEvents(service.sql, model, range.from, range.to)) === N, 60_000, `${model}'s events stored`);
}

async function prepare(model: string) {
  await sendRange(model, reference, {}, 1);
  await sendRange(model, bothShifted, { used: 1, unused: 1 }, 2);
  await sendRange(model, usedShifted, { used: 1 }, 3);
  await sendRange(model, unusedShifted, { unused: 1 }, 4);
  const frozen = await call('POST', `/v1/models/${model}/baselines`, reference);
  expect(frozen.status).toBe(201);
  return frozen.body.baseline_id as string;
}

type Feature = { feature: string; drifted: boolean; score: number; impact: number | null };
async function drift(model: string, range: { from: number; to: number }) {
  const { status, body } = await call('GET', `/v1/models/${model}/drift?from=${range.from}&to=${range.to}`);
  expect(status).toBe(200);
  const by = Object.fromEntries((body.features as Feature[]).map((f) => [f.feature, f]));
  return { body, by };
}

/** The spec a user registers the ONNX copy of the served model with: it reads both numeric features. */
const registration = (weights: number[]) => ({
  name: 'served-copy',
  role: 'reference',
  inputs: [{ name: 'x', dtype: 'float32', columns: [{ feature: 'used' }, { feature: 'unused' }] }],
  score: { output: 'y', compare_to: 'prediction', tolerance: 0.01 },
  model_base64: Buffer.from(logisticModel(weights)).toString('base64'),
});

describe('drift impact', () => {
  it('without a model: association with the logged prediction ranks the feature the prediction follows first', async () => {
    await prepare('assoc');
    const { body, by } = await drift('assoc', bothShifted);
    // Same shift, same drift: the drift score alone cannot tell them apart.
    expect(by.used.drifted).toBe(true);
    expect(by.unused.drifted).toBe(true);
    expect(Math.abs(by.used.score - by.unused.score)).toBeLessThan(0.5 * Math.max(by.used.score, by.unused.score));
    expect(body.impact_method).toBe('spearman+mutual_information');
    expect(by.used.impact).toBeGreaterThan(0.5);
    expect(by.unused.impact).toBeLessThan(0.02);
    // Categorical: mutual information with the prediction; color moves it, shade does not.
    expect(by.color.impact).toBeGreaterThan(10 * by.shade.impact!);
    const total = Object.values(by).reduce((a, f) => a + (f.impact ?? 0), 0);
    expect(total).toBeCloseTo(1, 6);
    expect(body.drift_impact.ranking.map((r: { feature: string }) => r.feature)).toEqual(['used', 'unused']);
  });

  it('without a model, for a predicted class: mutual information for numeric features too, binned on the baseline edges', async () => {
    await sendRange('classes', reference, {}, 5, true);
    await sendRange('classes', bothShifted, { used: 1, unused: 1 }, 6, true);
    expect((await call('POST', '/v1/models/classes/baselines', reference)).status).toBe(201);
    const { body, by } = await drift('classes', bothShifted);
    expect(body.impact_method).toBe('mutual_information');
    expect(by.used.impact).toBeGreaterThan(10 * by.unused.impact!);
    expect(by.color.impact).toBeGreaterThan(10 * by.shade.impact!);
    expect(body.drift_impact.ranking[0].feature).toBe('used');
  });

  it('with the reference ONNX model: permutation importance, measured once the model is registered after the baseline', async () => {
    const baselineId = await prepare('perm');
    const before = await drift('perm', bothShifted);
    expect(before.body.impact_method).toBe('spearman+mutual_information');

    // A copy of the served model: it reads `unused` and gives it no weight.
    const registered = await call('POST', '/v1/models/perm/shadow', registration([2, 0]));
    expect(registered.status).toBe(201);
    const { body, by } = await drift('perm', bothShifted);
    expect(body.impact_method).toBe('permutation');
    expect(by.used.drifted && by.unused.drifted).toBe(true);
    // The model reads no color or shade, and gives `unused` a weight of 0: all the impact is on `used`.
    expect(by.used.impact).toBeCloseTo(1, 6);
    expect(by.unused.impact).toBe(0);
    expect(by.color.impact).toBe(0);
    expect(body.drift_impact).toMatchObject({ method: 'permutation', share: 1, prediction_drifted: true });
    expect(body.drift_impact.ranking[0]).toMatchObject({ feature: 'used', impact: by.used.impact });

    // Frozen with the baseline, from this model's revision.
    const stored = await call('GET', `/v1/models/perm/baselines/${baselineId}`);
    expect(stored.status).toBe(200);
    expect(stored.body.impact).toMatchObject({ method: 'permutation', output: 'score', source: expect.stringMatching(/^onnx:served-copy:/) });
    expect(stored.body.impact.n_sample).toBe(N);
    expect(stored.body.impact.raw.used).toBeGreaterThan(0.05);

    // A new revision that weighs the other feature: measured again, the ranking follows it.
    expect((await call('POST', '/v1/models/perm/shadow', registration([0, 2]))).status).toBe(201);
    const swapped = await drift('perm', bothShifted);
    expect(swapped.by.unused.impact).toBeCloseTo(1, 6);
    expect(swapped.by.used.impact).toBe(0);
  });

  it('drift_impact: which share of the impact the drifted features hold', async () => {
    // `perm` now has the model weighing `unused`; `assoc` has no model, its prediction follows `used`.
    const onUsed = await drift('assoc', usedShifted);
    expect(onUsed.body.drifted_features).toContain('used');
    expect(onUsed.body.drifted_features).not.toContain('unused');
    expect(onUsed.body.drift_impact.share).toBeGreaterThan(0.5);
    expect(onUsed.body.drift_impact.prediction_drifted).toBe(true);

    const onUnused = await drift('assoc', unusedShifted);
    expect(onUnused.body.drifted_features).toEqual(['unused']);
    expect(onUnused.body.drift_impact.share).toBeLessThan(0.02);
    expect(onUnused.body.drift_impact.prediction_drifted).toBe(false);
  });

  it('is kept in history and published at /metrics for the scheduled window', async () => {
    await service.scheduler.runWindow(usedShifted, { models: ['assoc'] });
    const history = await call('GET', `/v1/models/assoc/drift/history?from=${usedShifted.from}&to=${usedShifted.to}`);
    expect(history.status).toBe(200);
    const [stored] = history.body.windows;
    expect(stored.impact_method).toBe('spearman+mutual_information');
    expect(stored.drift_impact.share).toBeGreaterThan(0.5);
    const used = stored.features.find((f: Feature) => f.feature === 'used');
    expect(used.impact).toBeGreaterThan(0.5);
    const text = await (await fetch(`${service.url}/metrics`)).text();
    const gauge = text.match(/driftwatch_feature_drift_impact\{model="assoc",feature="used"\} ([0-9.e-]+)/);
    expect(Number(gauge?.[1])).toBeCloseTo(used.impact, 9);
    expect(text).toMatch(/driftwatch_drifted_impact_ratio\{model="assoc"\} 0\.[5-9]/);
  });
});
