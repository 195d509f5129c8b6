/**
 * The peer benchmark (issue 22): driftwatch's drift beside Evidently's
 * default preset, NannyML's univariate drift and a plain scipy loop, on the
 * same rows, in one run, alternating.
 *
 *   npm run bench:peers -- [rows=1000000] [numeric=15] [categorical=5] [rounds=2]
 *
 * rows is per half: reference and current. The Python side
 * (bench/peers/peers.py) runs in a virtual environment under .cache/ with
 * the pinned versions of bench/peers/requirements.txt, made on first use.
 * It writes one Parquet file; the same rows go into a `driftwatch serve`
 * process over HTTP (POST /v1/events, 2,000 a request, as users send them:
 * many small parts), and every peer reads the Parquet file. Timed, per
 * round and tool in turn: freezing a baseline on the reference half (POST
 * .../baselines), GET .../drift on the current half against it, the same
 * drift against the model's active baseline (frozen on the same half before
 * the rounds, its pre-aggregates filled: the binned counts come from them,
 * as in production once a baseline is active), and each peer's analysis of
 * current against reference (its imports and reading the file are not
 * timed, as loading is not timed for driftwatch).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { spawnService } from '../../test/kafka-helpers.ts';
import { post } from '../http.ts';
import { scratchDir } from '../scratch.ts';

const [rows = 1_000_000, numeric = 15, categorical = 5, rounds = 2] = process.argv.slice(2).map(Number);
const ROOT = resolve(import.meta.dirname, '..', '..');
const HERE = join(ROOT, 'bench', 'peers');
const VENV = join(ROOT, '.cache', 'peers-venv');
const PYTHON = join(VENV, 'bin', 'python');
const SCRIPT = join(HERE, 'peers.py');
const MODEL = 'peers';
const HOUR = 3_600_000;
const PEERS = ['evidently', 'nannyml', 'scipy'] as const;

/** Runs a command to its end; its stdout, or a failure with the end of its stderr. */
function run(command: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { env: { ...process.env, NML_DISABLE_USAGE_LOGGING: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done(out) : fail(new Error(`${command} ${args.join(' ')} exited with ${code}: ${err.slice(-3000)}`))));
  });
}

/** The venv with the pinned peers; reinstalled when requirements.txt changed. */
async function python(): Promise<string> {
  const requirements = join(HERE, 'requirements.txt');
  const digest = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  const marker = join(VENV, 'requirements.sha256');
  if (existsSync(PYTHON) && existsSync(marker) && readFileSync(marker, 'utf8') === digest) return PYTHON;
  console.log(`installing ${requirements} into ${VENV} (a few minutes, once)`);
  if (!existsSync(PYTHON)) await run('python3', ['-m', 'venv', VENV]);
  await run(PYTHON, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', requirements]);
  writeFileSync(marker, digest);
  return PYTHON;
}

/** Streams the Parquet rows as event bodies from peers.py into POST /v1/events, `concurrency` requests in flight. */
async function load(py: string, url: string, parquet: string, concurrency: number): Promise<number> {
  const child = spawn(py, [SCRIPT, 'bodies', '--parquet', parquet, '--model', MODEL, '--batch', '2000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const inFlight = new Set<Promise<void>>();
  let accepted = 0;
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      const sent = post(url, '/v1/events', line, agent).then((r) => {
        if (r.status !== 200) throw new Error(`ingest: ${r.status} ${r.text}`);
        const body = JSON.parse(r.text) as { accepted: number; rejected: unknown[] };
        if (body.rejected.length > 0) throw new Error(`ingest rejected events: ${JSON.stringify(body.rejected.slice(0, 3))}`);
        accepted += body.accepted;
      });
      const tracked = sent.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    agent.destroy();
  }
  if ((await exited) !== 0) throw new Error('peers.py bodies failed');
  return accepted;
}

async function json<T>(response: Promise<Response>): Promise<T> {
  const r = await response;
  const text = await r.text();
  if (!r.ok) throw new Error(`${r.status} ${text}`);
  return JSON.parse(text) as T;
}

const fmt = (n: number) => n.toLocaleString('en-US');
const py = await python();
const dir = scratchDir('driftwatch-bench-peers-');
const parquet = join(dir, 'peers.parquet');
// Both halves in the past (events from the future are refused): reference [start, start+2h), current the two hours after.
const start = Date.now() - 5 * HOUR;
let t0 = performance.now();
await run(py, [SCRIPT, 'generate', '--rows', String(rows), '--numeric', String(numeric), '--categorical', String(categorical), '--start', String(start), '--out', parquet]);
console.log(`dataset: ${fmt(rows)} reference + ${fmt(rows)} current rows x ${numeric} numeric + ${categorical} categorical features, one Parquet file (${((performance.now() - t0) / 1000).toFixed(1)} s to make)`);

const service = await spawnService({
  DATA_DIR: join(dir, 'store'),
  BODY_LIMIT_BYTES: String(64 << 20),
  // One analysis at full size takes longer than the default 30 s on a busy machine.
  ANALYSIS_TIMEOUT: '1h',
  MAX_FEATURES_PER_EVENT: String(Math.max(1000, numeric + categorical)),
  PREAGGREGATES: 'on',
});
const seconds: Record<string, number[]> = {
  'driftwatch drift': [],
  'driftwatch drift (pre-aggregates)': [],
  'driftwatch freeze': [],
  ...Object.fromEntries(PEERS.map((p) => [p, []])),
};
try {
  t0 = performance.now();
  const accepted = await load(py, service.url, parquet, 8);
  // Stored, not only journaled: the model routes wait for that themselves, but then the first freeze would pay for it.
  const deadline = Date.now() + 600_000;
  while ((await service.events(MODEL)) < 2 * rows && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  const [parts] = await json<{ models: { model: string; events: number }[] }>(fetch(`${service.url}/v1/models`)).then((b) => b.models.filter((m) => m.model === MODEL));
  console.log(`loaded over HTTP: ${fmt(accepted)} events accepted, ${fmt(parts?.events ?? 0)} stored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if ((parts?.events ?? 0) !== 2 * rows) throw new Error(`stored ${parts?.events ?? 0} of ${2 * rows} events`);

  const iso = (ms: number) => new Date(ms).toISOString();
  const reference = { from: iso(start), to: iso(start + 2 * HOUR) };
  const current = `from=${encodeURIComponent(iso(start + 2 * HOUR))}&to=${encodeURIComponent(iso(start + 4 * HOUR))}`;
  // The model's active baseline, as in production: its pre-aggregates are filled once from the stored events
  // (a job; events ingested after it are counted at insert), then every report on it reads its binned counts there.
  t0 = performance.now();
  const active = await json<{ baseline_id: string }>(
    fetch(`${service.url}/v1/models/${MODEL}/baselines`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...reference, activate: true }) }),
  );
  await json(fetch(`${service.url}/v1/models/${MODEL}/drift?${current}`));
  for (;;) {
    const { jobs } = await json<{ jobs: { state: string }[] }>(fetch(`${service.url}/v1/jobs?model=${MODEL}&kind=preaggregate-backfill`));
    if (jobs.length > 0 && jobs.every((j) => j.state === 'succeeded')) break;
    if (jobs.some((j) => j.state === 'failed')) throw new Error('the pre-aggregate backfill failed');
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(`active baseline frozen and its pre-aggregates filled from the stored events in ${((performance.now() - t0) / 1000).toFixed(1)} s (once per baseline)`);
  for (let round = 1; round <= rounds; round++) {
    let t = performance.now();
    const baseline = await json<{ baseline_id: string }>(
      fetch(`${service.url}/v1/models/${MODEL}/baselines`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(reference) }),
    );
    seconds['driftwatch freeze'].push((performance.now() - t) / 1000);
    t = performance.now();
    const report = await json<{ n_events: number; features: { feature: string; metrics: unknown }[]; drifted_features: string[] }>(fetch(`${service.url}/v1/models/${MODEL}/drift?${current}&baseline_id=${baseline.baseline_id}`));
    seconds['driftwatch drift'].push((performance.now() - t) / 1000);
    if (report.n_events !== rows || report.features.length !== numeric + categorical) throw new Error(`drift report of ${report.n_events} events, ${report.features.length} features`);
    t = performance.now();
    const fromPre = await json<{ features: { feature: string; metrics: unknown }[] }>(fetch(`${service.url}/v1/models/${MODEL}/drift?${current}`));
    seconds['driftwatch drift (pre-aggregates)'].push((performance.now() - t) / 1000);
    // Two baselines frozen on the same rows: the same statistics, whichever way the binned counts were read. To 1e-12 relative,
    // not to the bit: each freeze sums the reference's moments in its own order (wasserstein_normalized divides by the std).
    const same = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b)) : JSON.stringify(a) === JSON.stringify(b));
    const differ = report.features.flatMap((f, i) =>
      Object.entries(f.metrics as Record<string, unknown>)
        .filter(([k, v]) => !same(v, (fromPre.features[i].metrics as Record<string, unknown>)[k]))
        .map(([k, v]) => `${f.feature}.${k}: ${JSON.stringify(v)} / ${JSON.stringify((fromPre.features[i].metrics as Record<string, unknown>)[k])}`),
    );
    if (differ.length > 0) throw new Error(`the report on the active baseline differs from the one on a baseline frozen the same way: ${differ.slice(0, 12).join('; ')}`);
    console.log(
      `round ${round}: driftwatch freeze ${seconds['driftwatch freeze'].at(-1)!.toFixed(2)} s, drift ${seconds['driftwatch drift'].at(-1)!.toFixed(2)} s ` +
        `(${report.drifted_features.length} drifted), from the pre-aggregates ${seconds['driftwatch drift (pre-aggregates)'].at(-1)!.toFixed(2)} s`,
    );
    for (const peer of PEERS) {
      const out = JSON.parse((await run(py, [SCRIPT, 'time', '--tool', peer, '--parquet', parquet])).trim().split('\n').at(-1)!) as { seconds: number };
      seconds[peer].push(out.seconds);
      console.log(`round ${round}: ${peer} ${out.seconds.toFixed(2)} s`);
    }
  }
  // Every timed report on the active baseline read the pre-aggregates (a raw read would show up as source="raw").
  const exposition = await (await fetch(`${service.url}/metrics`)).text();
  const preReads = Number(/^driftwatch_preaggregate_reads_total\{source="preaggregates",reason=""\} (\d+)/m.exec(exposition)?.[1] ?? 0);
  if (preReads < rounds) throw new Error(`${preReads} reports read the pre-aggregates, of ${rounds}`);
} finally {
  service.child.kill('SIGTERM');
  await service.exited;
}

const drift = Math.min(...seconds['driftwatch drift']);
const driftPre = Math.min(...seconds['driftwatch drift (pre-aggregates)']);
console.log(`\n${fmt(rows)} + ${fmt(rows)} rows x ${numeric + categorical} features (${numeric} numeric, ${categorical} categorical), loaded over HTTP; ${rounds} rounds, alternating`);
console.log('| tool | seconds (min-max) | ratio to driftwatch drift (best of each) | ratio to drift from the pre-aggregates |');
console.log('|---|---|---|---|');
const label: Record<string, string> = {
  evidently: 'Evidently 0.7.23 `DataDriftPreset`',
  nannyml: 'NannyML 0.13.1 univariate drift (default methods, one chunk)',
  scipy: 'scipy loop (`ks_2samp` per numeric, `chi2_contingency` per categorical)',
  'driftwatch freeze': 'driftwatch freeze baseline (`POST .../baselines`)',
  'driftwatch drift': 'driftwatch `GET /drift` (all methods, exact KS), binned counts from raw events',
  'driftwatch drift (pre-aggregates)': 'driftwatch `GET /drift` on the active baseline, binned counts from the pre-aggregates',
};
for (const [tool, times] of Object.entries(seconds)) {
  const best = Math.min(...times);
  console.log(`| ${label[tool]} | ${best.toFixed(2)}-${Math.max(...times).toFixed(2)} | ${(best / drift).toFixed(1)}x | ${(best / driftPre).toFixed(1)}x |`);
}
