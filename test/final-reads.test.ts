import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureInventory, numericHistograms, withoutDuplicates, type Window } from '../store/aggregates.ts';
import { windowErrors } from '../store/failures.ts';
import { labelSummary } from '../store/performance.ts';
import type { Sql } from '../store/sql.ts';
import { backends, tempDir } from './helpers.ts';

// One data folder for the file: chDB binds one per process.
const dir = tempDir();
afterAll(() => dir.remove());

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** Events e{first}..e{first+count-1} of model `m`, a minute apart from `ts`, feature x = i, status as given. */
const insert = (sql: Sql, first: number, count: number, ts: number, status = 'ok') =>
  sql.command(
    `INSERT INTO events (model, event_id, model_version, ts, num, cat, missing, prediction_num, prediction_cat, scores, latency_ms, tags, status)
     SELECT 'm', concat('e', toString(number)), 'v1', fromUnixTimestamp64Milli(toInt64({ts:Int64} + (number - {first:UInt64}) * 6000), 'UTC'),
            map('x', toFloat64(number)), map(), [], 0.5, NULL, map(), 1, map(), {status:String}
     FROM numbers({first:UInt64}, {count:UInt64})`,
    { first, count, ts, status },
  );

describe.each(backends())('reads without FINAL where nothing is stored twice: $name', ({ open }) => {
  let sql: Sql;
  // An hour well in the past; the window is its minutes 10-30.
  const hour = Math.floor((Date.now() - 5 * HOUR) / HOUR) * HOUR;
  const window: Window = { model: 'm', from: hour + 10 * MINUTE, to: hour + 30 * MINUTE };

  beforeAll(async () => {
    sql = await open(dir.path);
    // 100 events in minutes 10-20 of the hour.
    await insert(sql, 0, 100, hour + 10 * MINUTE);
    // Merges would deduplicate the versions below before the check looks: held for the test.
    await sql.command('SYSTEM STOP MERGES events');
  });
  afterAll(async () => {
    await sql.command('SYSTEM START MERGES events');
    await sql.close();
  });

  it('skips FINAL for a window whose hours hold each event once, with the same answers as FINAL', async () => {
    const checked = await withoutDuplicates(sql, window);
    expect(checked.unique).toBe(true);
    const edges = new Map([['x', [0, 25, 50, 75, 99]]]);
    expect(await featureInventory(sql, checked)).toEqual(await featureInventory(sql, window));
    expect(await numericHistograms(sql, checked, edges)).toEqual(await numericHistograms(sql, window, edges));
    expect((await featureInventory(sql, checked)).total).toBe(100);
  });

  it('reads with FINAL once an event of the hours is stored twice, also when its newer version lies outside the window', async () => {
    // e5 again, newer: minute 50 of the same hour, outside the window. With
    // FINAL the window loses e5 (its newest version is elsewhere); without
    // it, the old version would still be counted.
    await insert(sql, 5, 1, hour + 50 * MINUTE);
    const checked = await withoutDuplicates(sql, window);
    expect(checked.unique).toBe(false);
    expect((await featureInventory(sql, checked)).total).toBe(99);
    expect((await featureInventory(sql, { ...window, unique: true })).total).toBe(100); // what skipping FINAL would have said
    // A newer version inside the window with another status: failed events are left out, as FINAL says.
    await insert(sql, 7, 1, hour + 11 * MINUTE, 'error');
    expect((await featureInventory(sql, await withoutDuplicates(sql, window))).total).toBe(98);
    // Every read of a report follows the same check: error counts and performance too.
    const again = await withoutDuplicates(sql, window);
    expect(await windowErrors(sql, again)).toMatchObject({ events: 99, failed: 1 });
    expect(await windowErrors(sql, { ...window, unique: true })).toMatchObject({ events: 101, failed: 1 });
    expect((await labelSummary(sql, again)).n_events).toBe(98);
    expect((await labelSummary(sql, { ...window, unique: true })).n_events).toBe(100);
  });

  it('skips FINAL again where the only other version of an event lies outside the window and is older', async () => {
    const later: Window = { model: 'm', from: hour + 2 * HOUR + 30 * MINUTE, to: hour + 2 * HOUR + 40 * MINUTE };
    // e500..e509 at minutes 0-1 of the hour (outside), then newer at minutes 30-31 (inside): FINAL keeps the inside ones.
    await insert(sql, 500, 10, hour + 2 * HOUR);
    await insert(sql, 500, 10, hour + 2 * HOUR + 30 * MINUTE);
    const checked = await withoutDuplicates(sql, later);
    expect(checked.unique).toBe(true);
    expect(await featureInventory(sql, checked)).toEqual(await featureInventory(sql, later));
    expect((await featureInventory(sql, checked)).total).toBe(10);
    // Both versions inside a wider window: FINAL again.
    const wide: Window = { model: 'm', from: hour + 2 * HOUR, to: hour + 3 * HOUR };
    const both = await withoutDuplicates(sql, wide);
    expect(both.unique).toBe(false);
    expect((await featureInventory(sql, both)).total).toBe(10);
  });
});
