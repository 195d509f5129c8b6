import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ksTests, withoutDuplicates, type Window } from '../store/aggregates.ts';
import { deleteEvents } from '../store/deletion.ts';
import { MIGRATIONS } from '../store/migrations.ts';
import { sampleRows, windowReconstructionError } from '../store/multivariate.ts';
import type { Sql } from '../store/sql.ts';
import { SAMPLE_PER_MILLION, sampledEventsOf } from '../store/window.ts';
import { backends, tempDir } from './helpers.ts';

/**
 * events_sample (migration 11) holds the events whose id hashes below
 * SAMPLE_PER_MILLION, copied at insert; samples that keep no more than that
 * are read from it and come out the same as from events.
 */
const dir = tempDir();
afterAll(() => dir.remove());

const HOUR = 3_600_000;
const N = 40_000;
const HASHED = `cityHash64(event_id) % 1000000 < ${SAMPLE_PER_MILLION}`;

const insert = (sql: Sql, ids: string, count: number, ts: number, shift = 0) =>
  sql.command(
    `INSERT INTO events (model, event_id, model_version, ts, num, cat, missing, prediction_num, prediction_cat, scores, latency_ms, tags)
     SELECT 'm', ${ids}, 'v1', fromUnixTimestamp64Milli(toInt64({ts:Int64} + number * 50), 'UTC'),
            map('x', sin(number) * 3 + {shift:Float64}, 'y', cos(number * 7) + {shift:Float64}), map(), [], NULL, NULL, map(), 1, map()
     FROM numbers({count:UInt64})`,
    { ts, count, shift },
  );

describe.each(backends())('events_sample: $name', ({ open }) => {
  let sql: Sql;
  const hour = Math.floor((Date.now() - 6 * HOUR) / HOUR) * HOUR;
  const reference: Window = { model: 'm', from: hour - HOUR, to: hour };
  const window: Window = { model: 'm', from: hour, to: hour + HOUR };
  const ids = async (table: string, where = '1') =>
    (await sql.query<{ id: string }>(`SELECT event_id AS id FROM ${table} FINAL WHERE model = 'm' AND ${where} ORDER BY id`)).map((r) => r.id);
  // An id whose hash is in the sample, for a row made by hand.
  const sampledId = async (prefix: string) =>
    (await sql.query<{ event_id: string }>(`SELECT concat('${prefix}', toString(number)) AS event_id FROM numbers(100000) WHERE ${HASHED} LIMIT 1`))[0].event_id;

  beforeAll(async () => {
    sql = await open(dir.path);
    await insert(sql, "concat('r', toString(number))", N, reference.from);
    await insert(sql, "concat('w', toString(number))", N, window.from, 0.3);
  });
  afterAll(async () => {
    await sql.command('SYSTEM START MERGES events_sample');
    await sql.close();
  });

  it('holds exactly the events whose id hashes below SAMPLE_PER_MILLION, copied as they are inserted', async () => {
    const sampled = await ids('events', HASHED);
    // About a sixteenth of 80,000.
    expect(sampled.length).toBeGreaterThan(4000);
    expect(sampled.length).toBeLessThan(6000);
    expect(await ids('events_sample')).toEqual(sampled);
    const [a] = await sql.query<{ x: number }>(`SELECT num['x'] AS x FROM events WHERE event_id = {id:String}`, { id: sampled[0] });
    const [b] = await sql.query<{ x: number }>(`SELECT num['x'] AS x FROM events_sample WHERE event_id = {id:String}`, { id: sampled[0] });
    expect(b).toEqual(a);
  });

  it('gives the KS/Wasserstein and multivariate samples the same rows as events, where it can', async () => {
    const checked = await withoutDuplicates(sql, window);
    expect(checked.sample).toBe('unique');
    const fromEvents = { ...checked, sample: undefined };
    expect(sampledEventsOf(checked, 50_000)).toBe('events_sample');
    // Keeping more than the sample holds: events.
    expect(sampledEventsOf(checked, 100_000)).toBe('events');
    const ref = { window: reference, features: ['x', 'y'], keepPerMillion: 1_000_000 };
    const ks = await ksTests(sql, ref, checked, ['x', 'y'], 'asymp', 50_000);
    expect(ks.map((r) => r.n_current)).toEqual([expect.any(Number), expect.any(Number)]);
    expect(ks[0].n_current).toBeGreaterThan(1500);
    expect(ks).toEqual(await ksTests(sql, ref, fromEvents, ['x', 'y'], 'asymp', 50_000));
    const projection = { features: ['x', 'y'], mean: [0, 0], std: [1, 1], components: [[1, 0]] };
    // 2,000 of 40,000: 50,000 per million.
    const error = await windowReconstructionError(sql, checked, projection, N, 2_000);
    expect(error.n).toBeGreaterThan(1500);
    expect(error).toEqual(await windowReconstructionError(sql, fromEvents, projection, N, 2_000));
    expect(await sampleRows(sql, checked, ['x', 'y'], N, 2_000)).toEqual(await sampleRows(sql, fromEvents, ['x', 'y'], N, 2_000));
  });

  it('is read only when it holds what events say it should: a row put in behind the insert turns it off', async () => {
    const ghost = await sampledId('ghost');
    await sql.command(
      `INSERT INTO events_sample (model, event_id, model_version, ts, num) VALUES ('m', {id:String}, 'v1', fromUnixTimestamp64Milli({ts:Int64}, 'UTC'), map('x', 1e9, 'y', 1e9))`,
      { id: ghost, ts: window.from + 1000 },
    );
    try {
      expect((await withoutDuplicates(sql, window)).sample).toBeUndefined();
      // Forced, the read would have come from the table: the ghost is counted there.
      const ref = { window: reference, features: ['x'], keepPerMillion: 1_000_000 };
      const [forced] = await ksTests(sql, ref, { ...window, unique: true, sample: 'unique' }, ['x'], 'asymp', 50_000);
      const [plain] = await ksTests(sql, ref, { ...window, unique: true }, ['x'], 'asymp', 50_000);
      expect(forced.n_current).toBe(plain.n_current + 1);
    } finally {
      await sql.command('ALTER TABLE events_sample DELETE WHERE event_id = {id:String} SETTINGS mutations_sync = 2', { id: ghost });
    }
    expect((await withoutDuplicates(sql, window)).sample).toBe('unique');
  });

  it('is read with FINAL where it holds an event twice, with the same answers', async () => {
    await sql.command('SYSTEM STOP MERGES events_sample');
    const twice = (await ids('events', `${HASHED} AND startsWith(event_id, 'w')`))[0];
    // The same event again, newer, with other values, in the same window.
    await sql.command(
      `INSERT INTO events (model, event_id, model_version, ts, num) VALUES ('m', {id:String}, 'v1', fromUnixTimestamp64Milli({ts:Int64}, 'UTC'), map('x', 42., 'y', 42.))`,
      { id: twice, ts: window.from + 2000 },
    );
    const checked = await withoutDuplicates(sql, window);
    expect(checked.sample).toBe('final');
    const ref = { window: reference, features: ['x', 'y'], keepPerMillion: 1_000_000 };
    const ks = await ksTests(sql, ref, checked, ['x', 'y'], 'asymp', 50_000);
    expect(ks).toEqual(await ksTests(sql, ref, { ...checked, sample: undefined }, ['x', 'y'], 'asymp', 50_000));
    await sql.command('SYSTEM START MERGES events_sample');
  });

  it('is filled from the events stored before it existed, by the migration', async () => {
    const before = await ids('events_sample');
    await sql.command('TRUNCATE TABLE events_sample');
    expect(await ids('events_sample')).toEqual([]);
    const migration = MIGRATIONS.find((m) => m.version === 11)!;
    await sql.command(migration.statements.find((s) => s.startsWith('INSERT INTO events_sample'))!);
    expect(await ids('events_sample')).toEqual(before);
  });

  it('loses its copy of deleted events, which the answer does not count apart', async () => {
    const gone = await ids('events', `${HASHED} AND startsWith(event_id, 'r')`);
    const deleted = await deleteEvents(sql, 'm', gone.slice(0, 3));
    expect(deleted).toMatchObject({ events: 3 });
    expect(Object.keys(deleted)).not.toContain('events_sample');
    expect(await ids('events_sample', `event_id IN ('${gone.slice(0, 3).join("','")}')`)).toEqual([]);
    expect((await withoutDuplicates(sql, reference)).sample).toBe('unique');
  });
});
