import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { startService } from '../cli/service.ts';
import type { EventRow } from '../core/event.ts';
import { frameHeader } from '../ingest/journal.ts';
import { encodeEvents } from '../store/events.ts';
import { event, tempDir, testConfig, withInsertOutage } from './helpers.ts';
import { spawnService, waitFor } from './kafka-helpers.ts';

/** INGEST_ACK=journaled: 200 once the rows are in the journal on disk; stored by the flusher, and after a crash at the next start. */
const postJson = (url: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const post = (url: string, body: unknown[]) => postJson(url, '/v1/events', body);
const postGzip = (url: string, body: unknown[]) =>
  fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(body)) });
const batch = (model: string, from: number, n: number) => Array.from({ length: n }, (_, i) => event({ model, event_id: `${model}-${from + i}`, features: { x: from + i } }));
const walFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.wal')) : []);

describe('journaled ingest', () => {
  it('answers once rows are journaled (gzip bodies too), stores them in large inserts, and leaves no journal behind after a clean stop', async () => {
    const dir = tempDir();
    const service = await startService(testConfig({ DATA_DIR: dir.path, INGEST_ACK: 'journaled', INGEST_FLUSH_INTERVAL: '300ms' }), { logger: false });
    const count = async () => Number((await service.sql.query<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE model = 'j'"))[0].n);
    try {
      // Through the worker threads too, a body-less POST is the sender's mistake, not a 500.
      expect((await fetch(`${service.url}/v1/events`, { method: 'POST' })).status).toBe(400);
      const answers = await Promise.all(Array.from({ length: 20 }, (_, r) => (r % 5 === 0 ? postGzip : post)(service.url, batch('j', r * 500, 500))));
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
      expect((await Promise.all(answers.map((a) => a.json()))).every((b) => b.accepted === 500)).toBe(true);
      const inserts = async () =>
        (await service.metrics.storeInsertRows.get()).values.find((v) => v.metricName === 'driftwatch_store_insert_rows_count' && v.labels.table === 'events')?.value ?? 0;
      const insertedRows = async () =>
        (await service.metrics.storeInsertRows.get()).values.find((v) => v.metricName === 'driftwatch_store_insert_rows_sum' && v.labels.table === 'events')?.value ?? 0;
      // The engine can show the rows to a query before the insert's own promise has resolved and been
      // measured, so wait for the measurement too rather than read it the moment the count is right.
      await waitFor(async () => (await count()) === 10_000 && (await insertedRows()) === 10_000, 20_000, 'the journaled rows to be stored and measured');
      // 20 requests, far fewer inserts: the flusher took what the journal held.
      expect(await inserts()).toBeLessThan(20);
      expect(await inserts()).toBeGreaterThan(0);
    } finally {
      await service.close();
    }
    expect(walFiles(join(dir.path, 'journal'))).toEqual([]);
    dir.remove();
  }, 60_000);

  it('lets a client read its own writes: model routes first store what was acknowledged before them', async () => {
    const dir = tempDir();
    // Flushes that never come by themselves: only a read can make the rows go in.
    const service = await startService(testConfig({ DATA_DIR: dir.path, INGEST_ACK: 'journaled', INGEST_FLUSH_INTERVAL: '1h' }), { logger: false });
    const stored = async () => Number((await service.sql.query<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE model = 'ryw'"))[0].n);
    try {
      const now = Date.now();
      const body = Array.from({ length: 600 }, (_, i) => event({ model: 'ryw', event_id: `ryw-${i}`, timestamp: now - 60_000 + i, features: { x: i } }));
      expect((await post(service.url, body)).status).toBe(200);
      // Routes that do not read a model leave the rows where they are.
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${service.url}/metrics`)).text()).toMatch(/driftwatch_ingest_unstored_rows\{stream="events"\} 600\n/);
      expect(await stored()).toBe(0);
      // A baseline frozen right after the 200 holds every event sent.
      const created = await postJson(service.url, '/v1/models/ryw/baselines', { from: now - 120_000, to: now });
      expect(created.status).toBe(201);
      expect((await created.json()).n_events).toBe(600);
      expect(await stored()).toBe(600);
    } finally {
      await service.close();
      dir.remove();
    }
  }, 60_000);

  it('keeps answering while the store is away until the unstored rows reach the limit, then 503, and loses none', async () => {
    const dir = tempDir();
    let storeDown = false;
    const failing = withInsertOutage(() => storeDown);
    const service = await startService(
      testConfig({ DATA_DIR: dir.path, INGEST_ACK: 'journaled', INGEST_FLUSH_INTERVAL: '100ms', INGEST_MAX_PENDING_ROWS: '3000' }),
      { logger: false, wrapSql: failing },
    );
    const count = async () => Number((await service.sql.query<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE model = 'down'"))[0].n);
    try {
      storeDown = true;
      const statuses: number[] = [];
      for (let r = 0; r < 10; r++) {
        const answer = await post(service.url, batch('down', r * 500, 500));
        statuses.push(answer.status);
        if (answer.status === 503) expect((await answer.json()).code).toBe('DW_BUSY');
      }
      // 3,000 unstored rows at most: six requests of 500 in, the other four refused.
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 503, 503, 503, 503]);
      expect(await count()).toBe(0);
      expect((await (await fetch(`${service.url}/metrics`)).text())).toMatch(/driftwatch_ingest_unstored_rows\{stream="events"\} 3000/);
      // Not ready while acknowledged rows cannot be stored, and why: once the flusher's first insert
      // has failed (on a busy machine it may not have tried yet when the last request is answered).
      await waitFor(async () => (await fetch(`${service.url}/readyz`)).status === 503, 30_000, 'not ready during the outage');
      const notReady = await fetch(`${service.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect((await notReady.json()).reason).toMatch(/^store: events inserts failing for \d+s \(store unavailable \(injected\)\); acknowledged rows wait in the journal$/);
      storeDown = false;
      await waitFor(async () => (await count()) === 3_000, 30_000, 'the journaled rows after the outage');
      await waitFor(async () => (await fetch(`${service.url}/readyz`)).status === 200, 30_000, 'ready again after the outage');
    } finally {
      await service.close();
      dir.remove();
    }
  }, 60_000);

  it('stores after a crash what it had acknowledged and not yet stored, before it listens again', async () => {
    const dir = tempDir();
    // Flushes that never come by themselves: every acknowledged row is only in the journal when the process dies.
    const first = await spawnService({ DATA_DIR: dir.path, INGEST_ACK: 'journaled', INGEST_FLUSH_INTERVAL: '1h', INGEST_FLUSH_ROWS: '10000000' });
    let acknowledged = 0;
    try {
      for (let r = 0; r < 8; r++) {
        const answer = await post(first.url, batch('crash', r * 1000, 1000));
        expect(answer.status).toBe(200);
        acknowledged += (await answer.json()).accepted;
      }
      const labels = await postJson(first.url, '/v1/labels', Array.from({ length: 300 }, (_, i) => ({ model: 'crash', event_id: `crash-${i}`, label: i % 2 })));
      expect(labels.status).toBe(200);
      // All of it acknowledged, none of it stored (the metrics route, unlike model routes, does not make the flusher store first).
      const metrics = await (await fetch(`${first.url}/metrics`)).text();
      expect(metrics).toMatch(/driftwatch_ingest_unstored_rows\{stream="events"\} 8000\n/);
      expect(metrics).toMatch(/driftwatch_ingest_unstored_rows\{stream="labels"\} 300\n/);
    } finally {
      first.child.kill('SIGKILL');
      await first.exited;
    }
    expect(acknowledged).toBe(8000);
    expect(walFiles(join(dir.path, 'journal')).length).toBeGreaterThan(0);
    const second = await spawnService({ DATA_DIR: dir.path, INGEST_ACK: 'journaled' });
    try {
      expect(await second.events('crash')).toBe(8000);
      const models = (await (await fetch(`${second.url}/v1/models`)).json()) as { models: { model: string; labels: number }[] };
      expect(models.models.find((m) => m.model === 'crash')?.labels).toBe(300);
      expect(walFiles(join(dir.path, 'journal'))).toEqual([]);
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
    dir.remove();
  }, 120_000);

  it('stores the rows an older version journaled before a crash in the columns it wrote them in, and refuses a layout it does not know', async () => {
    const dir = tempDir();
    const journal = join(dir.path, 'journal');
    mkdirSync(journal, { recursive: true });
    const now = Date.now();
    const rows: EventRow[] = Array.from({ length: 50 }, (_, i) => ({
      model: 'upgrade', event_id: `old-${i}`, model_version: 'v1', ts: now - 60_000 + i, num: { x: i }, cat: { c: `k${i % 3}` },
      missing: [], prediction_num: i / 50, prediction_cat: null, scores: {}, latency_ms: 3, tags: { region: 'eu' },
    }));
    // Layout 1 is today's row without its last two columns (status 'ok': 0x02 'o' 'k'; error_type '': 0x00),
    // as versions before failed events wrote it, under the segment name they used.
    const layout1 = Buffer.concat(rows.map((r) => {
      const row = Buffer.from(encodeEvents([r]));
      expect([...row.subarray(row.length - 4)]).toEqual([2, 0x6f, 0x6b, 0]);
      return row.subarray(0, row.length - 4);
    }));
    writeFileSync(join(journal, 'events-1.wal'), Buffer.concat([frameHeader(layout1, rows.length), layout1]));
    const service = await startService(testConfig({ DATA_DIR: dir.path, INGEST_ACK: 'journaled' }), { logger: false });
    try {
      const stored = await service.sql.query<{ n: number; ok: number; x: number; region: string }>(
        "SELECT count() AS n, countIf(status = 'ok' AND error_type = '') AS ok, sum(num['x']) AS x, any(tags['region']) AS region FROM events FINAL WHERE model = 'upgrade'",
      );
      expect(stored.map((r) => ({ n: Number(r.n), ok: Number(r.ok), x: Number(r.x), region: r.region }))).toEqual([{ n: 50, ok: 50, x: 1225, region: 'eu' }]);
      expect(walFiles(journal)).toEqual([]);
      // What this version journals says its layout in the segment's name.
      expect((await post(service.url, batch('upgrade-new', 0, 10))).status).toBe(200);
      expect(walFiles(journal)).toEqual([expect.stringMatching(/^events\.2-\d+\.wal$/)]);
    } finally {
      await service.close();
    }
    // A layout from a newer version is not guessed at: the start stops, naming it, and the segment stays.
    writeFileSync(join(journal, 'events.9-7.wal'), Buffer.concat([frameHeader(layout1, rows.length), layout1]));
    await expect(startService(testConfig({ DATA_DIR: dir.path, INGEST_ACK: 'journaled' }), { logger: false })).rejects.toThrow(/layout 9/);
    expect(walFiles(journal)).toEqual(['events.9-7.wal']);
    dir.remove();
  }, 120_000);
});
