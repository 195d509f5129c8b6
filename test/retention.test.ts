import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startService } from '../cli/service.ts';
import { DURABLE_MERGE_TREE } from '../store/durability.ts';
import { openStore } from '../store/open.ts';
import { RETAINED } from '../store/retention.ts';
import type { Sql } from '../store/sql.ts';
import { tempDir, testConfig } from './helpers.ts';

// One data folder per process (chDB): every step below reopens the same store with other settings.
const dir = tempDir();
afterAll(() => dir.remove());

const DAY = 86_400_000;
const open = (retention: Record<string, string>) => openStore(testConfig({ DATA_DIR: dir.path, ...retention }));

async function engineOf(sql: Sql, table: string): Promise<string> {
  const [row] = await sql.query<{ engine_full: string }>('SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}', { t: table });
  return row.engine_full;
}

/** Rows of `model` in every retained table, by table. */
async function counts(sql: Sql, model: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const { table } of RETAINED) out[table] = Number((await sql.query<{ n: number }>(`SELECT count() AS n FROM ${table} WHERE model = {m:String}`, { m: model }))[0].n);
  return out;
}

/** One row per retained table for `model`, its age column `ageMs` in the past. */
async function seed(sql: Sql, model: string, ageMs: number): Promise<void> {
  const at = { at: Date.now() - ageMs, m: model };
  const t = "fromUnixTimestamp64Milli({at:Int64}, 'UTC')";
  await sql.command(`INSERT INTO events (model, event_id, ts) VALUES ({m:String}, 'e', ${t})`, at);
  // 'e' hashes outside the sixteenth events_sample copies: its row is written there directly.
  await sql.command(`INSERT INTO events_sample (model, event_id, ts) VALUES ({m:String}, 'e', ${t})`, at);
  await sql.command(`INSERT INTO labels (model, event_id, label_num, ts) VALUES ({m:String}, 'e', 1, ${t})`, at);
  await sql.command(`INSERT INTO shadow_predictions (model, shadow, revision, event_id, ts, status) VALUES ({m:String}, 's', 'r', 'e', ${t}, 'ok')`, at);
  await sql.command(`INSERT INTO drift_results (model, baseline_id, window_start, window_end, computed_at, feature, kind, method, threshold, drifted, status, n_reference, n_current, window_events)
    VALUES ({m:String}, generateUUIDv4(), ${t} - INTERVAL 5 MINUTE, ${t}, now64(3), 'x', 'numeric', 'psi', 0.1, 0, 'ok', 1, 1, 1)`, at);
  await sql.command(`INSERT INTO drift_windows (model, segment_tag, segment_value, window_start, window_end, computed_at, baseline_id, report)
    VALUES ({m:String}, '', '', ${t} - INTERVAL 5 MINUTE, ${t}, now64(3), generateUUIDv4(), '{}')`, at);
  await sql.command(`INSERT INTO performance_results (model, window_start, window_end, computed_at, task, n_events, n_labelled)
    VALUES ({m:String}, ${t} - INTERVAL 5 MINUTE, ${t}, now64(3), 'binary', 1, 1)`, at);
  await sql.command(`INSERT INTO shadow_results (model, shadow, revision, role, window_start, window_end, computed_at, report)
    VALUES ({m:String}, 's', 'r', 'reference', ${t} - INTERVAL 5 MINUTE, ${t}, now64(3), '{}')`, at);
  await sql.command(`INSERT INTO alert_events (at, rule, model, subject, from_status, to_status, threshold, severity, window_start, window_end)
    VALUES (now64(3), 'R', {m:String}, '', 'pending', 'firing', 0.5, 'warning', ${t} - INTERVAL 5 MINUTE, ${t})`, at);
  // Pre-aggregates: a row into each minute table reaches its hourly table through the view.
  const minute = `toStartOfMinute(toDateTime(${t}))`;
  await sql.command(`INSERT INTO preagg_num_1m (model, baseline_id, t, feature, bin, n) VALUES ({m:String}, generateUUIDv4(), ${minute}, 'x', 1, 1)`, at);
  await sql.command(`INSERT INTO preagg_cat_1m (model, baseline_id, t, feature, value, n) VALUES ({m:String}, generateUUIDv4(), ${minute}, 'c', 'a', 1)`, at);
  await sql.command(`INSERT INTO preagg_presence_1m (model, baseline_id, t, kind, feature, n) VALUES ({m:String}, generateUUIDv4(), ${minute}, 'events', '', 1)`, at);
}

/** Has the engine apply TTL now (it otherwise does at its own merges). */
const merge = async (sql: Sql) => {
  for (const { table } of RETAINED) await sql.command(`OPTIMIZE TABLE ${table} FINAL`);
};

const durable = (engine: string) => Object.entries(DURABLE_MERGE_TREE).every(([k, v]) => engine.includes(`${k} = ${v}`));

describe('retention by the engine TTL', () => {
  it('removes rows older than each kind keeps and leaves younger ones; unset keeps everything; set and removed at start on a running store', async () => {
    // Unset (the default): no TTL anywhere, and nothing is removed however old.
    let sql = await open({});
    try {
      for (const { table } of RETAINED) expect(await engineOf(sql, table), table).not.toMatch(/ TTL /);
      await seed(sql, 'ancient', 300 * DAY);
      await merge(sql);
      expect(Object.values(await counts(sql, 'ancient'))).toEqual(RETAINED.map(() => 1));
    } finally {
      await sql.close();
    }

    // Events 10 days, results 30, alerts 60: rows at 20 days go from events only, rows at 45 days from results too.
    sql = await open({ RETENTION_EVENTS: '10d', RETENTION_RESULTS: '30d', RETENTION_ALERTS: '60d' });
    try {
      for (const { table, column, kind } of RETAINED) {
        const seconds = { events: 10, results: 30, alerts: 60 }[kind] * 86_400;
        const engine = await engineOf(sql, table);
        expect(engine, table).toContain(`TTL toDateTime(${column}) + toIntervalSecond(${seconds})`);
        // The durability settings survive the ALTER (store/durability.ts).
        expect(durable(engine), engine).toBe(true);
      }
      await seed(sql, 'young', 1 * DAY);
      await seed(sql, 'twenty', 20 * DAY);
      await seed(sql, 'fortyfive', 45 * DAY);
      await merge(sql);
      const ancient = await counts(sql, 'ancient');
      const twenty = await counts(sql, 'twenty');
      const fortyfive = await counts(sql, 'fortyfive');
      const young = await counts(sql, 'young');
      for (const { table, kind } of RETAINED) {
        expect(`${table} young ${young[table]}`).toBe(`${table} young 1`);
        expect(`${table} ancient ${ancient[table]}`).toBe(`${table} ancient 0`);
        expect(`${table} 20d ${twenty[table]}`).toBe(`${table} 20d ${kind === 'events' ? 0 : 1}`);
        expect(`${table} 45d ${fortyfive[table]}`).toBe(`${table} 45d ${kind === 'alerts' ? 1 : 0}`);
      }
    } finally {
      await sql.close();
    }

    // Changed at the next start without a rebuild; unset again removes the TTL, and old rows stay once more.
    sql = await open({ RETENTION_EVENTS: '1d' });
    try {
      expect(await engineOf(sql, 'events')).toContain('TTL toDateTime(ts) + toIntervalSecond(86400)');
      expect(await engineOf(sql, 'drift_windows')).not.toMatch(/ TTL /);
    } finally {
      await sql.close();
    }
    sql = await open({});
    try {
      for (const { table } of RETAINED) {
        const engine = await engineOf(sql, table);
        expect(engine, table).not.toMatch(/ TTL /);
        expect(durable(engine), engine).toBe(true);
      }
      await seed(sql, 'ancient2', 300 * DAY);
      await merge(sql);
      expect(Object.values(await counts(sql, 'ancient2'))).toEqual(RETAINED.map(() => 1));
    } finally {
      await sql.close();
    }
  }, 300_000);

  it('refuses a retention below a second or without a unit, naming the setting', () => {
    expect(() => testConfig({ RETENTION_EVENTS: '500ms' })).toThrow(/RETENTION_EVENTS: expected a duration of at least 1s/);
    expect(() => testConfig({ RETENTION_RESULTS: '90' })).toThrow(/RETENTION_RESULTS/);
    expect(testConfig({ RETENTION_ALERTS: '400d' }).RETENTION_ALERTS).toBe(400 * DAY);
    expect(testConfig({}).RETENTION_EVENTS).toBeUndefined();
  });

  it('refuses at ingest an event older than RETENTION_EVENTS: acknowledged means kept, not expired at the next merge', async () => {
    const service = await startService(testConfig({ DATA_DIR: dir.path, RETENTION_EVENTS: '1d', INGEST_JOURNAL_DIR: join(dir.path, 'journal') }), { logger: false });
    try {
      const event = (id: string, ageMs: number) => ({ event_id: id, model: 'fresh', timestamp: Date.now() - ageMs, features: { x: 1 }, prediction: 1 });
      const response = await fetch(`${service.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([event('young', 3_600_000), event('old', 2 * DAY)]),
      });
      const body = await response.json();
      expect(body.accepted).toBe(1);
      expect(body.rejected).toEqual([{ index: 1, reason: expect.stringMatching(/older than the accepted age/) }]);
    } finally {
      await service.close();
    }
  }, 120_000);
});
