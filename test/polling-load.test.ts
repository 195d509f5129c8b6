import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { seeded, tempDir } from './helpers.ts';
import { spawnService } from './kafka-helpers.ts';

/**
 * Issue 15, item 3: 20 clients poll the drift route every 100 ms for 60 s
 * while events are ingested. Before the query gate the polls' latency grew
 * past a minute, abandoned queries kept both cores busy for minutes after,
 * and SIGTERM took 12 s.
 */
const POLLERS = 20;
const POLL_EVERY_MS = 100;
const RUN_MS = 60_000;
// A polling client gives up on an answer after this long (and polls again).
const CLIENT_TIMEOUT_MS = 5_000;
const INGEST_BATCH = 500;
const INGEST_EVERY_MS = 100;
const MODEL = 'polled';

const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds the process has used (user + system), from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command name start at the state (field 3): utime is 14, stime 15.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const dir = tempDir();
afterAll(() => dir.remove());

describe('polling the drift route under ingest load', () => {
  it('keeps answering, keeps ingesting, goes idle within 5 s after and stops within 5 s', async () => {
    const service = await spawnService({ DATA_DIR: dir.path });
    const pid = service.child.pid!;
    try {
      const { normal, random } = seeded(15);
      let n = 0;
      const batch = (count: number, at: () => number) =>
        JSON.stringify(
          Array.from({ length: count }, () => ({
            event_id: `p${n++}`,
            model: MODEL,
            model_version: 'v1',
            timestamp: at(),
            features: { income: normal(50, 10), age: normal(40, 12), tenure: normal(5, 2), region: random() < 0.3 ? 'eu' : 'us', channel: random() < 0.5 ? 'web' : 'app' },
            prediction: random(),
          })),
        );
      const post = (body: string) => fetch(`${service.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const storedRows = async () => {
        const text = await (await fetch(`${service.url}/metrics`)).text();
        return Number(/^driftwatch_store_insert_rows_sum\{table="events"\} (\d+)/m.exec(text)?.[1] ?? 0);
      };

      // A reference period and its baseline: the 4 minutes before now.
      const seededAt = Date.now();
      for (let i = 0; i < 10; i++) expect((await post(batch(1_000, () => seededAt - 240_000 + Math.floor(random() * 240_000)))).status).toBe(200);
      const frozen = await fetch(`${service.url}/v1/models/${MODEL}/baselines`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: seededAt - 300_000, to: seededAt }),
      });
      expect(frozen.status).toBe(201);

      let stop = false;
      const storedAtStart = await storedRows();
      const started = Date.now();

      // Ingest: a batch every 100 ms, the whole time.
      const ingest = { sent: 0, refused: 0, failed: 0, latencies: [] as number[] };
      const ingesting = (async () => {
        while (!stop) {
          const t = Date.now();
          const body = batch(INGEST_BATCH, () => Date.now() - Math.floor(random() * 1_000));
          try {
            const response = await post(body);
            if (response.status === 200) ingest.sent += INGEST_BATCH;
            else ingest.refused++;
            await response.arrayBuffer();
          } catch {
            ingest.failed++;
          }
          ingest.latencies.push(Date.now() - t);
          await sleep(Math.max(0, INGEST_EVERY_MS - (Date.now() - t)));
        }
      })();

      // Stored rows every 5 s: ingest must make progress in each stretch, not just overall.
      const progress: number[] = [];
      const watching = (async () => {
        while (!stop) {
          progress.push(await storedRows());
          await sleep(5_000);
        }
      })();

      // 20 pollers: ask, wait for the answer (or give up), wait 100 ms, ask again.
      const polls = { latencies: [] as number[], byStatus: new Map<string, number>() };
      const poller = async () => {
        while (!stop) {
          const t = Date.now();
          let outcome: string;
          try {
            const response = await fetch(`${service.url}/v1/models/${MODEL}/drift`, { signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) });
            await response.arrayBuffer();
            outcome = String(response.status);
          } catch {
            outcome = 'gave up';
          }
          polls.latencies.push(Date.now() - t);
          polls.byStatus.set(outcome, (polls.byStatus.get(outcome) ?? 0) + 1);
          await sleep(POLL_EVERY_MS);
        }
      };
      const polling = Promise.all(Array.from({ length: POLLERS }, poller));

      await sleep(RUN_MS);
      stop = true;
      await Promise.all([polling, ingesting, watching]);
      const stoppedAt = Date.now();
      const storedDuringRun = (await storedRows()) - storedAtStart;

      // Idle: the first 1.5 s stretch within 5 s of the stop in which the service used < 15% of a core.
      let idleAfterMs: number | null = null;
      let lastShare = Number.NaN;
      while (Date.now() - stoppedAt < 5_000) {
        const c0 = cpuSeconds(pid);
        const t0 = Date.now();
        await sleep(1_500);
        lastShare = (cpuSeconds(pid) - c0) / ((Date.now() - t0) / 1000);
        if (lastShare < 0.15) {
          idleAfterMs = Date.now() - stoppedAt;
          break;
        }
      }

      // Every acknowledged event is stored (the model route waits for the journal).
      const models = (await (await fetch(`${service.url}/v1/models`)).json()) as { models: { model: string; events: number }[] };
      const events = models.models.find((m) => m.model === MODEL)?.events ?? 0;

      const sigterm = Date.now();
      service.child.kill('SIGTERM');
      const code = await service.exited;
      const stopMs = Date.now() - sigterm;

      const sorted = [...polls.latencies].sort((a, b) => a - b);
      const ingestSorted = [...ingest.latencies].sort((a, b) => a - b);
      const figures = {
        polls: polls.latencies.length,
        by_status: Object.fromEntries(polls.byStatus),
        poll_latency_ms: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) },
        ingest: { acknowledged: ingest.sent, refused: ingest.refused, failed: ingest.failed, p99_ms: quantile(ingestSorted, 0.99), max_ms: ingestSorted.at(-1) },
        events_stored_during_polling: storedDuringRun,
        stored_every_5s: progress.map((p) => p - storedAtStart),
        cpu_after: { idle_after_ms: idleAfterMs, core_share_last_sample: Number(lastShare.toFixed(3)) },
        sigterm_ms: stopMs,
        exit_code: code,
      };
      console.log(`polling figures: ${JSON.stringify(figures)}`);

      expect(polls.byStatus.get('200') ?? 0).toBeGreaterThan(0);
      // Nothing but answers, refusals and the odd abandoned poll: no 500s.
      for (const status of polls.byStatus.keys()) expect(['200', '503', 'gave up']).toContain(status);
      expect(ingest.refused + ingest.failed).toBe(0);
      for (let i = 1; i < progress.length; i++) expect(progress[i], `stored rows did not grow in 5 s stretch ${i}`).toBeGreaterThan(progress[i - 1]);
      expect(storedDuringRun).toBeGreaterThan(0);
      expect(events).toBe(10_000 + ingest.sent);
      expect(idleAfterMs, `the service still used ${lastShare} of a core 5 s after the pollers stopped`).not.toBeNull();
      expect(stopMs).toBeLessThan(5_000);
      expect(code).toBe(0);
    } finally {
      if (service.child.exitCode === null) service.child.kill('SIGKILL');
    }
  }, 240_000);
});
