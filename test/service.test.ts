import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastClosedWindow } from '../analyzers/scheduler.ts';
import { startService, type Service } from '../cli/service.ts';
import { event, seeded, tempDir, testConfig } from './helpers.ts';

const dir = tempDir();
let service: Service;
const WINDOW = 60_000;

beforeAll(async () => {
  service = await startService(testConfig({ DATA_DIR: dir.path, ANALYSIS_WINDOW: '1m', METRICS_MAX_FEATURES: '3' }), { logger: false });
});
afterAll(async () => {
  await service.close();
  dir.remove();
});

async function send(path: string, body: unknown[]) {
  const response = await fetch(`${service.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  return response.json() as Promise<{ accepted: number }>;
}

describe('the service over real HTTP', () => {
  it('runs a window end to end: events in, stored report, history and gauges out', async () => {
    const { normal, random } = seeded(7);
    const window = lastClosedWindow(Date.now(), WINDOW, 0);
    const refStart = window.from - 10 * WINDOW;
    const make = (i: number, ts: number, shifted: boolean) =>
      event({
        model: 'svc',
        event_id: `${shifted ? 'c' : 'r'}${i}`,
        timestamp: ts,
        features: {
          income: normal(50, 10) + (shifted ? 6 : 0),
          age: normal(40, 10),
          tenure: normal(5, 2),
          segment: random() < (shifted ? 0.7 : 0.4) ? 'a' : 'b',
          channel: random() < 0.5 ? 'web' : 'app',
        },
      });
    const reference = Array.from({ length: 4000 }, (_, i) => make(i, refStart + i * 10, false));
    const current = Array.from({ length: 4000 }, (_, i) => make(i, window.from + i * 10, true));
    expect((await send('/v1/events', reference)).accepted).toBe(4000);
    expect((await send('/v1/events', current)).accepted).toBe(4000);
    expect((await send('/v1/labels', current.slice(0, 100).map((e) => ({ event_id: e.event_id, model: 'svc', label: 1 })))).accepted).toBe(100);

    const created = await fetch(`${service.url}/v1/models/svc/baselines`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: refStart, to: window.from }),
    });
    expect(created.status).toBe(201);

    const reports = await service.scheduler.runWindow(window);
    expect(reports).toHaveLength(1);
    expect([...reports[0].drifted_features].sort()).toEqual(['income', 'segment']);

    const history = await (await fetch(`${service.url}/v1/models/svc/drift/history`)).json();
    expect(history.windows).toHaveLength(1);
    expect(history.windows[0]).toMatchObject({ from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString(), n_events: 4000 });
    expect([...history.windows[0].drifted_features].sort()).toEqual(['income', 'segment']);
    expect(history.windows[0].features).toHaveLength(5);
    expect(history.windows[0].prediction).toMatchObject({ feature: '@prediction', drifted: false });

    // Re-running a window replaces its stored report rather than adding a second one.
    await service.scheduler.runWindow(window);
    const again = await (await fetch(`${service.url}/v1/models/svc/drift/history`)).json();
    expect(again.windows).toHaveLength(1);
    expect(again.windows[0].features).toHaveLength(5);

    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    const psi = /driftwatch_feature_drift_score\{model="svc",feature="income",method="psi"\} ([\d.e-]+)/.exec(metrics);
    expect(Number(psi?.[1])).toBeGreaterThan(0.2);
    expect(metrics).toMatch(/driftwatch_feature_drifted\{model="svc",feature="income"\} 1/);
    expect(metrics).toMatch(/driftwatch_drifted_features\{model="svc"\} 2/);
    expect(metrics).toMatch(/driftwatch_analysis_window_events\{model="svc"\} 4000/);
    // METRICS_MAX_FEATURES=3: two of the five features have no series of their own but share
    // __overflow__; the prediction always has its own.
    expect(metrics).toMatch(/driftwatch_features_over_metrics_cap\{model="svc"\} 2/);
    const featureSeries = new Set([...metrics.matchAll(/driftwatch_feature_drifted\{model="svc",feature="([^"]+)"\}/g)].map((m) => m[1]));
    expect(featureSeries.size).toBe(5);
    expect(featureSeries.has('__overflow__')).toBe(true);
    expect(featureSeries.has('@prediction')).toBe(true);
    expect(featureSeries.has('income') && featureSeries.has('segment')).toBe(true);
    expect(metrics).toMatch(/driftwatch_analysis_runs_total\{outcome="ok"\} 2/);

    // Performance: 100 of the window's 4000 events have labels (all 1; the model scores 0.12: always wrong).
    expect(metrics).toMatch(/driftwatch_label_coverage_ratio\{model="svc"\} 0\.025/);
    expect(metrics).toMatch(/driftwatch_model_performance\{model="svc",metric="accuracy"\} 0/);
    let perf = await (await fetch(`${service.url}/v1/models/svc/performance/history`)).json();
    expect(perf.windows[0]).toMatchObject({ from: new Date(window.from).toISOString(), task: 'binary', n_events: 4000, n_labelled: 100, label_coverage: 0.025 });
    // More labels arrive late (now right ones, 0): the next run recomputes the window, replacing its row.
    expect((await send('/v1/labels', current.slice(100, 300).map((e) => ({ event_id: e.event_id, model: 'svc', label: 0 })))).accepted).toBe(200);
    await service.scheduler.runWindow({ from: window.from + WINDOW, to: window.to + WINDOW });
    perf = await (await fetch(`${service.url}/v1/models/svc/performance/history`)).json();
    const recomputed = perf.windows.filter((w: { from: string }) => w.from === new Date(window.from).toISOString());
    expect(recomputed).toHaveLength(1);
    expect(recomputed[0]).toMatchObject({ n_labelled: 300, task: 'binary' });
    expect(recomputed[0].metrics.accuracy).toBeCloseTo(200 / 300, 12);
    const onDemand = await (await fetch(`${service.url}/v1/models/svc/performance?from=${window.from}&to=${window.to}`)).json();
    expect(onDemand.metrics.accuracy).toBeCloseTo(200 / 300, 12);
  });

  it('reports insufficient data instead of a verdict on a nearly empty window', async () => {
    const window = lastClosedWindow(Date.now(), WINDOW, 0);
    const sparse = { from: window.from - 5 * WINDOW, to: window.from - 4 * WINDOW };
    await send('/v1/events', [event({ model: 'svc', event_id: 'lonely', timestamp: sparse.from + 1, features: { income: 500, age: 1, tenure: 1, segment: 'z', channel: 'web' } })]);
    const [report] = await service.scheduler.runWindow(sparse);
    expect(report.drifted_features).toEqual([]);
    const income = report.features.find((f) => f.feature === 'income')!;
    expect(income).toMatchObject({ status: 'insufficient_data', drifted: false, n_current: 1 });
    expect(income.metrics.share_above_reference).toBe(1);
  });
});
