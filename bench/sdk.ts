// `npx tsx bench/sdk.ts [--rate N] [--seconds S]`: what @driftwatch/client
// costs the service it runs in. A model server's loop logs events at a
// steady rate (default 20,000/s for 10 s, twelve features each) to a real
// driftwatch in its own process; every log() call is timed (the caller's
// thread must never wait: issue 20 asks p99 <= 1 ms), and this process's
// CPU (user + system, all threads: JSON, gzip in libuv's pool, HTTP) is
// measured per event, less the same loop's CPU with log() left out.
import { performance } from 'node:perf_hooks';
import { DriftwatchClient } from '../clients/js/src/index.ts';
import { tempDir } from '../test/helpers.ts';
import { spawnService, waitFor } from '../test/kafka-helpers.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const RATE = arg('rate', 20_000);
const SECONDS = arg('seconds', 10);
const TICK_MS = 5;

const features = (i: number) => ({
  annual_income: 40_000 + (i % 997) * 61, credit_score: 550 + (i % 300), loan_amount: 5_000 + (i % 41) * 500, dti: (i % 50) / 100,
  age: 21 + (i % 50), months_employed: i % 240, open_accounts: i % 17, delinquencies: i % 3,
  loan_purpose: ['car', 'home', 'medical', 'education'][i % 4], home_ownership: i % 2 ? 'rent' : 'own', state: ['CA', 'NY', 'TX'][i % 3], has_cosigner: i % 5 === 0,
});

/** Runs the loop at RATE for SECONDS; `work` is called per event; returns per-call times (µs) and CPU µs. */
async function loop(work: (i: number) => void) {
  const perTick = Math.round((RATE * TICK_MS) / 1000);
  const total = RATE * SECONDS;
  const times = new Float64Array(total);
  const cpu = process.cpuUsage();
  const started = performance.now();
  let i = 0;
  while (i < total) {
    for (const end = Math.min(total, i + perTick); i < end; i++) {
      const t = performance.now();
      work(i);
      times[i] = (performance.now() - t) * 1000;
    }
    const due = started + (i / RATE) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  return { times, cpu: process.cpuUsage(cpu), wallMs: performance.now() - started };
}

const dir = tempDir();
const service = await spawnService({ DATA_DIR: dir.path });
try {
  const now = Date.now();
  const make = (i: number) => ({ model: 'bench-sdk', timestamp: now + (i % 60_000), features: features(i), prediction: (i % 100) / 100, latency_ms: 3.1 });
  // The same loop without the SDK: building the event is the caller's, not the SDK's.
  let sink = 0;
  const control = await loop((i) => (sink += make(i).features.age));
  const client = new DriftwatchClient({ url: service.url });
  const measured = await loop((i) => void client.log(make(i)));
  const flushStart = process.cpuUsage();
  if (!(await client.flush(120_000))) throw new Error('flush did not finish');
  const flushCpu = process.cpuUsage(flushStart);
  await client.close();
  const total = RATE * SECONDS;
  await waitFor(async () => (await service.events('bench-sdk')) === total, 120_000, 'all events stored');

  const sorted = Float64Array.from(measured.times).sort();
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const cpuUs = (c: NodeJS.CpuUsage) => c.user + c.system;
  const perEvent = (cpuUs(measured.cpu) + cpuUs(flushCpu) - cpuUs(control.cpu)) / total;
  const stats = client.stats();
  console.log(JSON.stringify({
    rate: RATE, seconds: SECONDS, events: total, stored: await service.events('bench-sdk'),
    log_us: { p50: +q(0.5).toFixed(2), p99: +q(0.99).toFixed(2), p999: +q(0.999).toFixed(2), max: +sorted[sorted.length - 1].toFixed(1) },
    sdk_cpu_us_per_event: +perEvent.toFixed(2),
    sdk_cpu_share_of_one_core: +((perEvent * RATE) / 1e6).toFixed(4),
    retries: stats.retries, dropped: stats.events.dropped, sink: sink > 0,
  }, null, 1));
} finally {
  service.child.kill('SIGTERM');
  await service.exited;
  dir.remove();
}
