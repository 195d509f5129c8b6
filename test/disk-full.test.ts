import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../store/open.ts';
import { testConfig } from './helpers.ts';
import { spawnService, waitFor } from './kafka-helpers.ts';

/**
 * A full disk loses nothing that was acknowledged (issue 15). DATA_DIR on a
 * small tmpfs; each cycle the service fills it up to its free-space guard
 * with merges running, ballast then takes the rest down to zero bytes free,
 * the service is stopped and started on the full disk, the ballast goes and
 * the service starts again: every event acknowledged with 200 must be
 * stored, counted by distinct event_id.
 */
const TMPFS_MB = 256;
const MIN_FREE = 24 * 1024 * 1024;
const CLI = new URL('../cli/driftwatch.mjs', import.meta.url).pathname;
const MODEL = 'diskfull';
const BATCH = 500;

// Mounting needs root; where it is impossible the test says so and is skipped.
const mountPoint = mkdtempSync(join(tmpdir(), 'driftwatch-tmpfs-'));
let cannotMount: string | null = null;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MB}m`, 'tmpfs', mountPoint], { stdio: 'pipe' });
} catch (err) {
  cannotMount = `cannot mount a tmpfs (needs root): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  console.warn(`disk-full test skipped: ${cannotMount}`);
}

afterAll(() => {
  if (!cannotMount) execFileSync('umount', ['-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

const dataDir = join(mountPoint, 'data');
const ballastDir = join(mountPoint, 'ballast');
const env = { DATA_DIR: dataDir, DISK_MIN_FREE_BYTES: String(MIN_FREE), DISK_CHECK_INTERVAL: '250ms', LOG_LEVEL: 'info' };
const walFiles = () => (existsSync(join(dataDir, 'journal')) ? readdirSync(join(dataDir, 'journal')).filter((f) => f.endsWith('.wal')).sort() : []);
const freeBytes = () => Number(execFileSync('df', ['--output=avail', '-B1', mountPoint]).toString().trim().split('\n')[1]);

/** Writes ballast files until the disk refuses (ENOSPC), or `leave` bytes are left free. */
function ballast(leave = 0): void {
  mkdirSync(ballastDir, { recursive: true });
  const chunk = Buffer.alloc(1024 * 1024, 7);
  const fd = openSync(join(ballastDir, `b-${Date.now()}-${Math.random()}`), 'w');
  try {
    for (;;) {
      const room = freeBytes() - leave;
      if (room <= 0) return;
      writeSync(fd, chunk, 0, Math.min(chunk.length, room));
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

const events = (cycle: number, batch: number) =>
  JSON.stringify(
    Array.from({ length: BATCH }, (_, i) => ({
      event_id: `c${cycle}-${batch}-${i}`,
      model: MODEL,
      timestamp: Date.now() - 60_000,
      // Random values and a random tag: parts that do not compress to nothing, so the disk fills in seconds.
      features: Object.fromEntries(Array.from({ length: 12 }, (_, f) => [`f${f}`, Math.random()])),
      prediction: Math.random(),
      tags: { note: Math.random().toString(36).repeat(4) },
    })),
  );

/** Posts 500-event batches, 8 in flight, until `stop()`; `acked`: the batches answered 200. */
function sender(url: string, cycle: number) {
  const acked = new Set<number>();
  const refused = new Map<string, number>();
  let next = 0;
  let running = true;
  const worker = async () => {
    while (running) {
      const batch = next++;
      try {
        const answer = await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: events(cycle, batch) });
        const body = (await answer.json()) as { accepted?: number; code?: string };
        if (answer.status === 200 && body.accepted === BATCH) acked.add(batch);
        else {
          refused.set(body.code ?? String(answer.status), (refused.get(body.code ?? String(answer.status)) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 50));
        }
      } catch {
        // The service went away mid-request: not acknowledged.
        if (running) await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  return {
    acked,
    refused,
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** `driftwatch serve` expected to end by itself: its exit code and output. */
async function runToExit(): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, PORT: '0', ANALYSIS_ENABLED: 'false', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(timer);
  return { code, out };
}

const STACK = /^\s+at .+:\d+:\d+\)?$/m;

describe('a full disk', () => {
  it.skipIf(cannotMount !== null)(
    'loses nothing acknowledged: fill to the guard with merges running, fill to zero, stop and start on the full disk, free it, three times',
    async () => {
      const figures: { cycle: number; acked: number; stored: number; lost: number; refused: string; activeMergedParts: number }[] = [];
      for (let cycle = 1; cycle <= 3; cycle++) {
        // Room for about 40 MB of the service's writes above the guard's reserve.
        rmSync(ballastDir, { recursive: true, force: true });
        ballast(MIN_FREE + 40 * 1024 * 1024);
        const service = await spawnService(env);
        const send = sender(service.url, cycle);
        let readyWhileFull = '';
        try {
          // The service fills the disk itself until the guard refuses writes.
          await waitFor(async () => (send.refused.get('DW_DISK_FULL') ?? 0) > 0, 180_000, 'the guard to refuse writes (DW_DISK_FULL)');
          // Within DISK_CHECK_INTERVAL of that the engine's merges pause (store/merges.ts): below the reserve no merge writes a part.
          await waitFor(async () => /driftwatch_store_merges_paused 1/.test(await (await fetch(`${service.url}/metrics`)).text()), 30_000, 'merges to pause');
          // Then the disk fills to zero bytes free behind the service's back, while it keeps being sent to (and merges).
          const until = Date.now() + 6_000;
          while (Date.now() < until) {
            ballast();
            await new Promise((r) => setTimeout(r, 300));
          }
          expect(freeBytes()).toBeLessThan(MIN_FREE / 2);
          const ready = await fetch(`${service.url}/readyz`);
          readyWhileFull = JSON.stringify(await ready.json());
          expect(ready.status).toBe(503);
          expect(readyWhileFull).toMatch(/disk nearly full|the disk is full/);
          const metrics = await (await fetch(`${service.url}/metrics`)).text();
          expect(metrics).toMatch(/driftwatch_disk_free_bytes\{dir="data"\} \d+/);
          expect(metrics).toMatch(/driftwatch_ingest_refused_requests_total\{stream="events",reason="disk_full"\} [1-9]/);
        } finally {
          await send.stop();
          // SIGTERM on the full disk: a clean end or one line naming the cause, never a stack.
          service.child.kill('SIGTERM');
        }
        const stopCode = await service.exited;
        const stopOutput = service.output().slice(service.output().indexOf('SIGTERM'));
        expect(stopOutput).not.toMatch(STACK);
        expect([0, 1]).toContain(stopCode);
        const journal = walFiles();
        // Rows it could not store are said in one line, and stay in the journal.
        if (journal.length > 0) expect(stopOutput).toMatch(/stopped with \d+ acknowledged rows not yet stored \(the disk is full\): they are kept in the journal/);

        // Starting on the full disk: one line naming the cause, and the journal kept.
        ballast();
        const start = await runToExit();
        expect(start.code).toBe(1);
        expect(start.out).not.toMatch(STACK);
        expect(start.out.trim().split('\n').filter((l) => l.includes('cannot start'))).toHaveLength(1);
        expect(start.out).toMatch(/driftwatch: cannot start: disk nearly full: .* free for .*, under DISK_MIN_FREE_BYTES/);
        expect(walFiles()).toEqual(journal);

        // Space freed: the service starts (storing what the journal held) and stops cleanly.
        rmSync(ballastDir, { recursive: true, force: true });
        // As a crashed process would leave it: a spool folder of a process that is gone.
        const crashed = join(dataDir, 'spool', '2147483646-crashed');
        mkdirSync(crashed, { recursive: true });
        closeSync(openSync(join(crashed, '0.bin'), 'w'));
        const again = await spawnService(env);
        expect(existsSync(crashed)).toBe(false);
        expect((await fetch(`${again.url}/readyz`)).status).toBe(200);
        again.child.kill('SIGTERM');
        expect(await again.exited).toBe(0);
        expect(again.output()).not.toMatch(/detached part/);
        expect(walFiles()).toEqual([]);
        // No spool folder of a process that is gone is left behind.
        expect(readdirSync(join(dataDir, 'spool'))).toEqual([]);

        // Acknowledged = stored, by distinct event_id, read from the engine's files directly.
        const sql = await openStore(testConfig({ DATA_DIR: dataDir, DISK_MIN_FREE_BYTES: String(1024 * 1024) }));
        try {
          const perBatch = await sql.query<{ batch: string; n: number }>(
            `SELECT splitByChar('-', event_id)[2] AS batch, uniqExact(event_id) AS n FROM events WHERE model = {model:String} AND startsWith(event_id, {prefix:String}) GROUP BY batch`,
            { model: MODEL, prefix: `c${cycle}-` },
          );
          const stored = new Map(perBatch.map((r) => [Number(r.batch), Number(r.n)]));
          let storedOfAcked = 0;
          for (const b of send.acked) storedOfAcked += stored.get(b) ?? 0;
          const merged = await sql.query<{ n: number }>("SELECT count() AS n FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active AND level > 0");
          const broken = await sql.query<{ name: string }>("SELECT name FROM system.detached_parts WHERE database = currentDatabase() AND reason != ''");
          const acked = send.acked.size * BATCH;
          figures.push({
            cycle,
            acked,
            stored: storedOfAcked,
            lost: acked - storedOfAcked,
            refused: JSON.stringify(Object.fromEntries(send.refused)),
            activeMergedParts: Number(merged[0].n),
          });
          console.log(`disk-full cycle ${cycle}: acked ${acked}, stored ${storedOfAcked}, lost ${acked - storedOfAcked}; refused ${figures.at(-1)!.refused}; merged parts ${merged[0].n}; readyz while full ${readyWhileFull}`);
          expect(acked).toBeGreaterThan(0);
          expect(storedOfAcked).toBe(acked);
          expect(broken).toEqual([]);
        } finally {
          await sql.close();
        }
      }
      console.table(figures);
      // Merges ran: parts of merged parts are among the active ones.
      expect(figures.some((f) => f.activeMergedParts > 0)).toBe(true);
    },
    900_000,
  );
});
