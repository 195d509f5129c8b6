/**
 * Does the ClickHouse HTTP interface slow HTTP ingest? Alternating runs of
 * the same ingest (as bench/ingest.ts sends it: pre-serialised JSON bodies
 * to `driftwatch serve`, timed until every event is stored) with the
 * interface off, and on with one client running every SQL query of the
 * model dashboard every 5 s through it, as a Grafana refreshing that
 * dashboard would.
 *
 *   npm run bench:clickhouse-http -- [rounds=5] [events=1000000] [batch=500] [concurrency=16]
 */
import { createClient } from '@clickhouse/client';
import { allQueries, type SqlQuery } from '../grafana/dashboards.ts';
import { expandMacros } from '../test/grafana-fixtures.ts';
import { freePort, spawnService } from '../test/kafka-helpers.ts';
import { sendEvents } from './http.ts';
import { scratchDir } from './scratch.ts';
import { makeEvents } from './workload.ts';

const [rounds = 5, total = 1_000_000, batch = 500, concurrency = 16] = process.argv.slice(2).map(Number);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const REFRESH_MS = 5_000;

const events = makeEvents(total, { model: 'http' });
const bodies: Buffer[] = [];
for (let i = 0; i < total; i += batch) bodies.push(Buffer.from(JSON.stringify(events.slice(i, i + batch))));
const range = { from: Date.now() - 2 * 3_600_000, to: Date.now() + 3_600_000, intervalS: 60, model: 'http' };
const queries = allQueries()
  .filter((q): q is typeof q & { query: SqlQuery } => q.query.kind === 'sql' && q.dashboard === 'driftwatch-model')
  .map((q) => expandMacros(q.query.sql, range));

async function run(withInterface: boolean): Promise<{ rate: number; dashboards: number; queryMs: number[] }> {
  const port = withInterface ? await freePort() : undefined;
  const server = await spawnService({ DATA_DIR: scratchDir('driftwatch-bench-chhttp-'), BODY_LIMIT_BYTES: String(64 << 20), ...(port ? { CLICKHOUSE_HTTP_PORT: String(port) } : {}) });
  const client = port ? createClient({ url: `http://127.0.0.1:${port}`, request_timeout: 60_000 }) : null;
  let stop = false;
  let dashboards = 0;
  const queryMs: number[] = [];
  try {
    await sendEvents(server.url, [Buffer.from(JSON.stringify(makeEvents(2000, { model: 'warmup', prefix: 'w' })))], concurrency);
    // One dashboard refresh every 5 s, its queries one after another (Grafana sends them at once; the interface runs one at a time).
    const refresher = (async () => {
      while (client && !stop) {
        const began = performance.now();
        for (const query of queries) {
          const t = performance.now();
          await (await client.query({ query, format: 'JSONEachRow' })).json();
          queryMs.push(performance.now() - t);
        }
        dashboards++;
        await new Promise((r) => setTimeout(r, Math.max(0, REFRESH_MS - (performance.now() - began))));
      }
    })();
    const started = performance.now();
    const result = await sendEvents(server.url, bodies, concurrency);
    const unstored = async () => Number(/driftwatch_ingest_unstored_rows\{stream="events"\} (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
    const deadline = Date.now() + 60_000;
    while ((await unstored()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const seconds = (performance.now() - started) / 1000;
    stop = true;
    await refresher;
    if (result.accepted !== total) throw new Error(`accepted ${result.accepted} of ${total}`);
    return { rate: total / seconds, dashboards, queryMs };
  } finally {
    stop = true;
    await client?.close();
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

const off: number[] = [];
const on: number[] = [];
const queryMs: number[] = [];
let dashboards = 0;
for (let r = 0; r < rounds; r++) {
  // Alternating which goes first, so a trend in the machine's load falls on both.
  for (const withInterface of r % 2 === 0 ? [false, true] : [true, false]) {
    const result = await run(withInterface);
    (withInterface ? on : off).push(result.rate);
    queryMs.push(...result.queryMs);
    dashboards += result.dashboards;
    console.log(`round ${r + 1}, interface ${withInterface ? 'on ' : 'off'}: ${fmt(result.rate)} events/s${withInterface ? ` (${result.dashboards} dashboard refreshes)` : ''}`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const span = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
const sortedMs = [...queryMs].sort((a, b) => a - b);
console.log(`${fmt(total)} events per run, ${batch} per request, ${concurrency} in flight, ${rounds} rounds`);
console.log(`interface off: median ${fmt(median(off))} events/s (${span(off)})`);
console.log(`interface on, the model dashboard's ${queries.length} SQL queries every ${REFRESH_MS / 1000} s: median ${fmt(median(on))} events/s (${span(on)})`);
// Per round, the run with the interface against the run without it beside it.
console.log(`on/off per round: ${on.map((r, i) => `${((r / off[i]) * 100).toFixed(0)}%`).join(', ')}`);
console.log(`on/off, medians: ${((median(on) / median(off)) * 100).toFixed(1)}%; ${dashboards} refreshes, a query took ${sortedMs[Math.floor(sortedMs.length / 2)].toFixed(1)} ms at the median, ${sortedMs[Math.floor(sortedMs.length * 0.99)].toFixed(1)} ms at the 99th percentile`);
