/**
 * Import of a Parquet file against HTTP ingest and the store's raw insert
 * rate, of the same rows, in one run, alternating.
 *
 *   npx tsx bench/import.ts [events=2000000] [rounds=3]
 *
 * The rows are bench/workload.ts's (20 features: 15 numeric, 5
 * categorical, with version, latency and a tag). They are written once as
 * NDJSON and turned into Parquet by the engine in a process of its own.
 * - import: `driftwatch serve` as its own process; the file is uploaded to
 *   POST /v1/models/{model}/import/upload as `driftwatch import` does, timed
 *   from the first byte sent until the job has succeeded (every row stored);
 * - HTTP ingest: the same rows as JSON bodies of 500, 16 requests in flight,
 *   into the same service, timed until the last is stored (bench/ingest.ts);
 * - raw: the same rows, validated and RowBinary-encoded beforehand, inserted
 *   100,000 at a time straight into a store in this process, timed to the
 *   last insert's return.
 * The bench itself holds the rows (as JSON and RowBinary) for the other two;
 * the service never holds the file in memory.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { once } from 'node:events';
import { openStore } from '../store/open.ts';
import { encodeEvents, EVENT_COLUMNS } from '../store/events.ts';
import { testConfig } from '../test/helpers.ts';
import { spawnService } from '../test/kafka-helpers.ts';
import { sendEvents } from './http.ts';
import { scratchDir } from './scratch.ts';
import { makeEvents, makeRows } from './workload.ts';

const [total = 2_000_000, rounds = 3] = process.argv.slice(2).map(Number);
const CHUNK = 100_000;
const BATCH = 500;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
// Every row in the past, whatever the size: a chunk of rows spans CHUNK ms.
const start = Date.now() - 3_600_000 - Math.ceil(total / CHUNK) * CHUNK;
const chunkOf = (k: number, model: string) => ({ model, start: start + k * CHUNK, prefix: `e${k}_` });

// The file: flat NDJSON from the generator, then Parquet written by the engine.
const files = scratchDir('driftwatch-bench-import-files-');
const ndjson = join(files, 'rows.ndjson');
const parquet = join(files, 'rows.parquet');
{
  const out = createWriteStream(ndjson);
  for (let k = 0; k * CHUNK < total; k++) {
    const lines = makeEvents(Math.min(CHUNK, total - k * CHUNK), chunkOf(k, 'file'))
      .map((e) => JSON.stringify({ event_id: e.event_id, timestamp: e.timestamp, model_version: e.model_version, prediction: e.prediction, latency_ms: e.latency_ms, region: e.tags.region, ...e.features }))
      .join('\n');
    if (!out.write(lines + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const script = `import { query } from 'chdb';
    query("INSERT INTO FUNCTION file('${parquet}', Parquet) SELECT * EXCEPT timestamp, fromUnixTimestamp64Milli(timestamp, 'UTC') AS timestamp FROM file('${ndjson}', JSONEachRow)", 'Null');`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
}
const fileBytes = statSync(parquet).size;

// The same rows for the other two, made before anything is timed.
const bodies: Buffer[] = [];
const encoded: Uint8Array[] = [];
for (let k = 0; k * CHUNK < total; k++) {
  const n = Math.min(CHUNK, total - k * CHUNK);
  const events = makeEvents(n, chunkOf(k, 'http'));
  for (let i = 0; i < n; i += BATCH) bodies.push(Buffer.from(JSON.stringify(events.slice(i, i + BATCH))));
  encoded.push(encodeEvents(makeRows(n, chunkOf(k, 'raw'))).slice());
}

const raw = await openStore(testConfig({ DATA_DIR: scratchDir('driftwatch-bench-import-raw-') }));
const server = await spawnService({ DATA_DIR: scratchDir('driftwatch-bench-import-svc-'), BODY_LIMIT_BYTES: String(64 << 20) });

async function rawRate(): Promise<number> {
  const t0 = performance.now();
  for (const chunk of encoded) await raw.insertRowBinary('events', EVENT_COLUMNS, chunk);
  const seconds = (performance.now() - t0) / 1000;
  // Each round inserts into an empty table, as the others insert rows of a new model.
  await raw.command('TRUNCATE TABLE events');
  return total / seconds;
}

async function httpRate(round: number): Promise<number> {
  const model = `http${round}`;
  const renamed = bodies.map((b) => Buffer.from(b.toString().replaceAll('"model":"http"', `"model":"${model}"`)));
  const t0 = performance.now();
  const result = await sendEvents(server.url, renamed, 16);
  if (result.accepted !== total) throw new Error(`HTTP accepted ${result.accepted} of ${total}`);
  const unstored = async () => Number(/driftwatch_ingest_unstored_rows\{stream="events"\} (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
  while ((await unstored()) > 0) await new Promise((r) => setTimeout(r, 20));
  return total / ((performance.now() - t0) / 1000);
}

async function importRate(round: number): Promise<{ rate: number; jobSeconds: number }> {
  const model = `import${round}`;
  const query = new URLSearchParams({ format: 'parquet', latency_column: 'latency_ms', model_version_column: 'model_version', tag_columns: 'region' });
  const t0 = performance.now();
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(`${server.url}/v1/models/${model}/import/upload?${query}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': fileBytes } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    createReadStream(parquet).pipe(req);
  });
  if (answer.status !== 202) throw new Error(`import answered ${answer.status}: ${answer.text}`);
  const { id } = JSON.parse(answer.text) as { id: string };
  for (;;) {
    const job = (await (await fetch(`${server.url}/v1/jobs/${id}`)).json()) as { state: string; result: { accepted: number; rows: number; seconds: number } | null; error: string | null };
    if (job.state === 'succeeded') {
      if (job.result!.accepted !== total) throw new Error(`import accepted ${job.result!.accepted} of ${total}`);
      return { rate: total / ((performance.now() - t0) / 1000), jobSeconds: job.result!.seconds };
    }
    if (job.state !== 'running') throw new Error(`import ${job.state}: ${job.error}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 5_000));
const rows: { round: number; raw: number; http: number; import: number; jobSeconds: number }[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    const r = { round, raw: 0, http: 0, import: 0, jobSeconds: 0 };
    const phases: (() => Promise<void>)[] = [
      async () => void (r.raw = await rawRate()),
      async () => void (r.http = await httpRate(round)),
      async () => {
        const i = await importRate(round);
        r.import = i.rate;
        r.jobSeconds = i.jobSeconds;
      },
    ];
    // Alternating: each round runs the three in another order.
    const order = [[0, 1, 2], [2, 1, 0], [1, 2, 0]][(round - 1) % 3];
    for (const p of order) {
      await phases[p]();
      await settle();
    }
    rows.push(r);
    console.log(
      `round ${round}: raw ${fmt(r.raw)} events/s, HTTP ${fmt(r.http)}, import ${fmt(r.import)} (job ${r.jobSeconds.toFixed(1)} s after the upload): ` +
        `import/HTTP ${(r.import / r.http).toFixed(2)}, import/raw ${(r.import / r.raw).toFixed(2)}`,
    );
  }
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  await raw.close();
}
console.log(`${fmt(total)} rows x 20 features, Parquet file of ${fmt(fileBytes)} bytes (${(fileBytes / total).toFixed(0)} bytes a row)`);
