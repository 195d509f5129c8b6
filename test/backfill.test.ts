import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalysisScheduler, lastClosedWindow } from '../analyzers/scheduler.ts';
import { startService, type Service } from '../cli/service.ts';
import { runCli, seeded, tempDir, testConfig } from './helpers.ts';
import { waitFor } from './kafka-helpers.ts';
import { startReceiver, type Receiver } from './prometheus-helpers.ts';
import { modelBytes, specs, traffic } from './shadow-fixtures.ts';

/**
 * Backfills (POST /v1/models/{model}/analyze, driftwatch backfill) on the
 * real engine: 48 past windows of a model whose income drifts in the last
 * 12, a rule whose webhook goes to a receiver this test runs. The windows
 * closed long before ALERT_NOTIFY_MAX_AGE (20m here), so the rule's
 * transitions are recorded and nobody is told; a model whose drift is in
 * the last few windows is told.
 */
const W = 5 * 60_000;
const dir = tempDir('driftwatch-backfill-');
let service: Service;
let receiver: Receiver;
// While set, the store refuses every read of events: an analysis that cannot be done.
let eventsUnreadable = false;

// 48 windows that closed an hour before the current one began.
const end = Math.floor(Date.now() / W) * W - 12 * W;
const start = end - 48 * W;
const windowStart = (k: number) => start + k * W;
const iso = (ms: number) => new Date(ms).toISOString();

const { normal, random } = seeded(17);
let sequence = 0;
const events = (model: string, from: number, n: number, shift: number) =>
  Array.from({ length: n }, (_, i) => ({
    event_id: `${model}-${sequence++}`,
    model,
    timestamp: from + Math.floor((i * W) / n),
    features: { income: normal(50, 10) + shift, age: normal(40, 10) },
    prediction: random() < 0.3 ? 1 : 0,
  }));

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function send(rows: unknown[]) {
  for (let i = 0; i < rows.length; i += 5_000) {
    const r = await call('POST', '/v1/events', rows.slice(i, i + 5_000));
    expect(r.status).toBe(200);
    expect(r.body.rejected).toEqual([]);
  }
}

async function settledJob(id: string) {
  let job: { state: string; done: number; total: number; result: Record<string, unknown> & { drifted_windows: { from: string; drifted_features: string[] }[] } } | undefined;
  await waitFor(
    async () => {
      job = (await call('GET', `/v1/jobs/${id}`)).body;
      return job!.state !== 'running';
    },
    400_000,
    `backfill job ${id} to finish`,
  );
  return job!;
}

const count = async (query: string) => Number((await service.sql.query<{ n: number }>(query))[0].n);

beforeAll(async () => {
  receiver = await startReceiver();
  const rules = join(dir.path, 'rules.yaml');
  writeFileSync(
    rules,
    `rules:
  - name: IncomeDrift
    metric: drift.psi
    threshold: 0.2
    resolve_threshold: 0.1
    for_windows: 2
    resolve_windows: 2
    models: [bf, fresh]
    features: [income]
    webhook: {url: "${receiver.url}/hook"}
`,
  );
  service = await startService(
    testConfig({
      DATA_DIR: join(dir.path, 'data'),
      INGEST_ACK: 'stored',
      ALERT_RULES_FILE: rules,
      ALERT_NOTIFY_MAX_AGE: '20m',
      BACKFILL_MAX_WINDOWS: '1000',
    }),
    {
      logger: false,
      wrapSql: (sql) => ({
        ...sql,
        backend: sql.backend,
        query: (q, p, o) => (eventsUnreadable && /FROM events\b/.test(q) ? Promise.reject(new Error('events unreadable (injected)')) : sql.query(q, p, o)),
        command: (q, p, o) => sql.command(q, p, o),
        close: () => sql.close(),
        insertCompact: (t, c, r) => sql.insertCompact(t, c, r),
        insertRowBinary: (t, c, r) => sql.insertRowBinary(t, c, r),
      }),
    },
  );
  // Reference: four windows before the range; then 300 events a window, income up 25 in the last 12.
  await send(events('bf', start - 4 * W, 3_000, 0));
  const rows = [];
  for (let k = 0; k < 48; k++) rows.push(...events('bf', windowStart(k), 300, k >= 36 ? 25 : 0));
  await send(rows);
  expect((await call('POST', '/v1/models/bf/baselines', { from: start - 4 * W, to: start })).status).toBe(201);
}, 180_000);

afterAll(async () => {
  await service?.close();
  await receiver?.close();
  dir.remove();
});

describe('a backfill of 48 past windows', () => {
  it('finds the drift injected in the last 12, records the rule transitions in window order, and tells no one', async () => {
    const started = await call('POST', '/v1/models/bf/analyze', { from: iso(start), to: iso(end) });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ kind: 'analyze', model: 'bf', state: 'running', unit: 'windows', total: 48 });
    const first = await settledJob(started.body.id);
    expect(first).toMatchObject({ state: 'succeeded', done: 48, total: 48 });
    expect(first.result).toMatchObject({ windows: 48, analysed: 48, notifications: 0, from: iso(start), to: iso(end) });
    expect(first.result.drifted_windows.map((w) => w.from)).toEqual(Array.from({ length: 12 }, (_, i) => iso(windowStart(36 + i))));
    for (const w of first.result.drifted_windows) expect(w.drifted_features).toEqual(['income']);

    // Pending at the end of the first drifted window, firing at the end of the second: in window order.
    const alerts = await call('GET', `/v1/alerts?model=bf&from=${iso(start)}&to=${iso(end + 1)}`);
    const path = (alerts.body.history as { to_status: string; window_end: string; subject: string }[]).map((h) => [h.subject, h.to_status, h.window_end]).reverse();
    expect(path).toEqual([
      ['income', 'pending', iso(windowStart(37))],
      ['income', 'firing', iso(windowStart(38))],
    ]);
    expect(first.result.alert_transitions).toBe(2);
    // The live state is not the past's: nothing is firing now.
    expect(alerts.body.active).toEqual([]);
    const history = await call('GET', `/v1/models/bf/drift/history?from=${iso(start)}&to=${iso(end)}&limit=1000`);
    expect(history.body.windows).toHaveLength(48);
    expect(history.body.windows[0]).toMatchObject({ from: iso(windowStart(47)), to: iso(end), drifted_features: ['income'] });
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toContain(`driftwatch_analysis_last_window_end_seconds{model="bf"} ${end / 1000}`);
    expect(metrics).toMatch(/driftwatch_backfill_windows_total\{outcome="ok"\} 48/);
    // Had a notice been queued, the receiver (local, answering at once) would have had it long since.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(receiver.received).toEqual([]);
    expect(metrics).not.toMatch(/driftwatch_alert_notifications_total\{channel="webhook"/);
  }, 420_000);

  it('run again through the CLI, replaces what it stored instead of adding to it', async () => {
    const before = {
      alerts: await count(`SELECT count() AS n FROM alert_events FINAL WHERE model = 'bf'`),
      computed: await count(`SELECT max(toUnixTimestamp64Milli(computed_at)) AS n FROM drift_windows FINAL WHERE model = 'bf'`),
    };
    const cli = runCli(['backfill', '--url', service.url, '--model', 'bf', '--from', iso(start), '--to', String(end), '--poll-interval', '0.2']);
    expect(await cli.exited).toBe(0);
    expect(cli.out()).toContain('48 of 48 windows analysed');
    expect(cli.out()).toContain('; 12 drifted');
    expect(cli.out()).toContain(`  ${iso(windowStart(47))} - ${iso(end)}  income`);
    expect(cli.out()).toContain('notifications sent: 0');
    expect(cli.out()).toMatch(/windows \d+\/48/);

    const model = `model = 'bf' AND window_start >= fromUnixTimestamp64Milli(${start}) AND window_start < fromUnixTimestamp64Milli(${end})`;
    expect(await count(`SELECT count() AS n FROM drift_windows FINAL WHERE ${model}`)).toBe(48);
    // income, age and the prediction, per window.
    expect(await count(`SELECT count() AS n FROM drift_results FINAL WHERE ${model}`)).toBe(48 * 3);
    expect(await count(`SELECT count() AS n FROM performance_results FINAL WHERE ${model}`)).toBe(48);
    expect(await count(`SELECT count() AS n FROM alert_events FINAL WHERE model = 'bf'`)).toBe(before.alerts);
    // Replaced: every window's report is the second run's.
    expect(await count(`SELECT min(toUnixTimestamp64Milli(computed_at)) AS n FROM drift_windows FINAL WHERE ${model}`)).toBeGreaterThan(before.computed);
    const history = await call('GET', `/v1/models/bf/drift/history?from=${iso(start)}&to=${iso(end)}&limit=1000`);
    expect(history.body.windows).toHaveLength(48);
    expect(receiver.received).toEqual([]);
  }, 420_000);

  it('of older windows leaves the gauges on the newest window analysed', async () => {
    const older = await call('POST', '/v1/models/bf/analyze', { from: start, to: windowStart(2) });
    expect(older.status).toBe(202);
    expect((await settledJob(older.body.id)).state).toBe('succeeded');
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toContain(`driftwatch_analysis_last_window_end_seconds{model="bf"} ${end / 1000}`);
    // The newest window drifted, the older ones did not: the gauge still says drifted.
    expect(metrics).toContain('driftwatch_feature_drifted{model="bf",feature="income"} 1');
  }, 420_000);
});

describe('a backfill of a model with a shadow model', () => {
  it('stores one shadow report per window, replaced on a re-run', async () => {
    // Events as a serving stack running the fixture's logistic regression logged them: the reference shadow agrees with every one.
    const logged = traffic.map((row, i) => ({
      event_id: `sh-${i}`,
      model: 'sh',
      timestamp: start - 4 * W + Math.floor(i / 250) * W + (i % 250) * 1_000,
      features: row.features,
      prediction: row.logreg.label,
      scores: { '0': 1 - row.logreg.p1, '1': row.logreg.p1 },
    }));
    await send(logged);
    expect((await call('POST', '/v1/models/sh/baselines', { from: start - 4 * W, to: start - 3 * W })).status).toBe(201);
    const registered = await call('POST', '/v1/models/sh/shadow', { ...specs.logreg({ sample_share: 1 }), model_base64: modelBytes('logreg').toString('base64') });
    expect(registered.status).toBe(201);
    const range = { from: start - 3 * W, to: start };
    const reports = async () =>
      (await call('GET', `/v1/models/sh/shadow/logreg/history?from=${range.from}&to=${range.to}`)).body.reports as { from: string; n_scored: number; comparison: { mismatch_share: number } }[];
    for (let run = 0; run < 2; run++) {
      const job = await settledJob((await call('POST', '/v1/models/sh/analyze', range)).body.id);
      expect(job).toMatchObject({ state: 'succeeded', done: 3 });
      const stored = await reports();
      expect(stored.map((r) => r.from).sort()).toEqual([0, 1, 2].map((k) => iso(range.from + k * W)));
      for (const r of stored) expect(r.comparison.mismatch_share).toBe(0);
      expect(await count(`SELECT count() AS n FROM shadow_results FINAL WHERE model = 'sh'`)).toBe(3);
    }
  }, 420_000);
});

describe('a backfill of a model with segment baselines', () => {
  it('stores each segment of each window, as the scheduler does', async () => {
    const tagged = (from: number, n: number, shiftUs: number) =>
      events('seg', from, n, 0).map((e, i) => {
        const region = i % 2 === 0 ? 'eu' : 'us';
        return { ...e, tags: { region }, features: { ...e.features, income: e.features.income + (region === 'us' ? shiftUs : 0) } };
      });
    await send(tagged(start - 4 * W, 2_000, 0));
    expect((await call('POST', '/v1/models/seg/baselines', { from: start - 4 * W, to: start - 3 * W, segment_by: 'region' })).status).toBe(201);
    await send([...tagged(start - 3 * W, 600, 0), ...tagged(start - 2 * W, 600, 25)]);
    const job = await settledJob((await call('POST', '/v1/models/seg/analyze', { from: start - 3 * W, to: start - W })).body.id);
    expect(job.state).toBe('succeeded');
    const history = await call('GET', `/v1/models/seg/drift/history?from=${start - 3 * W}&to=${start - W}&segment_by=region`);
    const seen = (history.body.windows as { from: string; segments: { segment: { value: string }; drifted_features: string[] }[] }[]).map((w) => [
      w.from,
      w.segments.map((s) => [s.segment.value, s.drifted_features]),
    ]);
    expect(seen).toEqual([
      [iso(start - 2 * W), [['eu', []], ['us', ['income']]]],
      [iso(start - 3 * W), [['eu', []], ['us', []]]],
    ]);
  }, 300_000);
});

describe('backfill requests', () => {
  it('are refused with the reason: too many windows, none closed, no baseline, one running already', async () => {
    const tooMany = await call('POST', '/v1/models/bf/analyze', { from: end - 2_000 * W, to: end });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.message).toMatch(/2000 analysis windows, more than BACKFILL_MAX_WINDOWS \(1000\)/);
    const future = await call('POST', '/v1/models/bf/analyze', { from: Date.now() + W, to: Date.now() + 2 * W });
    expect(future.status).toBe(400);
    expect(future.body.message).toMatch(/has closed yet/);
    const backwards = await call('POST', '/v1/models/bf/analyze', { from: end, to: start });
    expect(backwards.status).toBe(400);
    const none = await call('POST', '/v1/models/nobody/analyze', { from: start, to: end });
    expect(none.status).toBe(404);
    expect(none.body.code).toBe('DW_BASELINE_NOT_FOUND');
  });

  it('fail at the first window that cannot be analysed, naming it; the CLI exits non-zero and says why', async () => {
    eventsUnreadable = true;
    try {
      const started = await call('POST', '/v1/models/bf/analyze', { from: start, to: windowStart(3) });
      expect(started.status).toBe(202);
      const job = await settledJob(started.body.id);
      expect(job.state).toBe('failed');
      expect((job as unknown as { error: string }).error).toBe(
        `window ${iso(start)} - ${iso(windowStart(1))} could not be analysed (0 of 3 done): events unreadable (injected)`,
      );
      const cli = runCli(['backfill', '--url', service.url, '--model', 'bf', '--from', String(start), '--to', String(windowStart(3)), '--poll-interval', '0.2']);
      expect(await cli.exited).toBe(1);
      expect(cli.err()).toMatch(/job \S+ failed: window .* could not be analysed \(0 of 3 done\): events unreadable/);
    } finally {
      eventsUnreadable = false;
    }
    const usage = runCli(['backfill', '--url', service.url, '--from', String(start), '--to', String(end)]);
    expect(await usage.exited).toBe(2);
    expect(usage.err()).toContain('--model is required');
    const refused = runCli(['backfill', '--url', service.url, '--model', 'nobody', '--from', String(start), '--to', String(end)]);
    expect(await refused.exited).toBe(1);
    expect(refused.err()).toMatch(/the service refused \(404\): model "nobody" has no baseline yet/);
  }, 300_000);

  it('can be cancelled between windows; a second backfill of the same model meanwhile is a 409', async () => {
    const wide = { from: start - 900 * W, to: end };
    const started = await call('POST', '/v1/models/bf/analyze', wide);
    expect(started.status).toBe(202);
    expect(started.body.total).toBe(948);
    const second = await call('POST', '/v1/models/bf/analyze', { from: start, to: end });
    expect(second.status).toBe(409);
    expect(second.body.code).toBe('DW_BACKFILL_RUNNING');
    expect(second.body.message).toContain(started.body.id);
    await waitFor(async () => (await call('GET', `/v1/jobs/${started.body.id}`)).body.done >= 2, 120_000, 'two windows analysed');
    const cancelled = await call('DELETE', `/v1/jobs/${started.body.id}`);
    expect(cancelled.status).toBe(202);
    const job = await settledJob(started.body.id);
    expect(job.state).toBe('cancelled');
    expect(job.done).toBeGreaterThanOrEqual(2);
    expect(job.done).toBeLessThan(948);
    expect(job.result.analysed).toBe(job.done);
    // Stopped means stopped: no window past the one it was in is analysed afterwards.
    const stored = await count(
      `SELECT count() AS n FROM drift_windows FINAL WHERE model = 'bf' AND window_start >= fromUnixTimestamp64Milli(${wide.from}) AND window_start < fromUnixTimestamp64Milli(${start - 4 * W})`,
    );
    expect(stored).toBe(job.done);
    // Another may start now.
    const again = await call('POST', '/v1/models/bf/analyze', { from: start, to: windowStart(1) });
    expect(again.status).toBe(202);
    expect((await settledJob(again.body.id)).state).toBe('succeeded');
  }, 420_000);
});

describe('a backfill that reaches the last windows', () => {
  it('notifies for transitions in windows younger than ALERT_NOTIFY_MAX_AGE, and only those', async () => {
    const last = lastClosedWindow(Date.now(), W, 10_000);
    const reference = last.from - 40 * W;
    await send(events('fresh', reference, 3_000, 0));
    expect((await call('POST', '/v1/models/fresh/baselines', { from: reference, to: reference + W })).status).toBe(201);
    // Calm far back (old: replayed), drift in the three windows that closed last (young: live).
    const rows = [...events('fresh', last.from - 20 * W, 300, 25), ...events('fresh', last.from - 19 * W, 300, 25)];
    for (let k = 2; k >= 0; k--) rows.push(...events('fresh', last.from - k * W, 300, 25));
    await send(rows);
    const started = await call('POST', '/v1/models/fresh/analyze', { from: last.from - 20 * W, to: last.to });
    expect(started.status).toBe(202);
    const job = await settledJob(started.body.id);
    expect(job.state).toBe('succeeded');
    expect(job.result.notifications).toBe(1);
    await waitFor(async () => receiver.received.length > 0, 60_000, 'the firing notice');
    expect(receiver.received.map((r) => [r.path, r.body.status, r.body.labels.model])).toEqual([['/hook', 'firing', 'fresh']]);
    // The old episode is history only; the young one is the live state.
    const alerts = await call('GET', `/v1/alerts?model=fresh&from=${iso(last.from - 21 * W)}&to=${iso(last.to + 1)}`);
    const path = (alerts.body.history as { to_status: string; window_end: string }[]).map((h) => [h.to_status, h.window_end]).reverse();
    expect(path).toEqual([
      ['pending', iso(last.from - 19 * W)],
      ['firing', iso(last.from - 18 * W)],
      ['resolved', iso(last.from - 16 * W)],
      ['inactive', iso(last.from - 15 * W)],
      ['pending', iso(last.from - W)],
      ['firing', iso(last.from)],
    ]);
    expect(alerts.body.active).toEqual([expect.objectContaining({ rule: 'IncomeDrift', model: 'fresh', subject: 'income', status: 'firing' })]);

    // Again: the live states have these windows now, so the re-run replays them all; no second notice, the same history.
    const again = await settledJob((await call('POST', '/v1/models/fresh/analyze', { from: last.from - 20 * W, to: last.to })).body.id);
    expect(again.state).toBe('succeeded');
    expect(again.result.notifications).toBe(0);
    const after = await call('GET', `/v1/alerts?model=fresh&from=${iso(last.from - 21 * W)}&to=${iso(last.to + 1)}`);
    // Recorded again by the replay (a newer `at`), kept once.
    const transitions = (h: { at: string }[]) => h.map(({ at, ...rest }) => rest);
    expect(transitions(after.body.history)).toEqual(transitions(alerts.body.history));
    expect(after.body.active).toEqual(alerts.body.active);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(receiver.received).toHaveLength(1);
  }, 420_000);
});

describe('late events', () => {
  it('make the scheduler analyse an analysed window again once their share exceeds LATE_REANALYZE_SHARE', async () => {
    // A clock of its own, three days back; the first window's analysis holds the loop until the late events are in.
    const a1 = Math.floor(Date.now() / W) * W - 3 * 288 * W;
    const a2 = a1 + W;
    const b = a2 + W;
    await send(events('late', a1 - 4 * W, 3_000, 0));
    expect((await call('POST', '/v1/models/late/baselines', { from: a1 - 4 * W, to: a1 })).status).toBe(201);
    await send([...events('late', a1, 300, 0), ...events('late', a2, 300, 0)]);
    let clock = a1 + W - 1;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reached = false;
    const scheduler = new AnalysisScheduler(
      {
        sql: service.sql,
        metrics: service.metrics,
        log: { info: () => {}, error: () => {} },
        now: () => clock,
        windowJobs: [
          {
            async runWindow(window) {
              if (window.to !== a2 + W) return;
              reached = true;
              await held;
            },
          },
        ],
      },
      { psiThreshold: 0.2, minWindowEvents: 100, maxCategories: 100, windowMs: W, graceMs: 0, metricsMaxFeatures: 50, performanceRecomputeWindows: 0, lateReanalyzeShare: 0.05, lateReanalyzeWindows: 12 },
    );
    const seen: { model: string; from: number; n: number }[] = [];
    scheduler.onReport((r) => seen.push({ model: r.model, from: r.from, n: r.n_events }));
    try {
      scheduler.start();
      clock = a2 + W; // a1 and a2 close
      await waitFor(async () => reached, 120_000, 'the second window analysed');
      // Late: 6 more in a1 (2%, below the share), 30 more in a2 (9%).
      await send([...events('late', a1 + 1, 6, 0), ...events('late', a2 + 1, 30, 0)]);
      clock = b + W; // b closes
      release();
      await waitFor(async () => seen.filter((s) => s.model === 'late').length >= 4, 120_000, 'the late window analysed again');
      expect(seen.filter((s) => s.model === 'late')).toEqual([
        { model: 'late', from: a1, n: 300 },
        { model: 'late', from: a2, n: 300 },
        { model: 'late', from: b, n: 0 },
        { model: 'late', from: a2, n: 330 },
      ]);
      const history = await call('GET', `/v1/models/late/drift/history?from=${a1}&to=${b + W}`);
      expect(history.body.windows.map((w: { from: string; n_events: number }) => [w.from, w.n_events])).toEqual([
        [iso(b), 0],
        [iso(a2), 330],
        [iso(a1), 300],
      ]);
      expect(await (await fetch(`${service.url}/metrics`)).text()).toMatch(/driftwatch_late_reanalyses_total 1\n/);
    } finally {
      release();
      await scheduler.stop();
    }
  }, 300_000);
});
