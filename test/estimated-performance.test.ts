import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { seeded, tempDir, testConfig } from './helpers.ts';

/**
 * Issue 19 item 1: performance estimated without labels (CBPE), through the
 * real service and engine. Events and labels are POSTed, a baseline frozen
 * over HTTP, windows analysed by GET /drift. The data has known calibrated
 * probabilities: the label depends on x only, the logged score is a
 * miscalibrated but monotone function of x, so P(label | score) is the
 * same in every window while x shifts (covariate shift), which is what
 * CBPE assumes. Fixed seeds; 40 windows per task.
 */
const dir = tempDir();
let service: Service;
beforeAll(async () => {
  service = await startService(testConfig({ DATA_DIR: dir.path, ANALYSIS_WINDOW: '1m' }), { logger: false });
}, 60_000);
afterAll(async () => {
  await service.close();
  dir.remove();
});

const MINUTE = 60_000;
const T0 = Date.now() - 200 * MINUTE;
const WINDOWS = 40;
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

async function post(path: string, body: unknown) {
  const response = await fetch(`${service.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
  return response.json();
}

interface Row {
  event: Record<string, unknown>;
  label: number | string;
}

/**
 * 20,000 reference rows over the first ten minutes, then WINDOWS one-minute
 * windows of 1,500 from minute 20 on, in which the mean of x walks from -0.8
 * to +0.8 (covariate shift): accuracy, precision and recall all move.
 */
function underCovariateShift(make: (id: string, ts: number, shift: number) => Row): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < 20_000; i++) rows.push(make(`r${i}`, T0 + (i * 10 * MINUTE) / 20_000, 0));
  for (let w = 0; w < WINDOWS; w++) {
    const shift = -0.8 + (1.6 * w) / (WINDOWS - 1);
    for (let i = 0; i < 1500; i++) rows.push(make(`w${w}-${i}`, T0 + (w + 20) * MINUTE + i * 30, shift));
  }
  return rows;
}

async function load(model: string, rows: Row[]) {
  for (let i = 0; i < rows.length; i += 5000) {
    const chunk = rows.slice(i, i + 5000);
    await post('/v1/events', chunk.map((r) => r.event));
    await post('/v1/labels', chunk.map((r) => ({ model, event_id: r.event.event_id, label: r.label, timestamp: (r.event.timestamp as number) + 1000 })));
  }
}

type Window = { estimated_performance: { n_events: number; metrics: Record<string, { value: number; lower: number; upper: number; realized: number | null; sampling_error: number }> } | null };

async function drift(model: string, from: number): Promise<Window> {
  const response = await fetch(`${service.url}/v1/models/${model}/drift?from=${from}&to=${from + MINUTE}`);
  expect(response.status).toBe(200);
  return response.json() as Promise<Window>;
}

/** Share of the windows whose realized value lies within the estimate's band, per metric. */
async function coverage(model: string, windows: number, unrealized: string[] = []) {
  const inside: Record<string, number> = {};
  const errors: Record<string, number[]> = {};
  for (let w = 0; w < windows; w++) {
    const report = await drift(model, T0 + (w + 20) * MINUTE);
    const est = report.estimated_performance!;
    expect(est).not.toBeNull();
    for (const [name, m] of Object.entries(est.metrics)) {
      if (unrealized.includes(name)) {
        expect(m.realized, name).toBeNull();
        continue;
      }
      expect(m.realized, name).not.toBeNull();
      inside[name] = (inside[name] ?? 0) + Number(m.realized! >= m.lower && m.realized! <= m.upper);
      (errors[name] ??= []).push(Math.abs(m.value - m.realized!));
    }
  }
  return { share: Object.fromEntries(Object.entries(inside).map(([k, v]) => [k, v / windows])), errors };
}

describe('estimated performance (CBPE) under covariate shift', () => {
  it('binary: the realized metric is within the band in at least 90% of 40 windows', async () => {
    const { normal, random } = seeded(19);
    const model = 'cbpe-binary';
    const make = (id: string, ts: number, shift: number): Row => {
      const x = normal(shift, 1);
      return {
        event: { model, event_id: id, timestamp: ts, features: { x }, prediction: sigmoid(1.3 * x + 0.4) },
        label: Number(random() < sigmoid(2 * x)),
      };
    };
    await load(model, underCovariateShift(make));
    await post(`/v1/models/${model}/baselines`, { from: T0, to: T0 + 10 * MINUTE });

    const { share, errors } = await coverage(model, WINDOWS);
    expect(Object.keys(share).sort()).toEqual(['accuracy', 'f1', 'precision', 'recall', 'roc_auc']);
    for (const [name, s] of Object.entries(share)) expect(s, `${name}: ${s}`).toBeGreaterThanOrEqual(0.9);
    // The shift is real: precision moves far more across the windows than the estimate misses by.
    const meanError = errors.precision.reduce((a, b) => a + b, 0) / WINDOWS;
    const first = await drift(model, T0 + 20 * MINUTE);
    const last = await drift(model, T0 + (20 + WINDOWS - 1) * MINUTE);
    expect(Math.abs(first.estimated_performance!.metrics.precision.realized! - last.estimated_performance!.metrics.precision.realized!)).toBeGreaterThan(5 * meanError);

    // The scheduler's window: stored in history with the report, and published as gauges.
    const window = { from: T0 + (20 + WINDOWS - 1) * MINUTE, to: T0 + (20 + WINDOWS) * MINUTE };
    await service.scheduler.runWindow(window, { models: [model] });
    const history = await (await fetch(`${service.url}/v1/models/${model}/drift/history?from=${window.from}&to=${window.to}`)).json();
    expect(history.windows[0].estimated_performance.metrics.f1.value).toBeCloseTo(last.estimated_performance!.metrics.f1.value, 9);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    const gauge = new RegExp(`driftwatch_model_performance_estimated\\{model="${model}",metric="f1",stat="value"\\} ([\\d.e-]+)`).exec(metrics);
    expect(Number(gauge?.[1])).toBeCloseTo(last.estimated_performance!.metrics.f1.value, 6);
    expect(metrics).toMatch(new RegExp(`driftwatch_model_performance_estimated\\{model="${model}",metric="roc_auc",stat="upper"\\}`));
  }, 600_000);

  it('multi-class: the same with three classes, macro-averaged', async () => {
    const { normal, random } = seeded(91);
    const model = 'cbpe-multi';
    const softmax = (z: number[]) => {
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    };
    const classes = ['a', 'b', 'c'];
    const make = (id: string, ts: number, shift: number): Row => {
      const x = normal(shift, 1);
      const truth = softmax([2 * x, 0, -2 * x]);
      const logged = softmax([1.2 * x + 0.2, 0.3, -1.5 * x]);
      const u = random();
      const label = u < truth[0] ? 'a' : u < truth[0] + truth[1] ? 'b' : 'c';
      const predicted = classes[logged.indexOf(Math.max(...logged))];
      return {
        event: { model, event_id: id, timestamp: ts, features: { x }, prediction: predicted, scores: { a: logged[0], b: logged[1], c: logged[2] } },
        label,
      };
    };
    await load(model, underCovariateShift(make));
    await post(`/v1/models/${model}/baselines`, { from: T0, to: T0 + 10 * MINUTE });

    const { share } = await coverage(model, WINDOWS);
    expect(Object.keys(share).sort()).toEqual(['accuracy', 'f1', 'precision', 'recall', 'roc_auc']);
    for (const [name, s] of Object.entries(share)) expect(s, `${name}: ${s}`).toBeGreaterThanOrEqual(0.9);
  }, 600_000);
});
