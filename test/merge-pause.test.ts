import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskGuard, freeBytes } from '../core/disk.ts';
import { createMetrics } from '../core/metrics.ts';
import { mergeSwitch } from '../store/merges.ts';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';
import { tempDir, testConfig } from './helpers.ts';

/**
 * While the data folder's disk is under the reserve, the engine merges
 * nothing (store/merges.ts): the guard's measurement drives the switch, on
 * the real engine.
 */
const dir = tempDir();
let sql: Sql;
beforeAll(async () => {
  sql = await openStore(testConfig({ DATA_DIR: dir.path }));
  await sql.command('CREATE TABLE merge_probe (a UInt64) ENGINE = MergeTree ORDER BY a');
});
afterAll(async () => {
  await sql.close();
  dir.remove();
});

const activeParts = async () => Number((await sql.query<{ n: number }>("SELECT count() AS n FROM system.parts WHERE database = currentDatabase() AND table = 'merge_probe' AND active"))[0].n);
const quiet = { warn: () => {}, info: () => {} };

describe('merges while the disk is nearly full', () => {
  it('stop when the guard finds the data folder short, and start again when it is not', async () => {
    const metrics = createMetrics();
    const lines: string[] = [];
    const merges = mergeSwitch(sql, { metrics, log: { warn: (_o, m) => lines.push(m), info: (_o, m) => lines.push(m) } });
    const guardWith = (reserve: number) => new DiskGuard([{ name: 'data', path: dir.path }, { name: 'journal', path: tmpdir() }], reserve, { metrics, log: quiet, measured: async (short) => merges.set(short.has('data')) });
    const free = await freeBytes(dir.path);

    await guardWith(free + 1024 ** 4).check();
    expect(merges.paused()).toBe(true);
    expect((await metrics.storeMergesPaused.get()).values[0].value).toBe(1);
    for (let i = 0; i < 4; i++) await sql.command(`INSERT INTO merge_probe SELECT number + ${i * 10} FROM numbers(10)`);
    // Asked to merge, the engine refuses while paused, and the four parts stay.
    await expect(sql.command('OPTIMIZE TABLE merge_probe FINAL')).rejects.toThrow(/Cancelled merging parts|ABORTED/);
    expect(await activeParts()).toBe(4);

    await guardWith(1024 * 1024).check();
    expect(merges.paused()).toBe(false);
    expect((await metrics.storeMergesPaused.get()).values[0].value).toBe(0);
    await sql.command('OPTIMIZE TABLE merge_probe FINAL');
    expect(await activeParts()).toBe(1);
    expect(Number((await sql.query<{ n: number }>('SELECT count() AS n FROM merge_probe'))[0].n)).toBe(40);
    expect(lines).toEqual([expect.stringMatching(/^merges paused/), 'merges resumed']);
  });
});
