import { createServer, request as httpRequest, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { DriftwatchClient, type Drop, type Rejection } from '../clients/js/src/index.ts';
import { openStore } from '../store/open.ts';
import { tempDir, testConfig, withInsertOutage } from './helpers.ts';
import { freePort, spawnService, waitFor } from './kafka-helpers.ts';

// @driftwatch/client (clients/js) against the real service on the embedded store.

const features = (i: number) => ({ x: i % 97, c: i % 2 ? 'a' : 'b' });

const KEY = 'sdk-test-key-0123456789';

/** Acknowledged rows reach the store from the journal within moments: waited for, then counted. */
async function storedWhen(service: Service, model: string, rows: number) {
  await waitFor(async () => (await stored(service, model)).rows >= rows, 60_000, `${rows} rows of ${model} in the store`);
  await new Promise((r) => setTimeout(r, 500)); // more than expected would show now
  return stored(service, model);
}

async function stored(service: Service, model: string) {
  const [row] = await service.sql.query<{ rows: number; ids: number }>(
    'SELECT count() AS rows, uniqExact(event_id) AS ids FROM events FINAL WHERE model = {m:String}',
    { m: model },
  );
  return { rows: Number(row.rows), ids: Number(row.ids) };
}

describe('the TypeScript client against a running service', () => {
  const dir = tempDir();
  let service: Service;
  beforeAll(async () => {
    service = await startService(testConfig({ DATA_DIR: dir.path, API_KEYS: KEY }), { logger: false });
  });
  afterAll(async () => {
    await service?.close();
    dir.remove();
  });

  it('batches events and labels, and flush() waits until the service has them', async () => {
    const client = new DriftwatchClient({ url: service.url, apiKey: KEY, maxBatchItems: 100, flushIntervalMs: 60_000 });
    const ids = Array.from({ length: 1_050 }, (_, i) => client.log({ model: 'js-basic', features: features(i), prediction: i % 3 }));
    for (const id of ids.slice(0, 300)) client.label(id, 'js-basic', 1);
    // 1,050 events in batches of 100: ten full batches go at once, the last 50 wait for the (long) interval or a flush.
    expect(await client.flush(60_000)).toBe(true);
    const stats = client.stats();
    expect(stats.events).toMatchObject({ queued: 0, inFlight: 0, sent: 1_050, rejected: 0 });
    expect(stats.labels).toMatchObject({ queued: 0, sent: 300 });
    expect(new Set(ids).size).toBe(1_050);
    expect(await storedWhen(service, 'js-basic', 1_050)).toEqual({ rows: 1_050, ids: 1_050 });
    const labels = async () => Number((await service.sql.query<{ n: number }>("SELECT count() AS n FROM labels FINAL WHERE model = 'js-basic'"))[0].n);
    await waitFor(async () => (await labels()) === 300, 60_000, 'the labels in the store');
    expect(await client.close()).toBe(true);
  });

  it('sends a batch when its oldest event has waited flushIntervalMs, without a flush', async () => {
    const client = new DriftwatchClient({ url: service.url, apiKey: KEY, maxBatchItems: 1_000, flushIntervalMs: 200 });
    client.log({ model: 'js-interval', features: { x: 1 }, prediction: 1 });
    await waitFor(async () => (await stored(service, 'js-interval')).rows === 1, 30_000, 'the lone event to be sent by the timer');
    await client.close();
  });

  it('reports a 4xx item rejection with its reason and never retries it', async () => {
    const rejections: Rejection[] = [];
    const client = new DriftwatchClient({ url: service.url, apiKey: KEY, onRejected: (r) => rejections.push(r) });
    client.log({ event_id: 'good', model: 'js-reject', features: { x: 1 }, prediction: 1 });
    client.log({ event_id: 'seconds', model: 'js-reject', timestamp: 1795556400, features: { x: 1 }, prediction: 1 });
    client.log({ event_id: 'no-features', model: 'js-reject' } as never);
    expect(await client.flush(30_000)).toBe(true);
    expect(rejections.map((r) => [(r.item as { event_id: string }).event_id, r.reason])).toEqual([
      ['seconds', 'timestamp 1795556400 looks like epoch seconds; send epoch milliseconds or RFC 3339'],
      ['no-features', 'features is required'],
    ]);
    expect(client.stats()).toMatchObject({ retries: 0, events: { sent: 1, rejected: 2 } });
    expect(await storedWhen(service, 'js-reject', 1)).toEqual({ rows: 1, ids: 1 });
    await client.close();
  });

  it('reports a request refused whole (a wrong API key: 401) for each of its items, without retrying', async () => {
    const rejections: Rejection[] = [];
    const wrong = new DriftwatchClient({ url: service.url, apiKey: 'not-the-key-0123456789', onRejected: (r) => rejections.push(r) });
    wrong.log({ model: 'js-key', features: { x: 1 }, prediction: 1 });
    wrong.log({ model: 'js-key', features: { x: 2 }, prediction: 1 });
    expect(await wrong.close(30_000)).toBe(true);
    expect(rejections).toHaveLength(2);
    expect(rejections[0]).toMatchObject({ status: 401, reason: expect.stringContaining('DW_UNAUTHORIZED') });
    expect(wrong.stats()).toMatchObject({ retries: 0, events: { rejected: 2, sent: 0 } });
    expect(await stored(service, 'js-key')).toEqual({ rows: 0, ids: 0 });
  });

  it('times a model call: event_id and timestamp at its start, latency_ms around it', async () => {
    const client = new DriftwatchClient({ url: service.url, apiKey: KEY });
    const before = Date.now();
    const prediction = client.begin({ model: 'js-timed', features: { x: 3 }, event_id: 'req-1', tags: { route: '/predict' } });
    await new Promise((r) => setTimeout(r, 120));
    prediction.ok(0.7, { yes: 0.7, no: 0.3 });
    const result = await client.timed({ model: 'js-timed', features: { x: 4 }, event_id: 'req-2' }, async () => {
      await new Promise((r) => setTimeout(r, 60));
      return { p: 0.25 };
    }, (r) => r.p);
    expect(result).toEqual({ p: 0.25 });
    expect(await client.close(30_000)).toBe(true);
    await storedWhen(service, 'js-timed', 2);
    const rows = await service.sql.query<{ event_id: string; latency_ms: number; ts: number; prediction_num: number; tags: Record<string, string> }>(
      "SELECT event_id, latency_ms, toUnixTimestamp64Milli(ts) AS ts, prediction_num, tags FROM events FINAL WHERE model = 'js-timed' ORDER BY event_id",
    );
    expect(rows.map((r) => [r.event_id, r.prediction_num])).toEqual([['req-1', 0.7], ['req-2', 0.25]]);
    // Timers fire no earlier than asked; on a busy machine they may fire later, so only the floor is exact.
    expect(rows[0].latency_ms).toBeGreaterThanOrEqual(119);
    expect(rows[1].latency_ms).toBeGreaterThanOrEqual(59);
    expect(Number(rows[0].ts)).toBeGreaterThanOrEqual(before);
    expect(Number(rows[0].ts)).toBeLessThan(Number(rows[1].ts));
    expect(rows[0].tags).toEqual({ route: '/predict' });
  });

  it('logs a model call that throws as a failed prediction, with its features, and throws on', async () => {
    const client = new DriftwatchClient({ url: service.url, apiKey: KEY });
    class ModelTimeout extends Error {}
    const thrown = new ModelTimeout('backend too slow');
    await expect(client.timed({ model: 'js-failed', features: { x: 9 }, event_id: 'boom' }, async () => {
      await new Promise((r) => setTimeout(r, 30));
      throw thrown;
    })).rejects.toBe(thrown);
    client.begin({ model: 'js-failed', features: { x: 1 }, event_id: 'typed' }).fail(new TypeError('bad input'));
    expect(await client.close(30_000)).toBe(true);
    expect(client.stats().events).toMatchObject({ sent: 2, rejected: 0 });
    await storedWhen(service, 'js-failed', 2);
    const rows = await service.sql.query<{ event_id: string; status: string; error_type: string; latency_ms: number; num: Record<string, number>; p: number | null }>(
      "SELECT event_id, status, error_type, latency_ms, num, prediction_num AS p FROM events FINAL WHERE model = 'js-failed' ORDER BY event_id",
    );
    expect(rows.map((r) => [r.event_id, r.status, r.error_type, r.num, r.p])).toEqual([
      ['boom', 'error', 'ModelTimeout', { x: 9 }, null],
      ['typed', 'error', 'TypeError', { x: 1 }, null],
    ]);
    expect(rows[0].latency_ms).toBeGreaterThanOrEqual(29);
  });

  it('a full queue drops the oldest or the newest, as configured, and counts and reports every one', async () => {
    // Nothing listens on this port: every attempt fails and is retried, so the queue fills.
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    for (const overflow of ['drop_oldest', 'drop_newest'] as const) {
      const drops: Drop[] = [];
      const client = new DriftwatchClient({ url: nowhere, overflow, maxQueueItems: 10, maxBatchItems: 1_000, flushIntervalMs: 60_000, onDropped: (d) => drops.push(d) });
      for (let i = 0; i < 25; i++) client.log({ event_id: `q${i}`, model: 'js-queue', features: { x: i }, prediction: 1 });
      const dropped = drops.flatMap((d) => d.ids);
      expect(drops.every((d) => d.reason === 'queue_full' && d.stream === 'events')).toBe(true);
      const expected = overflow === 'drop_oldest' ? [...Array(15).keys()].map((i) => `q${i}`) : [...Array(15).keys()].map((i) => `q${i + 10}`);
      expect(dropped).toEqual(expected);
      expect(client.stats().events).toMatchObject({ queued: 10, dropped: { queue_full: 15 } });
      // close() gives up on the ten still queued once its time is up: counted too, never silent.
      expect(await client.close(300)).toBe(false);
      expect(client.stats().events.dropped).toMatchObject({ queue_full: 15, close_timeout: 10 });
      expect(drops.filter((d) => d.reason === 'close_timeout').flatMap((d) => d.ids)).toHaveLength(10);
      // After close, log() still returns at once; the event is counted as dropped.
      client.log({ model: 'js-queue', features: {}, prediction: 1 });
      expect(client.stats().events.dropped.closed).toBe(1);
    }
  });
});

/**
 * A plain HTTP proxy that records the status of every answer and when it
 * was sent: what the service told the client, seen from outside the client.
 */
async function recordingProxy(target: string): Promise<{ url: string; answers: { status: number; at: number }[]; server: Server }> {
  const answers: { status: number; at: number }[] = [];
  const { hostname, port } = new URL(target);
  const server = createServer((req, res) => {
    const upstream = httpRequest({ hostname, port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      answers.push({ status: up.statusCode ?? 0, at: Date.now() });
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, answers, server };
}

describe('the TypeScript client when the service answers 503', () => {
  it('backs off, honouring Retry-After, and delivers everything once the service recovers', async () => {
    const dir = tempDir();
    let down = true;
    // The store refuses inserts; the journal takes 200 rows, then ingest answers 503 DW_BUSY with Retry-After: 1.
    const service = await startService(testConfig({ DATA_DIR: dir.path, INGEST_MAX_PENDING_ROWS: '200' }), { logger: false, wrapSql: withInsertOutage(() => down) });
    const proxy = await recordingProxy(service.url);
    try {
      const client = new DriftwatchClient({ url: proxy.url, maxBatchItems: 100, maxConcurrency: 2, retryInitialMs: 10 });
      for (let i = 0; i < 2_000; i++) client.log({ event_id: `b${i}`, model: 'js-busy', features: features(i), prediction: 1 });
      await waitFor(async () => proxy.answers.some((a) => a.status === 503), 60_000, 'a 503 from the service');
      const outageStart = Date.now();
      await new Promise((r) => setTimeout(r, 6_000));
      down = false;
      const outageEnd = Date.now();
      expect(await client.flush(120_000)).toBe(true);

      const busy = proxy.answers.filter((a) => a.status === 503);
      const during = busy.filter((a) => a.at >= outageStart && a.at <= outageEnd);
      // Retry-After: 1 allows about one attempt per second per request slot (2): a
      // client that did not back off would have sent hundreds in 6 s.
      expect(during.length).toBeGreaterThan(0);
      expect(during.length).toBeLessThanOrEqual(2 * 8);
      // The client waits at least the Retry-After between one 503 and the next
      // attempt; a late timer only makes the gap longer.
      for (let i = 2; i < busy.length; i++) expect(busy[i].at - busy[i - 2].at).toBeGreaterThanOrEqual(950);
      expect(client.stats()).toMatchObject({ events: { sent: 2_000, rejected: 0, dropped: { queue_full: 0 } }, failing: 0 });
      expect(client.stats().lastError).toMatch(/^503 DW_BUSY/);
      await waitFor(async () => (await stored(service, 'js-busy')).rows === 2_000, 60_000, 'the journal to reach the store');
      expect(await stored(service, 'js-busy')).toEqual({ rows: 2_000, ids: 2_000 });
      await client.close();
    } finally {
      proxy.server.close();
      await service.close();
      dir.remove();
    }
  });
});
