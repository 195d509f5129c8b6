import { brotliCompressSync, deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalysisScheduler } from '../analyzers/scheduler.ts';
import { buildApp, type AppDeps } from '../api/app.ts';
import { QueryGate } from '../api/query-gate.ts';
import { createMetrics } from '../core/metrics.ts';
import { inlinePreparer } from '../ingest/preparer.ts';
import { createWriters } from '../ingest/writers.ts';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';
import { event, tempDir, testConfig } from './helpers.ts';

const dir = tempDir();
let sql: Sql;
let app: FastifyInstance;
let secured: FastifyInstance;

async function makeApp(apiKeys: string[] = [], extra: Partial<AppDeps> = {}) {
  const config = testConfig({ DATA_DIR: dir.path });
  const metrics = createMetrics();
  return buildApp({
    sql,
    metrics,
    writers: createWriters(sql, { maxBatchRows: 100_000, maxPendingRows: 500_000 }, metrics),
    preparer: inlinePreparer(),
    apiKeys,
    bodyLimit: config.BODY_LIMIT_BYTES,
    gate: new QueryGate({ sql, metrics }, { maxConcurrent: config.ANALYSIS_MAX_CONCURRENT, timeoutMs: config.ANALYSIS_TIMEOUT }),
    http: { headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT, requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT },
    windowMs: 60_000,
    limits: () => ({ now: Date.now(), maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 }),
    baseline: { bins: 10, maxCategories: 100, sampleMax: 1_000_000 },
    drift: { psiThreshold: 0.2, minWindowEvents: 10, maxCategories: 100 },
    ...extra,
  });
}

beforeAll(async () => {
  sql = await openStore(testConfig({ DATA_DIR: dir.path }));
  app = await makeApp();
  secured = await makeApp(['s3cret', 'other-key']);
});
afterAll(async () => {
  await app.close();
  await secured.close();
  await sql.close();
  dir.remove();
});

const postEvents = (payload: string | object, contentType = 'application/json', target = app) =>
  target.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { 'content-type': contentType },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });

async function storedIds(model: string): Promise<string[]> {
  const rows = await sql.query<{ event_id: string }>('SELECT event_id FROM events FINAL WHERE model = {m:String} ORDER BY event_id', { m: model });
  return rows.map((r) => r.event_id);
}

describe('POST /v1/events', () => {
  it('stores the good events and rejects each bad one with its index and reason', async () => {
    const response = await postEvents([
      event({ model: 'mixed', event_id: 'good-1' }),
      event({ model: 'mixed', event_id: 'bad-ts', timestamp: Math.floor(Date.now() / 1000) }),
      event({ model: "mixed'; DROP TABLE events; --", event_id: 'bad-model' }),
      event({ model: 'mixed', event_id: 'bad-type', latency_ms: '12' }),
      event({ model: 'mixed', event_id: 'bad-future', timestamp: Date.now() + 7 * 86_400_000 }),
      event({ model: 'mixed', event_id: 'too-wide', features: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`f${i}`, i])) }),
      'not an object',
      event({ model: 'mixed', event_id: 'good-2', timestamp: new Date().toISOString() }),
    ]);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.accepted).toBe(2);
    expect(body.rejected.map((r: { index: number }) => r.index)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(body.rejected[0].reason).toMatch(/epoch seconds/);
    expect(body.rejected[1].reason).toMatch(/model .* must match/);
    expect(body.rejected[2].reason).toMatch(/latency_ms must be a number/);
    expect(body.rejected[3].reason).toMatch(/in the future/);
    expect(body.rejected[4].reason).toMatch(/more than 1000 features/);
    expect(body.rejected[5].reason).toMatch(/must be a JSON object/);
    expect(await storedIds('mixed')).toEqual(['good-1', 'good-2']);
  });

  it('rejects __proto__ features and 1e999 without touching the good event beside them', async () => {
    const good = JSON.stringify(event({ model: 'proto', event_id: 'ok' }));
    const proto = `{"event_id":"p","model":"proto","timestamp":${Date.now()},"features":{"__proto__":{"polluted":1}},"prediction":1}`;
    const huge = `{"event_id":"h","model":"proto","timestamp":${Date.now()},"features":{"x":1e999},"prediction":1}`;
    const response = await postEvents(`[${proto},${good},${huge}]`);
    expect(response.json()).toEqual({
      accepted: 1,
      rejected: [
        { index: 0, reason: 'feature name "__proto__" is reserved' },
        { index: 2, reason: 'features.x must be finite (got Infinity)' },
      ],
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await storedIds('proto')).toEqual(['ok']);
  });

  it('reads NDJSON line by line', async () => {
    const lines = [JSON.stringify(event({ model: 'nd', event_id: 'a' })), '{"event_id": "b", trunc', '', JSON.stringify(event({ model: 'nd', event_id: 'c', features: { x: NaN } }))];
    const response = await postEvents(lines.join('\n'), 'application/x-ndjson');
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.accepted).toBe(2); // NaN serialises as null: a missing value, not an error
    expect(body.rejected).toHaveLength(1);
    expect(body.rejected[0]).toMatchObject({ index: 1, reason: expect.stringMatching(/not valid JSON/) });
    expect(await storedIds('nd')).toEqual(['a', 'c']);
  });

  it.each([
    ['non-JSON', 'hello world', /not valid JSON/],
    ['truncated JSON', '[{"event_id": "x", "model": "m"', /not valid JSON/],
    ['a non-array body', JSON.stringify(event()), /must be a JSON array/],
    ['a bare NaN', '[NaN]', /not valid JSON/],
  ])('answers 400 with the reason for %s', async (_name, payload, reason) => {
    const response = await postEvents(payload);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'DW_BAD_BODY', message: expect.stringMatching(reason) });
  });

  it.each(['/v1/events', '/v1/labels'])('answers 400 for a POST to %s with no body at all (found by schemathesis: it was a 500)', async (url) => {
    const response = await app.inject({ method: 'POST', url });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'DW_BAD_BODY', message: expect.stringMatching(/body is empty/) });
  });

  it('answers 413 for a 10 MB body', async () => {
    const big = '[' + Array.from({ length: 20_000 }, () => JSON.stringify(event({ model: 'big', features: { blob: 'x'.repeat(500) } }))).join(',') + ']';
    expect(big.length).toBeGreaterThan(10_000_000);
    const response = await postEvents(big);
    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
    expect(await storedIds('big')).toEqual([]);
  });

  it('answers 415 for a body that is neither JSON nor NDJSON', async () => {
    const response = await postEvents('a,b,c', 'text/csv');
    expect(response.statusCode).toBe(415);
  });

  it('stores a resent event once', async () => {
    const e = event({ model: 'resend', event_id: 'once' });
    await postEvents([e]);
    await postEvents([e, e]);
    expect(await storedIds('resend')).toEqual(['once']);
    const models = (await app.inject({ method: 'GET', url: '/v1/models' })).json().models;
    expect(models.find((m: { model: string }) => m.model === 'resend')).toMatchObject({ events: 1, versions: ['v1'] });
  });
});

describe('POST /v1/labels', () => {
  it('stores labels and rejects bad ones', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/labels',
      payload: [
        { event_id: 'a', model: 'labelled', label: 1 },
        { event_id: 'b', model: 'labelled', label: { no: 1 } },
        { event_id: 'c', model: 'labelled', label: 'fraud', timestamp: new Date().toISOString() },
      ],
    });
    expect(response.json()).toEqual({ accepted: 2, rejected: [{ index: 1, reason: 'label must be a number or a string' }] });
    const [count] = await sql.query<{ n: number }>("SELECT count() AS n FROM labels FINAL WHERE model = 'labelled'");
    expect(Number(count.n)).toBe(2);
  });
});

describe('compressed bodies (Content-Encoding)', () => {
  const postPacked = (payload: Buffer, encoding: string, contentType = 'application/x-ndjson') =>
    app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': contentType, 'content-encoding': encoding }, payload });
  const ndjson = (model: string, n: number) =>
    Array.from({ length: n }, (_, i) => JSON.stringify(event({ model, event_id: `${model}-${i}`, features: { income: i, region: 'eu' } }))).join('\n');

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const)('stores a %s body as if it had come plain', async (encoding, pack) => {
    const model = `packed-${encoding}`;
    const plain = Buffer.from(ndjson(model, 300) + '\n{"event_id": "no-model"}');
    const packed = pack(plain);
    expect(packed.length).toBeLessThan(plain.length / 4);
    const response = await postPacked(packed, encoding);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ accepted: 300, rejected: [{ index: 300, reason: expect.stringMatching(/model/) }] });
    expect(await storedIds(model)).toHaveLength(300);
  });

  it('answers 400 for a body that is not what its Content-Encoding says, and stores none of it', async () => {
    const packed = gzipSync(Buffer.from(ndjson('packed-broken', 50)));
    const truncated = await postPacked(packed.subarray(0, packed.length - 20), 'gzip');
    expect(truncated.statusCode).toBe(400);
    expect(truncated.json().code).toBe('FST_CP_ERR_INVALID_CONTENT');
    const plain = await postPacked(Buffer.from(ndjson('packed-broken', 50)), 'gzip');
    expect(plain.statusCode).toBe(400);
    expect(await storedIds('packed-broken')).toEqual([]);
  });

  it('answers 415 with the reason for an encoding it does not decode', async () => {
    const response = await postPacked(Buffer.from(ndjson('packed-lzw', 5)), 'compress');
    expect(response.statusCode).toBe(415);
    expect(response.json()).toMatchObject({ code: 'FST_CP_ERR_INVALID_CONTENT_ENCODING', message: expect.stringMatching(/compress/) });
    expect(await storedIds('packed-lzw')).toEqual([]);
  });

  it('answers 413 for a small body that inflates past the body limit', async () => {
    // 32 gzip members of 8 MB of spaces each: 256 MB inflated from a few hundred KB.
    const member = gzipSync(Buffer.alloc(8 * 1024 * 1024, 0x20));
    const bomb = Buffer.concat(Array.from({ length: 32 }, () => member));
    expect(bomb.length).toBeLessThan(testConfig({}).BODY_LIMIT_BYTES / 4);
    const response = await postPacked(bomb, 'gzip', 'application/json');
    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
  });
});

describe('API keys', () => {
  const post = (authorization?: string) =>
    secured.inject({
      method: 'POST',
      url: '/v1/events',
      headers: authorization ? { authorization } : {},
      payload: [event({ model: 'secured' })],
    });
  it('refuses writes without a valid key', async () => {
    for (const auth of [undefined, 'Bearer wrong', 's3cret', 'Basic czNjcmV0']) {
      const response = await post(auth);
      expect(response.statusCode).toBe(401);
      expect(response.json().code).toBe('DW_UNAUTHORIZED');
    }
    const baseline = await secured.inject({ method: 'POST', url: '/v1/models/secured/baselines', payload: { from: 0, to: 1 } });
    expect(baseline.statusCode).toBe(401);
    expect(await storedIds('secured')).toEqual([]);
  });
  it('accepts writes with any configured key, and needs one for reads too (API_KEYS keys have every scope)', async () => {
    expect((await post('Bearer s3cret')).statusCode).toBe(200);
    expect((await post('bearer other-key')).statusCode).toBe(200);
    expect((await secured.inject({ method: 'GET', url: '/v1/models' })).statusCode).toBe(401);
    expect((await secured.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer other-key' } })).statusCode).toBe(200);
    expect(await storedIds('secured')).toHaveLength(2);
  });
});

describe('baselines and drift', () => {
  const model = 'loans';
  const refStart = Date.now() - 3_600_000;
  const curStart = Date.now() - 1_800_000;

  beforeAll(async () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const make = (i: number, ts: number, shifted: boolean) => {
      const income = 50_000 + 10_000 * normal() + (shifted ? 8_000 : 0);
      return event({
        model,
        event_id: `${shifted ? 'c' : 'r'}${i}`,
        timestamp: ts,
        features: {
          income,
          age: 40 + 10 * normal(),
          purpose: random() < (shifted ? 0.6 : 0.3) ? 'car' : 'home',
          region: random() < 0.5 ? 'north' : 'south',
        },
        // The model's score follows income, so it drifts with it.
        prediction: 1 / (1 + Math.exp((income - 50_000) / 10_000)),
      });
    };
    const reference = Array.from({ length: 3000 }, (_, i) => make(i, refStart + i * 100, false));
    const current = Array.from({ length: 3000 }, (_, i) => make(i, curStart + i * 100, true));
    for (const batch of [reference, current]) expect((await postEvents(batch)).json().accepted).toBe(3000);
  });

  it('answers 404 for drift before any baseline exists', async () => {
    const response = await app.inject({ method: 'GET', url: `/v1/models/${model}/drift` });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'DW_BASELINE_NOT_FOUND', message: expect.stringMatching(/no baseline yet/) });
  });

  it('answers 422 for a baseline over an empty range and 400 for a bad one', async () => {
    const empty = await app.inject({ method: 'POST', url: `/v1/models/${model}/baselines`, payload: { from: 1e12, to: 1e12 + 1000 } });
    expect(empty.statusCode).toBe(422);
    expect(empty.json().code).toBe('DW_EMPTY_RANGE');
    const reversed = await app.inject({ method: 'POST', url: `/v1/models/${model}/baselines`, payload: { from: curStart, to: refStart } });
    expect(reversed.statusCode).toBe(400);
    const garbage = await app.inject({ method: 'POST', url: `/v1/models/${model}/baselines`, payload: { from: 'yesterday', to: 'now' } });
    expect(garbage.statusCode).toBe(400);
    expect(garbage.json().message).toMatch(/from must be epoch milliseconds or RFC 3339/);
    // Not a real date: refused with the reason, not rolled over into March.
    const notADate = await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?from=2026-02-30T00:00:00Z&to=2026-03-05T00:00:00Z` });
    expect(notADate.statusCode).toBe(400);
    expect(notADate.json().message).toMatch(/from must be .* got "2026-02-30T00:00:00Z", which is not a real date: 2026-02 has no day 30/);
    // Found by schemathesis: epoch milliseconds past 2^53 were a 500 (the store refuses to bind them).
    const huge = await app.inject({ method: 'POST', url: `/v1/models/${model}/baselines`, payload: { from: 33446, to: 4220733147838109184 } });
    expect(huge.statusCode).toBe(400);
    expect(huge.json().message).toMatch(/to must be between 1900-01-01 and 2299-12-31/);
    const drift = await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?from=0&to=99999999999999999` });
    expect(drift.statusCode).toBe(400);
    const extra = await app.inject({ method: 'POST', url: `/v1/models/${model}/baselines`, payload: { from: 1, to: 2, evil: 1 } });
    expect(extra.statusCode).toBe(400);
  });

  it('freezes a baseline and flags exactly the shifted features', async () => {
    const created = await app.inject({
      method: 'POST',
      url: `/v1/models/${model}/baselines`,
      payload: { from: new Date(refStart).toISOString(), to: curStart },
    });
    expect(created.statusCode).toBe(201);
    const baseline = created.json();
    expect(baseline.n_events).toBe(3000);
    expect(baseline.features.map((f: { name: string; kind: string }) => `${f.name}:${f.kind}`)).toEqual([
      '@prediction:numeric',
      'age:numeric',
      'income:numeric',
      'purpose:categorical',
      'region:categorical',
    ]);

    const drift = await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?from=${curStart}&to=${curStart + 300_000}` });
    expect(drift.statusCode).toBe(200);
    const report = drift.json();
    expect(report.baseline_id).toBe(baseline.baseline_id);
    expect(report.n_events).toBe(3000);
    expect([...report.drifted_features].sort()).toEqual(['income', 'purpose']);
    // Two of four features drifted: the dataset-level verdict is reached at the default share of one half.
    expect(report.drifted_share).toBe(0.5);
    expect(report.dataset_drifted).toBe(true);
    const income = report.features.find((f: { feature: string }) => f.feature === 'income');
    expect(income).toMatchObject({ kind: 'numeric', n_reference: 3000, n_current: 3000, method: 'psi', drifted: true, status: 'ok' });
    // Calibrated to 3000 vs 3000 events over 11 occupied bins (the shift fills the upper outer bin):
    // scipy.stats.chi2.ppf(0.999, 10) * (1/3000 + 1/3000).
    expect(income.threshold).toBeCloseTo(29.58829844507442 * (2 / 3000), 12);
    expect(income.metrics.psi).toBeGreaterThan(0.2);
    expect(income.metrics.ks_statistic).toBeGreaterThan(0.2);
    expect(income.metrics.ks_p_value).toBeLessThan(1e-10);
    const region = report.features.find((f: { feature: string }) => f.feature === 'region');
    expect(region.metrics.psi).toBeLessThan(0.02);
    expect(region.metrics.chi2_p_value).toBeGreaterThan(0.001);
    // Strongest drift first.
    expect(report.features[0].drifted).toBe(true);
    // The model output drifted with its input, and is reported apart from the features.
    expect(report.prediction).toMatchObject({ feature: '@prediction', kind: 'numeric', drifted: true, n_current: 3000 });
    expect(report.prediction.metrics.psi).toBeGreaterThan(0.2);
    expect(report.features.map((f: { feature: string }) => f.feature)).not.toContain('@prediction');

    const explicit = await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?from=${refStart}&to=${curStart}&baseline_id=${baseline.baseline_id}` });
    expect(explicit.json().drifted_features).toEqual([]);
    const missing = await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?baseline_id=00000000-0000-0000-0000-000000000000` });
    expect(missing.statusCode).toBe(404);
    const listed = await app.inject({ method: 'GET', url: `/v1/models/${model}/baselines` });
    expect(listed.json().baselines.map((b: { baseline_id: string }) => b.baseline_id)).toEqual([baseline.baseline_id]);
  });

  it('validates path and query parameters', async () => {
    expect((await app.inject({ method: 'GET', url: "/v1/models/bad'name/drift" })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?from=soon` })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?baseline_id=not-a-uuid` })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: `/v1/models/${model}/drift/history?limit=0` })).statusCode).toBe(400);
  });
});

describe('segments', () => {
  // Minute-aligned, so the scheduler's tumbling window below is the current range's first minute.
  const segmentedStarts = [Math.floor(Date.now() / 60_000) * 60_000 - 7_200_000, Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000];

  it('freezes a baseline per tag value and finds drift in the one segment that moved', async () => {
    const model = 'segmented';
    const [refStart, curStart] = segmentedStarts;
    let seed = 11;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const regions = ['north', 'north', 'north', 'south', 'south', 'east'];
    const make = (i: number, ts: number, current: boolean) => {
      const region = regions[i % regions.length];
      // Each region has its own level; only the north moves, and only in the current range.
      const level = { north: 10, south: 20, east: 30 }[region]!;
      const x = level + random() * 5 + (current && region === 'north' ? 4 : 0);
      return event({ model, event_id: `${current ? 'c' : 'r'}${i}`, timestamp: ts + i, features: { x, y: random() }, tags: { region } });
    };
    const events = [...Array.from({ length: 3000 }, (_, i) => make(i, refStart, false)), ...Array.from({ length: 3000 }, (_, i) => make(i, curStart, true))];
    expect((await postEvents(events)).json().accepted).toBe(6000);
    const created = await app.inject({ method: 'POST', url: `/v1/models/${model}/baselines`, payload: { from: refStart, to: curStart, segment_by: 'region' } });
    expect(created.statusCode).toBe(201);
    const baseline = created.json();
    expect(baseline.segments.map((s: { value: string; n_events: number }) => [s.value, s.n_events])).toEqual([
      ['north', 1500],
      ['south', 1000],
      ['east', 500],
    ]);
    // One name for a baseline's id everywhere: in answers, in the path and in the query.
    const segmentId = baseline.segments[0].baseline_id;
    const one = (await app.inject({ method: 'GET', url: `/v1/models/${model}/baselines/${segmentId}` })).json();
    expect(one).toMatchObject({ baseline_id: segmentId, parent_baseline_id: baseline.baseline_id, segment: { tag: 'region', value: 'north' } });
    expect(one).not.toHaveProperty('parent_id');
    expect(baseline.parent_baseline_id).toBeNull();
    const byId = await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?from=${curStart}&to=${curStart + 60_000}&baseline_id=${segmentId}` });
    expect(byId.json().baseline_id).toBe(segmentId);
    const oldName = await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?baseline=${segmentId}` });
    expect(oldName.statusCode).toBe(400);
    expect(oldName.json().message).toMatch(/must NOT have additional properties/);
    const report = (await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?from=${curStart}&to=${curStart + 60_000}&segment_by=region` })).json();
    expect(report.n_events).toBe(3000);
    const bySegment = Object.fromEntries(report.segments.map((r: { segment: { value: string }; drifted_features: string[]; n_events: number }) => [r.segment.value, r]));
    expect(bySegment.north.n_events).toBe(1500);
    expect(bySegment.north.drifted_features).toEqual(['x']);
    expect(bySegment.south.drifted_features).toEqual([]);
    expect(bySegment.east.drifted_features).toEqual([]);
    // Without segment_by the report has no segments.
    const plain = (await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?from=${curStart}&to=${curStart + 60_000}` })).json();
    expect(plain.segments).toBeUndefined();
    // The model-wide baseline stays the default one, not a segment's.
    const listed = (await app.inject({ method: 'GET', url: `/v1/models/${model}/baselines` })).json();
    expect(listed.baselines.map((b: { baseline_id: string }) => b.baseline_id)).toEqual([baseline.baseline_id]);
  });

  it('keeps each segment\'s scheduled report in history beside the model-wide one', async () => {
    const model = 'segmented';
    const [refStart, curStart] = segmentedStarts;
    const window = { from: curStart, to: curStart + 60_000 };
    const scheduler = new AnalysisScheduler(
      { sql, metrics: createMetrics(), log: { info: () => {}, error: (obj) => console.error(obj) } },
      { windowMs: 60_000, graceMs: 0, metricsMaxFeatures: 100, performanceRecomputeWindows: 0, psiThreshold: 0.2, minWindowEvents: 10, maxCategories: 100 },
    );
    // Twice: re-running a window replaces its reports instead of adding more.
    await scheduler.runWindow(window);
    await scheduler.runWindow(window);

    const history = (await app.inject({ method: 'GET', url: `/v1/models/${model}/drift/history?segment_by=region&from=${refStart}` })).json();
    expect(history.windows).toHaveLength(1);
    const [stored] = history.windows;
    expect(stored).toMatchObject({ from: new Date(window.from).toISOString(), segment: null, n_events: 3000 });
    // Whole reports are kept: data quality too, not only the per-feature scores.
    expect(stored.data_quality).toMatchObject({ n_events: 3000, absent_features: [], new_features: [] });
    const bySegment = Object.fromEntries(stored.segments.map((r: { segment: { value: string } }) => [r.segment.value, r]));
    expect(Object.keys(bySegment).sort()).toEqual(['east', 'north', 'south']);
    expect(bySegment.north).toMatchObject({ segment: { tag: 'region', value: 'north' }, n_events: 1500, drifted_features: ['x'] });
    expect(bySegment.south).toMatchObject({ n_events: 1000, drifted_features: [] });
    expect(bySegment.east).toMatchObject({ n_events: 500, drifted_features: [] });
    // Each against its own segment baseline, not the model-wide one.
    const segmentBaselineIds = new Set(stored.segments.map((r: { baseline_id: string }) => r.baseline_id));
    expect(segmentBaselineIds.size).toBe(3);
    expect(segmentBaselineIds.has(stored.baseline_id)).toBe(false);

    const north = (await app.inject({ method: 'GET', url: `/v1/models/${model}/drift/history?segment_by=region&segment=north&from=${refStart}` })).json();
    expect(north.windows[0].segments.map((r: { segment: { value: string } }) => r.segment.value)).toEqual(['north']);
    const plain = (await app.inject({ method: 'GET', url: `/v1/models/${model}/drift/history?from=${refStart}` })).json();
    expect(plain.windows[0].segments).toBeUndefined();
    const orphan = await app.inject({ method: 'GET', url: `/v1/models/${model}/drift/history?segment=north` });
    expect(orphan.statusCode).toBe(400);
    expect(orphan.json()).toMatchObject({ code: 'DW_BAD_QUERY', message: expect.stringContaining('segment_by') });
  });

  it('reports a window without events as no_data with no threshold, live and stored (found by schemathesis: it was a 500)', async () => {
    const model = 'segmented';
    const [refStart] = segmentedStarts;
    const window = { from: refStart - 3_600_000, to: refStart - 3_000_000 };
    const live = await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?from=${window.from}&to=${window.to}&segment_by=region` });
    expect(live.statusCode).toBe(200);
    const report = live.json();
    expect(report.n_events).toBe(0);
    expect(report.prediction).toMatchObject({ status: 'no_data', threshold: null, drifted: false });
    expect(report.features.length).toBeGreaterThan(0);
    for (const f of report.features) expect(f).toMatchObject({ status: 'no_data', threshold: null, score: null, drifted: false });

    const scheduler = new AnalysisScheduler(
      { sql, metrics: createMetrics(), log: { info: () => {}, error: (obj) => console.error(obj) } },
      { windowMs: 600_000, graceMs: 0, metricsMaxFeatures: 100, performanceRecomputeWindows: 0, psiThreshold: 0.2, minWindowEvents: 10, maxCategories: 100 },
    );
    await scheduler.runWindow(window);
    const history = (await app.inject({ method: 'GET', url: `/v1/models/${model}/drift/history?from=${window.from}&to=${window.to}` })).json();
    expect(history.windows).toHaveLength(1);
    expect(history.windows[0].prediction).toMatchObject({ status: 'no_data', threshold: null });
  });
});

describe('data quality', () => {
  it('reports missing values, type violations, absent and new features per window', async () => {
    const model = 'quality';
    const refStart = Date.now() - 7_200_000;
    const curStart = Date.now() - 3_600_000;
    const reference = Array.from({ length: 400 }, (_, i) =>
      event({ model, event_id: `r${i}`, timestamp: refStart + i, features: { amount: i, country: i % 2 ? 'DE' : 'FR', retired: i } }),
    );
    const current = Array.from({ length: 400 }, (_, i) =>
      event({
        model,
        event_id: `c${i}`,
        timestamp: curStart + i,
        features: {
          // 25% null, 25% left out, 5% a string where numbers belong (i = 2, 22, 42, ...).
          ...(i % 4 === 0 ? { amount: null } : i % 4 === 1 ? {} : { amount: i % 10 === 2 ? 'n/a' : i }),
          country: i % 2 ? 'DE' : 'FR',
          brand_new: 1,
        },
      }),
    );
    expect((await postEvents([...reference, ...current])).json().accepted).toBe(800);
    const created = await app.inject({ method: 'POST', url: `/v1/models/${model}/baselines`, payload: { from: refStart, to: curStart } });
    expect(created.statusCode).toBe(201);
    const report = (await app.inject({ method: 'GET', url: `/v1/models/${model}/drift?from=${curStart}&to=${curStart + 60_000}` })).json();
    const dq = report.data_quality;
    expect(dq.n_events).toBe(400);
    expect(dq.absent_features).toEqual(['retired']);
    expect(dq.new_features).toEqual(['brand_new']);
    const amount = dq.features.find((f: { feature: string }) => f.feature === 'amount');
    expect(amount.type_violation_share).toBeCloseTo(20 / 400, 10);
    expect(amount.missing_share).toBeCloseTo(200 / 400, 10);
    expect(amount.present_share).toBeCloseTo(180 / 400, 10);
    const country = dq.features.find((f: { feature: string }) => f.feature === 'country');
    expect(country).toMatchObject({ present_share: 1, missing_share: 0, type_violation_share: 0 });
    const amountDrift = report.features.find((f: { feature: string }) => f.feature === 'amount');
    expect(amountDrift.metrics.missing_share).toBeCloseTo(0.5, 10);
    // Each share beside the baseline's, with its verdict (issue 19 item 4); the reference had none missing.
    expect(amount.checks.missing).toMatchObject({ share: 0.5, baseline: 0, drifted: true });
    expect(amount.checks.type_violation).toMatchObject({ baseline: 0, drifted: true });
    expect(amount.checks.out_of_range).toMatchObject({ share: 0, baseline: 2 / 401, drifted: false });
    expect(country.checks.missing.drifted).toBe(false);
    // retired is gone from the window: missing in every event against none in the reference.
    expect(dq.features.find((f: { feature: string }) => f.feature === 'retired').checks.missing).toMatchObject({ share: 1, baseline: 0, drifted: true });
    expect(dq.flagged_features).toEqual(['amount', 'retired']);
    // The joint distribution of the numeric features against the baseline's PCA (issue 19 item 2).
    expect(report.multivariate).toMatchObject({ method: 'pca_reconstruction_error', features: ['amount', 'retired'], status: 'ok', n_current: 400 });
  });
});

describe('operations', () => {
  it('serves health, readiness and Prometheus metrics', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready' });
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.headers['content-type']).toMatch(/text\/plain/);
    expect(metrics.headers['content-encoding']).toBeUndefined();
    // As Prometheus scrapes: gzip when asked, the same text inside.
    const zipped = await app.inject({ method: 'GET', url: '/metrics', headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.rawPayload.length).toBeLessThan(metrics.rawPayload.length / 3);
    expect(gunzipSync(zipped.rawPayload).toString()).toMatch(/driftwatch_ingest_items_total\{stream="events",source="http",outcome="accepted"\} \d+/);
    expect(metrics.body).toMatch(/driftwatch_ingest_items_total\{stream="events",source="http",outcome="accepted"\} \d+/);
    expect(metrics.body).toMatch(/driftwatch_ingest_rejected_total\{stream="events",reason="timestamp_out_of_range"\} \d+/);
  });

  it('publishes an OpenAPI document covering every route', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/healthz',
      '/metrics',
      '/readyz',
      '/v1/events',
      '/v1/labels',
      '/v1/models',
      '/v1/models/{model}',
      '/v1/models/{model}/baselines',
      '/v1/models/{model}/baselines/rolling',
      '/v1/models/{model}/baselines/{baseline_id}',
      '/v1/models/{model}/baselines/{baseline_id}/active',
      '/v1/models/{model}/drift',
      '/v1/models/{model}/drift/history',
      '/v1/models/{model}/drift/series',
      '/v1/models/{model}/events:delete',
      '/v1/models/{model}/performance',
      '/v1/models/{model}/performance/history',
      '/v1/models/{model}/report.html',
    ]);
    expect(doc.paths['/v1/events'].post.requestBody.content['application/json'].schema.items.required).toContain('event_id');
  });

  it('serves Swagger UI at /docs from its own bundled files, nothing from another host', async () => {
    const page = await app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('swagger-ui');
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    expect(assets.filter((a) => /^(https?:)?\/\//.test(a))).toEqual([]);
    const base = new URL('http://driftwatch/docs/');
    const loaded = [];
    for (const asset of assets) {
      const path = new URL(asset, base).pathname;
      const answer = await app.inject({ method: 'GET', url: path });
      expect(answer.statusCode, path).toBe(200);
      loaded.push(path);
    }
    expect(loaded).toEqual(expect.arrayContaining(['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js']));
    // The initializer points the UI at the service's own document.
    const init = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    expect(init.body).toMatch(/json/);
    expect(init.body).not.toMatch(/https?:\/\/(?!stackoverflow)/);
    const bundle = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.rawPayload.length).toBeGreaterThan(100_000);
  });
});

describe('request logs', () => {
  /** An app logging JSON lines at `level` into an array; `writers` replaces the store's. */
  async function logged(level: string, writers?: AppDeps['writers']) {
    const lines: { msg: string; level: number; req?: { url: string }; res?: { statusCode: number } }[] = [];
    const stream = { write: (line: string) => void lines.push(JSON.parse(line)) };
    const target = await makeApp([], { logger: { level, stream }, ...(writers ? { writers } : {}) });
    return { target, lines };
  }

  it('leaves out a line per ingest request at info, keeps them on other routes and at debug', async () => {
    const info = await logged('info');
    try {
      expect((await postEvents([event({ model: 'logs' })], 'application/json', info.target)).statusCode).toBe(200);
      expect((await info.target.inject({ method: 'GET', url: '/v1/models' })).statusCode).toBe(200);
      const requests = info.lines.filter((l) => l.msg === 'incoming request').map((l) => l.req!.url);
      expect(requests).toEqual(['/v1/models']);
    } finally {
      await info.target.close();
    }
    const debug = await logged('debug');
    try {
      expect((await postEvents([event({ model: 'logs' })], 'application/json', debug.target)).statusCode).toBe(200);
      expect(debug.lines.filter((l) => l.msg === 'incoming request').map((l) => l.req!.url)).toEqual(['/v1/events']);
      expect(debug.lines.some((l) => l.msg === 'request completed' && l.res?.statusCode === 200)).toBe(true);
    } finally {
      await debug.target.close();
    }
  });

  it('still logs an ingest request the store failed, at info', async () => {
    const failing = { add: async () => Promise.reject(new Error('store is down')) };
    const info = await logged('info', { events: failing, labels: failing });
    try {
      expect((await postEvents([event({ model: 'logs' })], 'application/json', info.target)).statusCode).toBe(503);
      const errors = info.lines.filter((l) => l.level >= 50);
      expect(errors.map((l) => l.msg)).toContain('store insert failed');
      expect(JSON.stringify(errors)).toContain('store is down');
    } finally {
      await info.target.close();
    }
  });
});
