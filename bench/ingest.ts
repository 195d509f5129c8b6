/**
 * HTTP ingest throughput on the embedded store, next to the store's raw
 * insert rate in the same run (the ceiling).
 *
 *   npm run bench:ingest -- [events=1000000] [batch=500] [concurrency=16]
 *
 * The service runs as its own process (`driftwatch serve`), as in production;
 * this process only sends pre-serialised JSON bodies, so what is timed is the
 * service: parse, validate, encode, group-commit insert, answer, until the
 * last event is stored. The service answers once rows are journaled (the
 * embedded store's default); INGEST_ACK=stored in this process's environment
 * reaches it and makes it answer once they are stored. The raw rate
 * is the same kind of rows, validated and encoded beforehand, inserted straight
 * into a store in this process.
 */
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';
import { encodeEvents, EVENT_COLUMNS } from '../store/events.ts';
import { testConfig } from '../test/helpers.ts';
import { spawnService } from '../test/kafka-helpers.ts';
import { sendEvents } from './http.ts';
import { scratchDir } from './scratch.ts';
import { cpuPerEvent, machinePerEvent, machineTicks, threadTicks } from './threads.ts';
import { makeEvents, makeRows } from './workload.ts';

const [total = 1_000_000, batch = 500, concurrency = 16] = process.argv.slice(2).map(Number);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * Waits until the store has had no merge running for a second; returns when
 * one was last seen (or `since`, if none ran). Merges are part of what an
 * insert costs: a rate timed only to the last insert's return leaves them out.
 */
async function mergesSettled(sql: Sql, since: number): Promise<number> {
  let last = since;
  for (let quietSince = performance.now(); performance.now() - quietSince < 1000; ) {
    const [row] = await sql.query<{ n: number }>("SELECT count() AS n FROM system.merges WHERE table = 'events'");
    if (Number(row.n) > 0) last = quietSince = performance.now();
    await new Promise((r) => setTimeout(r, 50));
  }
  return last;
}

/** The store's own rate for the same rows, encoded beforehand: to the last insert's return, and until its merges are done. */
async function rawInsertRates(): Promise<{ size: number; burst: number; sustained: number }[]> {
  const sql = await openStore(testConfig({ DATA_DIR: scratchDir('driftwatch-bench-raw-') }));
  const rates = [];
  try {
    for (const size of [batch, 20_000, 100_000]) {
      const rows = makeRows(total, { model: `raw${size}` });
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < total; i += size) chunks.push(encodeEvents(rows.slice(i, i + size)));
      await mergesSettled(sql, 0);
      const t0 = performance.now();
      for (const chunk of chunks) await sql.insertRowBinary('events', EVENT_COLUMNS, chunk);
      const inserted = performance.now();
      const merged = await mergesSettled(sql, inserted);
      rates.push({ size, burst: total / ((inserted - t0) / 1000), sustained: total / ((merged - t0) / 1000) });
    }
  } finally {
    await sql.close();
  }
  return rates;
}

const raw = await rawInsertRates();
const events = makeEvents(total, { model: 'http' });
const bodies: Buffer[] = [];
// BENCH_ENCODING=gzip|deflate|br: bodies compressed beforehand, as a sender that compresses would send them.
const encoding = process.env.BENCH_ENCODING;
const packers: Record<string, (b: Buffer) => Buffer> = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync };
if (encoding && !packers[encoding]) throw new Error(`BENCH_ENCODING: one of ${Object.keys(packers).join(', ')}`);
for (let i = 0; i < total; i += batch) bodies.push(Buffer.from(JSON.stringify(events.slice(i, i + batch))));
const bytes = bodies.reduce((a, b) => a + b.length, 0);
if (encoding) for (let i = 0; i < bodies.length; i++) bodies[i] = packers[encoding](bodies[i]);
const sentBytes = bodies.reduce((a, b) => a + b.length, 0);

const server = await spawnService({ DATA_DIR: scratchDir('driftwatch-bench-http-'), BODY_LIMIT_BYTES: String(64 << 20) });
let result;
let stored: number;
let answered: number;
try {
  // Warm-up: JIT and first parts, not timed.
  await sendEvents(server.url, [Buffer.from(JSON.stringify(makeEvents(2000, { model: 'warmup', prefix: 'w' })))], concurrency);
  const ticks = threadTicks(server.child.pid!);
  const machine = machineTicks();
  const started = performance.now();
  result = await sendEvents(server.url, bodies, concurrency, encoding);
  // Timed until every event is stored: journaled, the last answers come
  // before the last flush (with INGEST_ACK=stored, after it). Progress from
  // /metrics: a model route would have the flusher store at once what waits.
  const unstored = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return Number(/driftwatch_ingest_unstored_rows\{stream="events"\} (\d+)/.exec(text)?.[1] ?? 0);
  };
  const deadline = Date.now() + 60_000;
  while ((await unstored()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  answered = result.seconds;
  result.seconds = (performance.now() - started) / 1000;
  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { models: { model: string; events: number }[] };
  stored = models.models.find((m) => m.model === 'http')?.events ?? 0;
  if (process.env.BENCH_BREAKDOWN) {
    console.log(`service: ${cpuPerEvent(ticks, threadTicks(server.child.pid!), total)}`);
    console.log(`${machinePerEvent(machine, machineTicks(), total)} (the sender included)`);
  }
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
}
if (stored !== total || result.accepted !== total) throw new Error(`stored ${stored}, accepted ${result.accepted}, sent ${total}`);

const httpRate = total / result.seconds;
const best = Math.max(...raw.map((r) => r.burst));
const bestSustained = Math.max(...raw.map((r) => r.sustained));
const ack = process.env.INGEST_ACK ?? 'journaled';
console.log(
  `${fmt(total)} events x 20 features (${(bytes / total).toFixed(0)} bytes each as JSON${encoding ? `, ${(sentBytes / total).toFixed(0)} sent with ${encoding}` : ''}), ` +
    `${batch} per request, ${concurrency} requests in flight, INGEST_ACK=${ack}`,
);
for (const r of raw) console.log(`raw store insert, ${fmt(r.size)}-row inserts: ${fmt(r.burst)} events/s to the last insert, ${fmt(r.sustained)} events/s until merges are done`);
console.log(
  `HTTP ingest into driftwatch serve: ${fmt(httpRate)} events/s (${((httpRate / best) * 100).toFixed(0)}% of the best raw rate to the last insert, ` +
    `${((httpRate / bestSustained) * 100).toFixed(0)}% of the best until merges are done), all ${fmt(stored)} stored; the last answer after ${answered!.toFixed(2)} s, the last row stored after ${result.seconds.toFixed(2)} s; ` +
    `request round trip ${result.p50Ms.toFixed(1)} ms at the median, ${result.p99Ms.toFixed(1)} ms at the 99th percentile`,
);
