import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RollingBaselines } from '../analyzers/rolling.ts';
import { AnalysisScheduler } from '../analyzers/scheduler.ts';
import { buildApp } from '../api/app.ts';
import { QueryGate } from '../api/query-gate.ts';
import { createMetrics } from '../core/metrics.ts';
import { inlinePreparer } from '../ingest/preparer.ts';
import { createWriters } from '../ingest/writers.ts';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';
import { seeded, tempDir, testConfig } from './helpers.ts';

const dir = tempDir();
let sql: Sql;
let app: FastifyInstance;

const MIN = 60_000;
// Two hours ago, on a minute: every range below is in the past and within MAX_EVENT_AGE.
const T0 = Math.floor(Date.now() / MIN) * MIN - 120 * MIN;
const RANGE_A = { from: T0, to: T0 + 10 * MIN };
const RANGE_B = { from: T0 + 10 * MIN, to: T0 + 20 * MIN };
const RANGE_C = { from: T0 + 20 * MIN, to: T0 + 30 * MIN };
const WINDOW = { from: T0 + 30 * MIN, to: T0 + 31 * MIN };
const DRIFT = { psiThreshold: 0.2, minWindowEvents: 10, maxCategories: 100 };
const BASELINE = { bins: 10, maxCategories: 100, sampleMax: 1_000_000 };

const inject = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
  app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as object }) });

/** Events of `model` spread over a range: x ~ N(mean, 1), c in a/b, region eu/us, a score; labels right or all wrong. */
async function send(model: string, range: { from: number; to: number }, n: number, mean: number, labels: 'right' | 'wrong' | 'none', seed: number) {
  const { random, normal } = seeded(seed);
  const events = [];
  const truth = [];
  for (let i = 0; i < n; i++) {
    const id = `${model}-${range.from}-${i}`;
    const score = random();
    events.push({
      event_id: id,
      model,
      timestamp: range.from + Math.floor(((range.to - range.from) * i) / n),
      features: { x: normal(mean, 1), c: random() < 0.5 ? 'a' : 'b' },
      prediction: score,
      tags: { region: i % 2 === 0 ? 'eu' : 'us' },
    });
    const right = score >= 0.5 ? 1 : 0;
    if (labels !== 'none') truth.push({ model, event_id: id, label: labels === 'right' ? right : 1 - right });
  }
  const stored = await inject('POST', '/v1/events', events);
  expect(stored.json()).toMatchObject({ accepted: n, rejected: [] });
  if (truth.length > 0) expect((await inject('POST', '/v1/labels', truth)).json()).toMatchObject({ accepted: n });
}

async function freeze(model: string, range: { from: number; to: number }, extra: Record<string, unknown> = {}) {
  const response = await inject('POST', `/v1/models/${model}/baselines`, { from: range.from, to: range.to, ...extra });
  expect(response.statusCode, response.body).toBe(201);
  return response.json() as { baseline_id: string; active: boolean; name: string | null; segments: { baseline_id: string }[] };
}

const list = async (model: string) => (await inject('GET', `/v1/models/${model}/baselines`)).json().baselines as { baseline_id: string; active: boolean; name: string | null; rolled: boolean; from: string; to: string }[];
const activeId = async (model: string) => (await list(model)).find((b) => b.active)?.baseline_id;

/** Rows in every table of the store: what a read-only comparison must leave as it was. */
async function tableCounts(): Promise<Record<string, number>> {
  const tables = await sql.query<{ name: string }>("SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree' ORDER BY name");
  const counts: Record<string, number> = {};
  for (const { name } of tables) counts[name] = Number((await sql.query<{ n: number }>(`SELECT count() AS n FROM ${name}`))[0].n);
  return counts;
}

beforeAll(async () => {
  const config = testConfig({ DATA_DIR: dir.path });
  sql = await openStore(config);
  const metrics = createMetrics();
  app = await buildApp({
    sql,
    metrics,
    writers: createWriters(sql, { maxBatchRows: 100_000, maxPendingRows: 500_000 }, metrics),
    preparer: inlinePreparer(),
    apiKeys: [],
    bodyLimit: config.BODY_LIMIT_BYTES,
    gate: new QueryGate({ sql, metrics }, { maxConcurrent: 4, timeoutMs: 120_000 }),
    http: { headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT, requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT },
    windowMs: MIN,
    limits: () => ({ now: Date.now(), maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 }),
    baseline: BASELINE,
    drift: DRIFT,
  });
  await send('managed', RANGE_A, 400, 0, 'right', 1);
  await send('managed', RANGE_B, 400, 0, 'wrong', 2);
  await send('managed', RANGE_C, 400, 0.1, 'none', 3);
  await send('managed', WINDOW, 300, 2, 'right', 4);
}, 300_000);
afterAll(async () => {
  await app.close();
  await sql.close();
  dir.remove();
});

describe('the active baseline', () => {
  it('is the newest until one is chosen; then a baseline frozen later (to compare) does not take over, anywhere', async () => {
    const a = await freeze('managed', RANGE_A, { name: 'spring' });
    expect(a.active).toBe(true);
    const b = await freeze('managed', RANGE_B);
    expect(b.active).toBe(true);
    expect(await activeId('managed')).toBe(b.baseline_id);

    const chosen = await inject('PUT', `/v1/models/managed/baselines/${a.baseline_id}/active`);
    expect(chosen.statusCode, chosen.body).toBe(200);
    expect(chosen.json()).toMatchObject({ baseline_id: a.baseline_id, active: true, name: 'spring' });
    const c = await freeze('managed', RANGE_C);
    expect(c.active).toBe(false);
    const listed = await list('managed');
    expect(listed.map((x) => x.baseline_id)).toEqual([c.baseline_id, b.baseline_id, a.baseline_id]);
    expect(listed.map((x) => x.active)).toEqual([false, false, true]);
    expect(listed[2]).toMatchObject({ name: 'spring', rolled: false, from: new Date(RANGE_A.from).toISOString(), to: new Date(RANGE_A.to).toISOString() });

    // GET drift, performance and the scheduler all use the chosen one.
    const drift = await inject('GET', `/v1/models/managed/drift?from=${WINDOW.from}&to=${WINDOW.to}`);
    expect(drift.json()).toMatchObject({ baseline_id: a.baseline_id, reference: { from: new Date(RANGE_A.from).toISOString(), frozen: true } });
    const baselineA = (await inject('GET', `/v1/models/managed/baselines/${a.baseline_id}`)).json();
    const baselineB = (await inject('GET', `/v1/models/managed/baselines/${b.baseline_id}`)).json();
    expect(baselineA.performance.metrics.accuracy).toBe(1);
    expect(baselineB.performance.metrics.accuracy).toBe(0);
    const performance = (await inject('GET', `/v1/models/managed/performance?from=${WINDOW.from}&to=${WINDOW.to}`)).json();
    expect(performance.baseline_metrics.accuracy).toBe(1);
    const scheduler = new AnalysisScheduler(
      { sql, metrics: createMetrics(), log: { info: () => {}, error: (obj) => console.error(obj) } },
      { ...DRIFT, windowMs: MIN, graceMs: 0, metricsMaxFeatures: 100, performanceRecomputeWindows: 0 },
    );
    const reports = await scheduler.runWindow(WINDOW);
    expect(reports.find((r) => r.model === 'managed')?.baseline_id).toBe(a.baseline_id);
    const stored = await sql.query<{ id: string }>("SELECT DISTINCT toString(baseline_id) AS id FROM drift_windows FINAL WHERE model = 'managed'");
    expect(stored.map((r) => r.id)).toEqual([a.baseline_id]);

    // A segment baseline is chosen with its parent, not on its own.
    const segmented = await freeze('managed', RANGE_C, { segment_by: 'region' });
    expect(segmented.segments).toHaveLength(2);
    const segmentChoice = await inject('PUT', `/v1/models/managed/baselines/${segmented.segments[0].baseline_id}/active`);
    expect(segmentChoice.statusCode).toBe(409);
    expect(segmentChoice.json().code).toBe('DW_SEGMENT_BASELINE');
    expect(await activeId('managed')).toBe(a.baseline_id);
    expect((await inject('PUT', `/v1/models/managed/baselines/00000000-0000-4000-8000-000000000000/active`)).statusCode).toBe(404);
  }, 180_000);

  it('can be frozen active at once', async () => {
    await send('instant', RANGE_A, 100, 0, 'none', 5);
    const first = await freeze('instant', RANGE_A, { activate: true });
    await freeze('instant', RANGE_A);
    expect(await activeId('instant')).toBe(first.baseline_id);
  }, 180_000);
});

describe('names', () => {
  it('are given at freeze, changed and removed with PATCH; a bad one is refused', async () => {
    const b = await freeze('managed', RANGE_B, { name: 'before launch' });
    expect(b.name).toBe('before launch');
    const renamed = await inject('PATCH', `/v1/models/managed/baselines/${b.baseline_id}`, { name: 'Q3 reference' });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ baseline_id: b.baseline_id, name: 'Q3 reference' });
    expect((await list('managed')).find((x) => x.baseline_id === b.baseline_id)?.name).toBe('Q3 reference');
    expect((await inject('GET', `/v1/models/managed/baselines/${b.baseline_id}`)).json().name).toBe('Q3 reference');
    await inject('PATCH', `/v1/models/managed/baselines/${b.baseline_id}`, { name: null });
    expect((await list('managed')).find((x) => x.baseline_id === b.baseline_id)?.name).toBeNull();

    expect((await inject('PATCH', `/v1/models/managed/baselines/${b.baseline_id}`, { name: 'bad\nname' })).statusCode).toBe(400);
    expect((await inject('PATCH', `/v1/models/managed/baselines/${b.baseline_id}`, { name: 'x'.repeat(129) })).statusCode).toBe(400);
    expect((await inject('POST', '/v1/models/managed/baselines', { ...RANGE_B, name: '' })).statusCode).toBe(400);
    const missing = await inject('PATCH', '/v1/models/managed/baselines/00000000-0000-4000-8000-000000000000', { name: 'x' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('DW_BASELINE_NOT_FOUND');
  }, 180_000);
});

describe('deleting a baseline', () => {
  it('needs force for the active one (409 saying so), takes its segment baselines and samples, and leaves no query returning it', async () => {
    await send('doomed', RANGE_A, 200, 0, 'right', 6);
    const keep = await freeze('doomed', RANGE_A, { activate: true });
    const newer = await freeze('doomed', RANGE_A);
    const gone = await freeze('doomed', RANGE_A, { segment_by: 'region', activate: true });
    const ids = [gone.baseline_id, ...gone.segments.map((s) => s.baseline_id)];
    expect(ids).toHaveLength(3);
    const samplesOf = async () =>
      Number((await sql.query<{ n: number }>('SELECT count() AS n FROM baseline_sample_chunks WHERE toString(baseline_id) IN {ids:Array(String)}', { ids }))[0].n);
    expect(await samplesOf()).toBeGreaterThan(0);

    const refused = await inject('DELETE', `/v1/models/doomed/baselines/${gone.baseline_id}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'DW_BASELINE_ACTIVE' });
    expect(refused.json().message).toMatch(/active baseline.*force=true/);
    const segmentDelete = await inject('DELETE', `/v1/models/doomed/baselines/${gone.segments[0].baseline_id}?force=true`);
    expect(segmentDelete.statusCode).toBe(409);
    expect(await activeId('doomed')).toBe(gone.baseline_id);

    expect((await inject('DELETE', `/v1/models/doomed/baselines/${gone.baseline_id}?force=true`)).statusCode).toBe(204);
    for (const id of ids) {
      expect((await inject('GET', `/v1/models/doomed/baselines/${id}`)).statusCode).toBe(404);
      expect((await inject('GET', `/v1/models/doomed/drift?from=${RANGE_A.from}&to=${RANGE_A.to}&baseline_id=${id}`)).statusCode).toBe(404);
    }
    for (const final of ['', 'FINAL']) {
      const rows = await sql.query<{ n: number }>(
        `SELECT count() AS n FROM baselines ${final} WHERE toString(baseline_id) IN {ids:Array(String)} OR parent_id IN {ids:Array(String)}`,
        { ids },
      );
      expect(Number(rows[0].n)).toBe(0);
    }
    expect(await samplesOf()).toBe(0);
    expect(Number((await sql.query<{ n: number }>("SELECT count() AS n FROM baseline_active WHERE model = 'doomed'"))[0].n)).toBe(0);
    // The others are left, and the newest of them is active: not the one chosen before the deleted one.
    expect((await list('doomed')).map((b) => [b.baseline_id, b.active])).toEqual([
      [newer.baseline_id, true],
      [keep.baseline_id, false],
    ]);
    const drift = (await inject('GET', `/v1/models/doomed/drift?from=${RANGE_A.from}&to=${RANGE_A.to}&segment_by=region`)).json();
    expect(drift.baseline_id).toBe(newer.baseline_id);
    expect(drift.segments).toEqual([]);

    // An inactive one goes without force.
    expect((await inject('DELETE', `/v1/models/doomed/baselines/${newer.baseline_id}`)).statusCode).toBe(409);
    await inject('PUT', `/v1/models/doomed/baselines/${keep.baseline_id}/active`);
    expect((await inject('DELETE', `/v1/models/doomed/baselines/${newer.baseline_id}`)).statusCode).toBe(204);
    expect((await inject('DELETE', `/v1/models/doomed/baselines/${newer.baseline_id}`)).statusCode).toBe(404);
    expect(await activeId('doomed')).toBe(keep.baseline_id);
  }, 180_000);
});

describe('comparing two ranges without freezing anything', () => {
  it('gives what a baseline frozen from the reference range gives, and stores nothing', async () => {
    const before = await tableCounts();
    const url = `/v1/models/managed/drift?from=${WINDOW.from}&to=${WINDOW.to}&reference_from=${RANGE_C.from}&reference_to=${RANGE_C.to}&segment_by=region`;
    const compared = await inject('GET', url);
    expect(compared.statusCode, compared.body).toBe(200);
    expect(await tableCounts()).toEqual(before);

    const frozen = await freeze('managed', RANGE_C, { segment_by: 'region' });
    const against = (await inject('GET', `/v1/models/managed/drift?from=${WINDOW.from}&to=${WINDOW.to}&baseline_id=${frozen.baseline_id}&segment_by=region`)).json();
    const report = compared.json();
    expect(report.baseline_id).toBeNull();
    expect(report.reference).toEqual({ from: new Date(RANGE_C.from).toISOString(), to: new Date(RANGE_C.to).toISOString(), frozen: false });
    type Report = { baseline_id: unknown; reference: unknown; segments?: Report[] };
    const strip = (r: Report): Report => ({ ...r, baseline_id: undefined, reference: undefined, segments: r.segments?.map(strip) });
    expect(strip(report)).toEqual(strip(against));
    // The same methods found the same drift: x moved by two standard deviations, KS included.
    const x = report.features.find((f: { feature: string }) => f.feature === 'x');
    expect(x).toMatchObject({ drifted: true, status: 'ok' });
    expect(x.metrics.ks_statistic).toBeGreaterThan(0.5);
    expect(report.segments).toHaveLength(2);
  }, 180_000);

  it('refuses half a reference range, one mixed with baseline_id, a reversed one, and an empty one', async () => {
    const base = `/v1/models/managed/drift?from=${WINDOW.from}&to=${WINDOW.to}`;
    const half = await inject('GET', `${base}&reference_from=${RANGE_C.from}`);
    expect(half.statusCode).toBe(400);
    expect(half.json().message).toMatch(/reference_from and reference_to go together/);
    const mixed = await inject('GET', `${base}&reference_from=${RANGE_C.from}&reference_to=${RANGE_C.to}&baseline_id=00000000-0000-4000-8000-000000000000`);
    expect(mixed.statusCode).toBe(400);
    expect((await inject('GET', `${base}&reference_from=${RANGE_C.to}&reference_to=${RANGE_C.from}`)).statusCode).toBe(400);
    const empty = await inject('GET', `${base}&reference_from=${T0 - 100 * MIN}&reference_to=${T0 - 99 * MIN}`);
    expect(empty.statusCode).toBe(422);
    expect(empty.json().code).toBe('DW_EMPTY_RANGE');
  });
});

describe('rolling baselines', () => {
  const rollingWith = (now?: () => number) =>
    new RollingBaselines(
      { sql, metrics: createMetrics(), now, log: { info: () => {}, error: (obj) => console.error(obj) } },
      { baseline: BASELINE, maxSegments: 20, pollMs: 500 },
    );

  /** Polls (generously: a busy machine) until `check` holds. */
  async function until<T>(what: string, read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 90_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (check(value)) return value;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 500)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('refreezes on time from the lookback before, becomes active, records each refreeze, keeps the newest, and survives a restart', async () => {
    await send('rolling', { from: Date.now() - 30 * MIN, to: Date.now() - MIN }, 300, 0, 'none', 7);
    const manual = await freeze('rolling', { from: Date.now() - 30 * MIN, to: Date.now() - MIN }, { activate: true });
    const set = await inject('PUT', '/v1/models/rolling/baselines/rolling', { every: '2s', lookback: '2h', keep: 2, name: 'rolled', segment_by: 'region' });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().policy).toMatchObject({ model: 'rolling', every: '2s', lookback: '2h', keep: 2, name: 'rolled', segment_by: 'region', last_refreeze: null });

    const rolling = rollingWith();
    rolling.start();
    const refreezesNow = async () =>
      (await inject('GET', '/v1/models/rolling/baselines/rolling')).json().refreezes as { at: string; outcome: string; baseline_id: string; from: string; to: string; n_events: number }[];
    try {
      await until('three refreezes', refreezesNow, (r) => r.length >= 3);
    } finally {
      await rolling.stop();
    }
    // Read again once stopped: one more may have run while it was stopping.
    const refreezes = await refreezesNow();
    const ok = refreezes.filter((r) => r.outcome === 'ok');
    expect(ok.length).toBe(refreezes.length);
    for (const r of ok) {
      expect(r.n_events).toBe(300);
      expect(Date.parse(r.to) - Date.parse(r.from)).toBe(2 * 3_600_000);
    }
    // Newest first, at least a period apart (never sooner: a busy machine only makes them later).
    for (let i = 1; i < ok.length; i++) expect(Date.parse(ok[i - 1].at) - Date.parse(ok[i].at)).toBeGreaterThanOrEqual(2_000);

    // The newest refreeze is active; the manual baseline stays; rolled ones beyond keep=2 are deleted with their segments.
    const listed = await list('rolling');
    expect(listed.find((b) => b.active)?.baseline_id).toBe(ok[0].baseline_id);
    const rolled = listed.filter((b) => b.rolled);
    expect(rolled.map((b) => b.baseline_id)).toEqual(ok.slice(0, 2).map((r) => r.baseline_id));
    expect(rolled.every((b) => b.name === 'rolled')).toBe(true);
    expect(listed.find((b) => b.baseline_id === manual.baseline_id)).toMatchObject({ rolled: false, active: false });
    const dropped = ok.slice(2).map((r) => r.baseline_id);
    const leftover = await sql.query<{ n: number }>('SELECT count() AS n FROM baselines WHERE toString(baseline_id) IN {ids:Array(String)} OR parent_id IN {ids:Array(String)}', { ids: dropped });
    expect(Number(leftover[0].n)).toBe(0);
    const segments = await sql.query<{ n: number }>('SELECT count() AS n FROM baselines FINAL WHERE parent_id = {id:String}', { id: ok[0].baseline_id });
    expect(Number(segments[0].n)).toBe(2);

    // The policy is in the store: a new scheduler (a restart) picks it up and refreezes when due,
    // on a clock of its own so that "not yet due" does not depend on how fast the machine is.
    let clock = Date.parse(ok[0].at) + 1_999;
    const restarted = rollingWith(() => clock);
    expect((await restarted.runDue()).refreezes).toHaveLength(0);
    clock += 1;
    const { refreezes: again, next } = await restarted.runDue();
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ model: 'rolling', outcome: 'ok', at: clock });
    expect(next).toBe(clock + 2_000);
    expect(await activeId('rolling')).toBe(again[0].baseline_id);
    clock += 1_999;
    expect((await restarted.runDue()).refreezes).toHaveLength(0);

    // Cleared: no more refreezes, and the rolled baselines and the choice stay.
    expect((await inject('DELETE', '/v1/models/rolling/baselines/rolling')).statusCode).toBe(204);
    expect((await inject('GET', '/v1/models/rolling/baselines/rolling')).json().policy).toBeNull();
    clock += 60_000;
    expect((await restarted.runDue()).refreezes).toHaveLength(0);
    expect(await activeId('rolling')).toBe(again[0].baseline_id);
  }, 180_000);

  it('records a refreeze that found no events as failed, with the reason, and leaves the active baseline', async () => {
    await send('quiet', { from: T0, to: T0 + MIN }, 50, 0, 'none', 8);
    const kept = await freeze('quiet', { from: T0, to: T0 + MIN });
    await inject('PUT', '/v1/models/quiet/baselines/rolling', { every: '1h', lookback: '10m' });
    const { refreezes } = await rollingWith().runDue();
    const mine = refreezes.find((r) => r.model === 'quiet');
    expect(mine).toMatchObject({ outcome: 'failed', baseline_id: null, n_events: 0 });
    expect(mine!.reason).toMatch(/no events/);
    expect(await activeId('quiet')).toBe(kept.baseline_id);
    expect((await inject('GET', '/v1/models/quiet/baselines/rolling')).json().refreezes[0]).toMatchObject({ outcome: 'failed', reason: mine!.reason });
    await inject('DELETE', '/v1/models/quiet/baselines/rolling');
  }, 180_000);

  it('refuses a bad period', async () => {
    for (const body of [{ every: 'daily', lookback: '7d' }, { every: '500ms', lookback: '7d' }, { every: '1d', lookback: '400d' }, { every: '1d' }]) {
      const response = await inject('PUT', '/v1/models/managed/baselines/rolling', body);
      expect(`${JSON.stringify(body)} ${response.statusCode}`).toBe(`${JSON.stringify(body)} 400`);
    }
    expect((await inject('GET', '/v1/models/managed/baselines/rolling')).json().policy).toBeNull();
  });
});
