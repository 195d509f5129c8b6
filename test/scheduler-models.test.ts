import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparePerformance, computePerformance } from '../analyzers/performance-window.ts';
import { AnalysisScheduler, type SchedulerOptions } from '../analyzers/scheduler.ts';
import { activeBaseline } from '../store/baselines.ts';
import { performanceHistory } from '../store/performance-results.ts';
import { startService, type Service } from '../cli/service.ts';
import type { Params, QueryOptions, Sql } from '../store/sql.ts';
import { event, tempDir, testConfig } from './helpers.ts';

/**
 * Many models on the scheduler's own clock (issue 22 item 5), against the
 * real engine: every window of every model analysed in order however late,
 * one model's slowness or failure its own, and the lag on-call reads.
 */
const WINDOW = 60_000;
const MODELS = ['alpha', 'slow', 'broken', 'omega'];

const until = async (check: () => boolean | Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
};

describe('the scheduler with many models', () => {
  const dir = tempDir();
  const config = testConfig({ DATA_DIR: dir.path });
  // Windows of a clock of its own, long past, so the machine's speed never decides which are due.
  const start = Math.floor(Date.now() / WINDOW) * WINDOW - 600 * WINDOW;
  let svc: Service;

  beforeAll(async () => {
    svc = await startService(config, { logger: false });
    for (const model of MODELS) {
      const events = Array.from({ length: 200 }, (_, i) => event({ model, event_id: `${model}-${i}`, timestamp: start - WINDOW + i * 100, features: { x: i, c: i % 2 ? 'a' : 'b' } }));
      const sent = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
      expect(sent.status).toBe(200);
      const created = await fetch(`${svc.url}/v1/models/${model}/baselines`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: start - WINDOW, to: start }),
      });
      expect(created.status).toBe(201);
    }
  }, 180_000);

  afterAll(async () => {
    await svc?.close();
    dir.remove();
  });

  const options = (more: Partial<SchedulerOptions> = {}): SchedulerOptions => ({
    psiThreshold: 0.2,
    minWindowEvents: config.MIN_WINDOW_EVENTS,
    maxCategories: config.MAX_CATEGORIES,
    windowMs: WINDOW,
    graceMs: 0,
    metricsMaxFeatures: 50,
    performanceRecomputeWindows: 0,
    ...more,
  });
  const lag = async () => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    return Number(/^driftwatch_analysis_lag_seconds (\S+)$/m.exec(text)?.[1]);
  };
  const byModel = (reports: { model: string; to: number }[]) => {
    const out: Record<string, number[]> = {};
    for (const r of reports) (out[r.model] ??= []).push(r.to);
    return out;
  };
  const errors = async () => (await svc.metrics.analysisRuns.get()).values.find((v) => v.labels.outcome === 'error')?.value ?? 0;

  it('analyses every window of every model in order after a run that overran four windows, and the lag gauge tells how far behind it is', async () => {
    let clock = start + WINDOW - 1;
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    let runs = 0;
    const scheduler = new AnalysisScheduler(
      {
        sql: svc.sql,
        metrics: svc.metrics,
        log: { info: () => {}, error: () => {} },
        now: () => clock,
        // The first window's run hangs after its models until the clock has moved four windows on.
        windowJobs: [{ runWindow: async () => (++runs === 1 ? stalled : undefined) }],
      },
      options(),
    );
    const reports: { model: string; to: number }[] = [];
    scheduler.onReport((r) => reports.push({ model: r.model, to: r.to }));
    scheduler.start();
    try {
      clock = start + WINDOW;
      await until(() => runs === 1, 120_000);
      clock = start + 5 * WINDOW;
      // Still in the first window's run: the newest window analysed is the one before it started.
      expect(await lag()).toBe(300);
      release();
      const expected = [1, 2, 3, 4, 5].map((k) => start + k * WINDOW);
      await until(() => runs >= 5 && reports.length >= 5 * MODELS.length, 240_000);
      expect(byModel(reports)).toEqual(Object.fromEntries(MODELS.map((m) => [m, expected])));
      await until(async () => (await lag()) === 0, 30_000);
      expect(await lag()).toBe(0);
      clock += 30_000;
      expect(await lag()).toBe(30);
    } finally {
      release();
      await scheduler.stop();
    }
    // A stopped scheduler lags no more.
    expect(await lag()).toBe(0);
  }, 300_000);

  it('lets a failing model fail and a slow one run out of its time alone: the others get every window, in order', async () => {
    let hung!: () => void;
    const released = new Promise<void>((r) => (hung = r));
    // The real store, but the slow model's statements wait out their deadline (or forever without one) and the broken model's fail.
    // The limit is generous: the other models' analyses must fit in it on a busy machine.
    const model = (params?: Params) => (typeof params?.model === 'string' ? params.model : null);
    const gate = async (params: Params | undefined, options: QueryOptions | undefined) => {
      if (model(params) === 'broken') throw new Error('the disk holding this model is gone');
      if (model(params) === 'slow') {
        if (options?.deadline === undefined) await released;
        else await new Promise((r) => setTimeout(r, Math.max(0, options.deadline! - Date.now()) + 20));
      }
    };
    const sql: Sql = {
      ...svc.sql,
      query: async <T>(text: string, params?: Params, options?: QueryOptions) => {
        await gate(params, options);
        return svc.sql.query<T>(text, params, options);
      },
      command: async (text: string, params?: Params, options?: QueryOptions) => {
        await gate(params, options);
        return svc.sql.command(text, params, options);
      },
    };
    let clock = start + 100 * WINDOW + WINDOW - 1;
    const scheduler = new AnalysisScheduler({ sql, metrics: svc.metrics, log: { info: () => {}, error: () => {} }, now: () => clock }, options({ modelTimeoutMs: 25_000 }));
    const reports: { model: string; to: number }[] = [];
    scheduler.onReport((r) => reports.push({ model: r.model, to: r.to }));
    const failedBefore = await errors();
    scheduler.start();
    try {
      clock = start + 102 * WINDOW; // two windows due at once
      const expected = [101, 102].map((k) => start + k * WINDOW);
      await until(() => reports.length >= 4, 240_000);
      expect(byModel(reports)).toEqual({ alpha: expected, omega: expected });
      // Each window's slow and broken analyses counted as failed, once each.
      await until(async () => (await errors()) - failedBefore >= 4, 30_000);
      expect((await errors()) - failedBefore).toBe(4);
      await until(async () => (await lag()) === 0, 30_000);
      expect(await lag()).toBe(0);
    } finally {
      hung();
      await scheduler.stop();
    }
  }, 300_000);

  it('tries a window whose model list could not be read again instead of skipping it', async () => {
    let unreadable = true;
    let refused = 0;
    const sql: Sql = {
      ...svc.sql,
      query: async <T>(text: string, params?: Params, options?: QueryOptions) => {
        if (unreadable && /FROM baselines ORDER BY model/.test(text)) {
          refused++;
          throw new Error('the store is away');
        }
        return svc.sql.query<T>(text, params, options);
      },
    };
    let clock = start + 200 * WINDOW + WINDOW - 1;
    const scheduler = new AnalysisScheduler({ sql, metrics: svc.metrics, log: { info: () => {}, error: () => {} }, now: () => clock }, options({ retryMs: 100, performanceRecomputeWindows: 0 }));
    const reports: { model: string; to: number }[] = [];
    scheduler.onReport((r) => reports.push({ model: r.model, to: r.to }));
    scheduler.start();
    try {
      clock = start + 201 * WINDOW;
      await until(() => refused >= 3, 60_000);
      expect(refused).toBeGreaterThanOrEqual(3);
      expect(reports).toEqual([]);
      clock = start + 202 * WINDOW;
      expect(await lag()).toBe(120);
      unreadable = false;
      const expected = [201, 202].map((k) => start + k * WINDOW);
      await until(() => reports.length >= 2 * MODELS.length, 240_000);
      expect(byModel(reports)).toEqual(Object.fromEntries(MODELS.map((m) => [m, expected])));
    } finally {
      await scheduler.stop();
    }
  }, 300_000);

  it('recomputes the earlier windows\' performance (one read for them all) as a window-by-window computation finds it', async () => {
    const model = 'labelled';
    const w = (k: number) => ({ from: start + (300 + k) * WINDOW, to: start + (301 + k) * WINDOW });
    // Window 0 all labelled (binary), 1 a third labelled (classes), 2 no labels, 3 no events, 4 the window analysed.
    const events = [0, 1, 2, 4].flatMap((k) =>
      Array.from({ length: 60 }, (_, i) => event({ model, event_id: `${model}-${k}-${i}`, timestamp: w(k).from + i * 500, features: { x: i, c: i % 2 ? 'a' : 'b' }, prediction: k === 1 ? (i % 3 ? 'yes' : 'no') : (i % 10) / 10 })),
    );
    const sent = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    expect(sent.status).toBe(200);
    const labels = [
      ...Array.from({ length: 60 }, (_, i) => ({ model, event_id: `${model}-0-${i}`, label: i % 3 ? 1 : 0, timestamp: w(0).from + i * 500 + 7_000 + i * 100 })),
      ...Array.from({ length: 20 }, (_, i) => ({ model, event_id: `${model}-1-${i}`, label: i % 4 ? 'yes' : 'no', timestamp: w(1).from + i * 500 + 30_000 })),
    ];
    const labelled = await fetch(`${svc.url}/v1/labels`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(labels) });
    expect(labelled.status).toBe(200);
    // Frozen with its labels: the windows' changes are against the baseline's metrics.
    const created = await fetch(`${svc.url}/v1/models/${model}/baselines`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(w(0)) });
    expect(created.status).toBe(201);

    const scheduler = new AnalysisScheduler({ sql: svc.sql, metrics: svc.metrics, log: { info: () => {}, error: () => {} }, now: () => w(5).from }, options({ performanceRecomputeWindows: 4 }));
    const [report] = await scheduler.runWindow(w(4), { models: [model] });
    expect(report?.n_events).toBe(60);
    const stored = await performanceHistory(svc.sql, model, w(0).from, w(5).from, 100);
    const baseline = await activeBaseline(svc.sql, model);
    expect(baseline?.performance?.metrics.accuracy).toBeGreaterThan(0);
    const alone = async (k: number) => comparePerformance(await computePerformance(svc.sql, { model, ...w(k) }), baseline!.performance);
    const strip = ({ computed_at, ...rest }: { computed_at: number } & Record<string, unknown>) => rest;
    expect(stored.map((p) => p.from).sort((a, b) => a - b)).toEqual([0, 1, 2, 4].map((k) => w(k).from));
    for (const k of [0, 1, 2, 4]) {
      const row = stored.find((p) => p.from === w(k).from)!;
      expect(strip(row), `window ${k}`).toEqual(strip({ ...(await alone(k)), model, ...w(k), computed_at: 0 }));
    }
    // What the windows hold, so the comparison above compares something.
    expect(stored.find((p) => p.from === w(0).from)).toMatchObject({ task: 'binary', n_labelled: 60, change: { accuracy: 0 } });
    expect(stored.find((p) => p.from === w(1).from)).toMatchObject({ task: 'classification', n_labelled: 20 });
    expect(stored.find((p) => p.from === w(2).from)).toMatchObject({ task: null, n_labelled: 0, n_events: 60 });
  }, 300_000);
});
