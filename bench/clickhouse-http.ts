/**
 * Does the ClickHouse HTTP interface slow HTTP ingest? Alternating runs of
 * the same ingest (as bench/ingest.ts sends it: pre-serialised JSON bodies
 * to `driftwatch serve`, timed until every event is stored) with the
 * interface off, and on with one client running every SQL query of the
 * model dashboard every 5 s through it, as a Grafana refreshing that
 * dashboard would: its macros expanded at each refresh with the range
 * ending now, as the plugin does (so no two refreshes send the same text).
 *
 * Besides the ingest rates it prints what the interface costs: each panel's
 * statement time at the median, and the
 * service process's CPU time (user + system, /proc) per million events
 * stored, on against off. (Not rows read: the summary's read_rows carries
 * chDB's rowsRead, which counts the rows answered.) The ratio to read is the geometric mean of the
 * rounds' on/off ratios: with an even number of rounds, half of them run
 * the interface first, so a penalty of going first or second cancels out.
 *
 *   npm run bench:clickhouse-http -- [rounds=6] [events=1000000] [batch=500] [concurrency=16]
 */
import { readFileSync } from 'node:fs';
import { createClient } from '@clickhouse/client';
import { allQueries, type SqlQuery } from '../grafana/dashboards.ts';
import { expandMacros } from '../test/grafana-fixtures.ts';
import { freePort, spawnService } from '../test/kafka-helpers.ts';
import { sendEvents } from './http.ts';
import { scratchDir } from './scratch.ts';
import { makeEvents } from './workload.ts';

const [rounds = 6, total = 1_000_000, batch = 500, concurrency = 16] = process.argv.slice(2).map(Number);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const REFRESH_MS = 5_000;

const events = makeEvents(total, { model: 'http' });
const bodies: Buffer[] = [];
for (let i = 0; i < total; i += batch) bodies.push(Buffer.from(JSON.stringify(events.slice(i, i + batch))));
const RANGE_MS = 3 * 3_600_000;
const panels = allQueries()
  .filter((q): q is typeof q & { query: SqlQuery } => q.query.kind === 'sql' && q.dashboard === 'driftwatch-model')
  .map((q) => ({ panel: q.panel, sql: q.query.sql }));
/** The panels' statements as the plugin sends them at a refresh now: the range ending now. */
const queriesNow = () => {
  const now = Date.now();
  return panels.map((p) => ({ panel: p.panel, query: expandMacros(p.sql, { from: now - RANGE_MS, to: now, intervalS: 60, model: 'http' }) }));
};
const CLOCK_TICKS = 100;
/** A process's CPU time so far (user + system), in seconds. */
const cpuSeconds = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
};

interface PanelCost {
  ms: number[];
}

async function run(withInterface: boolean, costs: Map<string, PanelCost>): Promise<{ rate: number; dashboards: number; queryMs: number[]; cpuPerMillion: number }> {
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
        for (const { panel, query } of queriesNow()) {
          const t = performance.now();
          const result = await client.query({ query, format: 'JSONEachRow' });
          await result.json();
          const ms = performance.now() - t;
          queryMs.push(ms);
          const cost = costs.get(panel) ?? { ms: [] };
          costs.set(panel, cost);
          cost.ms.push(ms);
        }
        dashboards++;
        await new Promise((r) => setTimeout(r, Math.max(0, REFRESH_MS - (performance.now() - began))));
      }
    })();
    const started = performance.now();
    const cpuBefore = cpuSeconds(server.child.pid!);
    const result = await sendEvents(server.url, bodies, concurrency);
    const unstored = async () => Number(/driftwatch_ingest_unstored_rows\{stream="events"\} (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
    const deadline = Date.now() + 60_000;
    while ((await unstored()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuSeconds(server.child.pid!) - cpuBefore;
    stop = true;
    await refresher;
    if (result.accepted !== total) throw new Error(`accepted ${result.accepted} of ${total}`);
    return { rate: total / seconds, dashboards, queryMs, cpuPerMillion: (cpu / total) * 1e6 };
  } finally {
    stop = true;
    await client?.close();
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

const off: number[] = [];
const on: number[] = [];
const cpu = { on: [] as number[], off: [] as number[] };
const queryMs: number[] = [];
const costs = new Map<string, PanelCost>();
let dashboards = 0;
for (let r = 0; r < rounds; r++) {
  // Alternating which goes first, so a trend in the machine's load falls on both.
  for (const withInterface of r % 2 === 0 ? [false, true] : [true, false]) {
    const result = await run(withInterface, costs);
    (withInterface ? on : off).push(result.rate);
    cpu[withInterface ? 'on' : 'off'].push(result.cpuPerMillion);
    queryMs.push(...result.queryMs);
    dashboards += result.dashboards;
    console.log(
      `round ${r + 1}, interface ${withInterface ? 'on ' : 'off'}: ${fmt(result.rate)} events/s, ${result.cpuPerMillion.toFixed(1)} CPU s per 1M events${withInterface ? ` (${result.dashboards} dashboard refreshes)` : ''}`,
    );
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const span = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
const sortedMs = [...queryMs].sort((a, b) => a - b);
const ratios = on.map((r, i) => r / off[i]);
const geomean = Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length);
console.log(`${fmt(total)} events per run, ${batch} per request, ${concurrency} in flight, ${rounds} rounds`);
console.log(`interface off: median ${fmt(median(off))} events/s (${span(off)})`);
console.log(`interface on, the model dashboard's ${panels.length} SQL queries every ${REFRESH_MS / 1000} s: median ${fmt(median(on))} events/s (${span(on)})`);
// Per round, the run with the interface against the run without it beside it.
console.log(`on/off per round: ${ratios.map((r) => `${(r * 100).toFixed(0)}%`).join(', ')}`);
console.log(`on/off: geometric mean of the rounds ${(geomean * 100).toFixed(1)}%${rounds % 2 === 1 ? ' (an odd number of rounds: the order does not cancel out)' : ''}; medians ${((median(on) / median(off)) * 100).toFixed(1)}%`);
console.log(`service CPU per 1M events stored: off median ${median(cpu.off).toFixed(1)} s, on ${median(cpu.on).toFixed(1)} s`);
console.log(`${dashboards} refreshes; a query took ${sortedMs[Math.floor(sortedMs.length / 2)].toFixed(1)} ms at the median, ${sortedMs[Math.floor(sortedMs.length * 0.99)].toFixed(1)} ms at the 99th percentile; per panel, medians:`);
for (const [panel, cost] of [...costs].sort((a, b) => median(b[1].ms) - median(a[1].ms))) {
  console.log(`  ${median(cost.ms).toFixed(1)} ms: ${panel}`);
}
