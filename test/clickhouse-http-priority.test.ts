import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { lowersPriority } from '../clickhouse-http/engine.ts';
import { tempDir, testConfig } from './helpers.ts';

/**
 * The ClickHouse HTTP interface's statements run at a low CPU priority
 * (CLICKHOUSE_HTTP_NICE), so that a dashboard takes what ingest leaves; the
 * engine applies it only with CAP_SYS_NICE, and the service says so.
 */
describe('lowersPriority', () => {
  it('reads CAP_SYS_NICE (bit 23) from the effective capabilities', () => {
    expect(lowersPriority('Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n')).toBe(true);
    expect(lowersPriority('CapEff:\t0000000000800000\n')).toBe(true);
    expect(lowersPriority('CapEff:\t0000000000000000\n')).toBe(false);
    // Every capability but CAP_SYS_NICE.
    expect(lowersPriority(`CapEff:\t${(0x1ffffffffffn & ~(1n << 23n)).toString(16).padStart(16, '0')}\n`)).toBe(false);
    expect(lowersPriority('')).toBe(false);
  });
});

/** This process's threads with a nice value above 0: their names and nice values. */
const niced = () =>
  readdirSync('/proc/self/task').flatMap((task) => {
    try {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      return nice > 0 ? [{ name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), nice }] : [];
    } catch {
      return []; // the thread ended meanwhile
    }
  });

describe('the priority of the interface statements', () => {
  const dir = tempDir('driftwatch-chhttp-nice-');
  let service: Service;
  beforeAll(async () => {
    service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data'), CLICKHOUSE_HTTP_PORT: '0' }), { logger: false });
  }, 120_000);
  afterAll(async () => {
    await service?.close();
    dir.remove();
  });

  it('is nice 19 while a statement runs, where the process may lower it, and back to normal after', async () => {
    const capable = lowersPriority(readFileSync('/proc/self/status', 'utf8'));
    expect(service.clickhouseHttp!.lowPriority).toBe(capable);
    // One of the engine's scheduling threads (PoolDelayExec) may keep nice 19 from an
    // earlier statement (docs/grafana.md): it only wakes background tasks.
    const others = () => niced().filter((t) => t.name !== 'PoolDelayExec');
    expect(others()).toEqual([]);
    // A statement of some seconds on one thread; the threads are looked at while it runs.
    const sql = 'SELECT count() FROM numbers(300000000) WHERE cityHash64(number) % 7 = 1';
    let done = false;
    const running = fetch(`${service.clickhouseHttp!.url}/?query=${encodeURIComponent(sql)}`).then(async (r) => {
      done = true;
      return { status: r.status, text: await r.text() };
    });
    const seen = new Set<number>();
    while (!done) {
      for (const { nice } of niced()) seen.add(nice);
      await new Promise((r) => setTimeout(r, 20));
    }
    const answer = await running;
    expect(answer.status, answer.text).toBe(200);
    expect(Number(answer.text)).toBeGreaterThan(0);
    expect([...seen]).toEqual(capable ? [19] : []);
    // The engine gives the threads their priority back (ingest runs on the same thread pool).
    await expect.poll(others, { timeout: 10_000 }).toEqual([]);
  }, 120_000);
});
