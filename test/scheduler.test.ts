import { describe, expect, it } from 'vitest';
import { AnalysisScheduler } from '../analyzers/scheduler.ts';
import { startService } from '../cli/service.ts';
import { event, tempDir, testConfig } from './helpers.ts';

const until = async (check: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
};

describe('the scheduler on its own clock', () => {
  it('analyses each closed window without being asked', async () => {
    const local = tempDir();
    const svc = await startService(testConfig({ DATA_DIR: local.path, ANALYSIS_ENABLED: 'true', ANALYSIS_WINDOW: '1s', ANALYSIS_GRACE: '200ms' }), { logger: false });
    try {
      const now = Date.now();
      const events = Array.from({ length: 300 }, (_, i) => event({ model: 'tick', event_id: `t${i}`, timestamp: now - 60_000 + i, features: { x: i } }));
      const response = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
      expect(response.status).toBe(200);
      const created = await fetch(`${svc.url}/v1/models/tick/baselines`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: now - 60_000, to: now - 59_000 }),
      });
      expect(created.status).toBe(201);
      const seen: number[] = [];
      svc.scheduler.onReport((r) => seen.push(r.to));
      // Generous: on a loaded machine one window's analysis was seen to take about 10 s.
      await until(() => seen.length >= 2, 120_000);
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen[1] - seen[0]).toBe(1000);
      const history = await (await fetch(`${svc.url}/v1/models/tick/drift/history`)).json();
      expect(history.windows.length).toBeGreaterThanOrEqual(2);
    } finally {
      await svc.close();
      local.remove();
    }
  }, 240_000);

  it('analyses every window in order after an analysis that took longer than several windows', async () => {
    const local = tempDir();
    const config = testConfig({ DATA_DIR: local.path });
    const svc = await startService(config, { logger: false });
    // A clock of its own: the stall below lasts exactly four windows however busy the machine is.
    const windowMs = 60_000;
    const start = Math.floor(Date.now() / windowMs) * windowMs - 60 * windowMs;
    let clock = start + windowMs - 1; // the first window is due in a millisecond
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    const jobWindows: number[] = [];
    const scheduler = new AnalysisScheduler(
      {
        sql: svc.sql,
        metrics: svc.metrics,
        log: { info: () => {}, error: () => {} },
        now: () => clock,
        windowJobs: [
          {
            async runWindow(window) {
              jobWindows.push(window.to);
              // The first window's analysis hangs until the clock has moved four windows on.
              if (jobWindows.length === 1) await stalled;
            },
          },
        ],
      },
      { psiThreshold: 0.2, minWindowEvents: config.MIN_WINDOW_EVENTS, maxCategories: config.MAX_CATEGORIES, windowMs, graceMs: 0, metricsMaxFeatures: 50, performanceRecomputeWindows: 0 },
    );
    try {
      const events = Array.from({ length: 300 }, (_, i) => event({ model: 'stall', event_id: `s${i}`, timestamp: start - windowMs + i, features: { x: i } }));
      const response = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
      expect(response.status).toBe(200);
      const created = await fetch(`${svc.url}/v1/models/stall/baselines`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: start - windowMs, to: start }),
      });
      expect(created.status).toBe(201);
      const reports: number[] = [];
      scheduler.onReport((r) => reports.push(r.to));
      scheduler.start();
      clock = start + windowMs; // the first window, [start, start + 1 window), closes
      await until(() => jobWindows.length === 1, 30_000);
      expect(jobWindows).toEqual([start + windowMs]);
      clock = start + 5 * windowMs; // four more close while it is stuck
      release();
      const expected = [1, 2, 3, 4, 5].map((k) => start + k * windowMs);
      await until(() => jobWindows.length >= expected.length, 30_000);
      expect(jobWindows).toEqual(expected);
      expect(reports).toEqual(expected);
      const range = `from=${new Date(start).toISOString()}&to=${new Date(start + 5 * windowMs).toISOString()}`;
      const history = (await (await fetch(`${svc.url}/v1/models/stall/drift/history?${range}`)).json()) as { windows: { to: string }[] };
      expect(history.windows.map((w) => Date.parse(w.to)).sort((a, b) => a - b)).toEqual(expected);
    } finally {
      release();
      await scheduler.stop();
      await svc.close();
      local.remove();
    }
  }, 120_000);
});
