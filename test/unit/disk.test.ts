import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DiskFullError, DiskGuard, diskShortage, freeBytes, isDiskFull } from '../../core/disk.ts';
import { createMetrics } from '../../core/metrics.ts';

const quiet = { warn: () => {}, info: () => {} };

describe('the free-space guard', () => {
  it('refuses writes once the measured free space, less what it admitted since, falls under the reserve', async () => {
    const metrics = createMetrics();
    const free = await freeBytes(tmpdir());
    // A reserve 64 MiB under what is free now: 64 MiB of writes fit, the next do not.
    const reserve = free - 64 * 1024 * 1024;
    const guard = new DiskGuard([{ name: 'data', path: tmpdir() }], reserve, { metrics, log: quiet });
    await guard.check();
    expect(guard.problem()).toBeNull();
    expect((await metrics.diskFreeBytes.get()).values[0]).toMatchObject({ labels: { dir: 'data' } });
    guard.admit(32 * 1024 * 1024);
    expect(() => guard.admit(48 * 1024 * 1024)).toThrow(DiskFullError);
    expect(() => guard.admit(48 * 1024 * 1024)).toThrow(/free for .*, under DISK_MIN_FREE_BYTES/);
    // What was refused did not count: a smaller write still fits.
    guard.admit(16 * 1024 * 1024);
  });

  it('says why while the disk is short, and logs when writes stop and resume', async () => {
    const lines: string[] = [];
    const log = { warn: (_o: object, m: string) => lines.push(`warn ${m}`), info: (_o: object, m: string) => lines.push(`info ${m}`) };
    const free = await freeBytes(tmpdir());
    const low = new DiskGuard([{ name: 'journal', path: tmpdir() }], free + 1024 ** 4, { metrics: createMetrics(), log });
    await low.check();
    await low.check();
    expect(low.problem()).toMatch(/^disk nearly full: .* MiB free for /);
    expect(() => low.admit(1)).toThrow(DiskFullError);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warn disk nearly full/);
    expect(await diskShortage([{ name: 'data', path: tmpdir() }], free + 1024 ** 4)).toMatch(/under DISK_MIN_FREE_BYTES/);
    expect(await diskShortage([{ name: 'data', path: tmpdir() }], 1024 * 1024)).toBeNull();
  });

  it('knows a full disk from the operating system and from the engine', () => {
    expect(isDiskFull(Object.assign(new Error('write failed'), { code: 'ENOSPC' }))).toBe(true);
    expect(isDiskFull(new Error('Code: 243. DB::Exception: Cannot reserve 1.32 MiB, not enough space. (NOT_ENOUGH_SPACE)'))).toBe(true);
    expect(isDiskFull(new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'ENOSPC' }) }))).toBe(true);
    expect(isDiskFull(new Error('store unavailable (injected)'))).toBe(false);
  });
});
