/**
 * HTTP ingest throughput on the embedded store, next to the store's raw
 * insert rate in the same run (the ceiling).
 *
 *   npm run bench:ingest -- [events=300000] [batch=500] [concurrency=16]
 *
 * The service runs as its own process (`driftwatch serve`), as in production;
 * this process only sends pre-serialised JSON bodies, so what is timed is the
 * service: parse, validate, encode, group-commit insert, answer. The raw rate
 * is the same kind of rows, validated and encoded beforehand, inserted straight
 * into a store in this process.
 */
import { validateEvent } from '../core/event.ts';
import { openStore } from '../store/open.ts';
import { encodeCompact, EVENT_COLUMNS } from '../store/events.ts';
import { tempDir, testConfig } from '../test/helpers.ts';
import { spawnService } from '../test/kafka-helpers.ts';
import { sendEvents } from './http.ts';
import { makeEvents } from './workload.ts';

const [total = 300_000, batch = 500, concurrency = 16] = process.argv.slice(2).map(Number);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function rawInsertRates(): Promise<Record<number, number>> {
  const dir = tempDir('driftwatch-bench-raw-');
  const sql = await openStore(testConfig({ DATA_DIR: dir.path }));
  const limits = { now: Date.now(), maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 };
  const rates: Record<number, number> = {};
  try {
    for (const size of [batch, 20_000, 100_000]) {
      const rows = makeEvents(total, { model: `raw${size}` }).map((e) => {
        const checked = validateEvent(e, limits);
        if (!checked.ok) throw new Error(checked.reason);
        return checked.value;
      });
      const chunks: Buffer[] = [];
      for (let i = 0; i < total; i += size) chunks.push(Buffer.from(encodeCompact(rows.slice(i, i + size), EVENT_COLUMNS)));
      const t0 = performance.now();
      for (const chunk of chunks) await sql.insertCompact('events', EVENT_COLUMNS, chunk);
      rates[size] = total / ((performance.now() - t0) / 1000);
    }
  } finally {
    await sql.close();
    dir.remove();
  }
  return rates;
}

const raw = await rawInsertRates();
const events = makeEvents(total, { model: 'http' });
const bodies: Buffer[] = [];
for (let i = 0; i < total; i += batch) bodies.push(Buffer.from(JSON.stringify(events.slice(i, i + batch))));
const bytes = bodies.reduce((a, b) => a + b.length, 0);

const dir = tempDir('driftwatch-bench-http-');
const server = await spawnService({ DATA_DIR: dir.path, BODY_LIMIT_BYTES: String(64 << 20) });
let result;
let stored: number;
try {
  // Warm-up: JIT and first parts, not timed.
  await sendEvents(server.url, [Buffer.from(JSON.stringify(makeEvents(2000, { model: 'warmup', prefix: 'w' })))], concurrency);
  result = await sendEvents(server.url, bodies, concurrency);
  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { models: { model: string; events: number }[] };
  stored = models.models.find((m) => m.model === 'http')?.events ?? 0;
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  dir.remove();
}
if (stored !== total || result.accepted !== total) throw new Error(`stored ${stored}, accepted ${result.accepted}, sent ${total}`);

const httpRate = total / result.seconds;
const best = Math.max(...Object.values(raw));
console.log(`${fmt(total)} events x 20 features (${(bytes / total).toFixed(0)} bytes each as JSON), ${batch} per request, ${concurrency} requests in flight`);
for (const [size, rate] of Object.entries(raw)) console.log(`raw store insert, ${fmt(Number(size))}-row inserts: ${fmt(rate)} events/s`);
console.log(`HTTP ingest into driftwatch serve: ${fmt(httpRate)} events/s (${((httpRate / best) * 100).toFixed(0)}% of the best raw insert rate), all ${fmt(stored)} stored`);
