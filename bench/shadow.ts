/**
 * Shadow re-scoring costs, two questions:
 *
 *   npm run bench:shadow -- [events=1200000] [rounds=3]
 *
 * 1. Batched against one run per row: rows/s of the gradient-boosted
 *    fixture model (test/fixtures/shadow/gbt.onnx) through driftwatch's own
 *    scoring path (encode + onnxruntime-node run), 1,024 rows per run against
 *    one run per row, in this process (medians of three repetitions).
 * 2. What re-scoring costs ingest: HTTP ingest rate into `driftwatch serve`
 *    with no shadow model, and with the model re-scoring a 10% sample while
 *    events arrive (the default live pass, every 10 s), alternating runs;
 *    also how many were re-scored while ingest ran, and how long the live
 *    pass needed after the last event to catch up.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FeatureRow } from '../analyzers/shadow/encode.ts';
import { loadModel } from '../analyzers/shadow/model.ts';
import type { ShadowSpec } from '../analyzers/shadow/spec.ts';
import { tempDir } from '../test/helpers.ts';
import { spawnService } from '../test/kafka-helpers.ts';
import { post, sendEvents } from './http.ts';
import { makeEvents } from './workload.ts';

const [total = 1_200_000, rounds = 3] = process.argv.slice(2).map(Number);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const FIXTURES = join(import.meta.dirname, '..', 'test', 'fixtures', 'shadow');

// The workload's features feed the fixture model: four numeric ones and a categorical.
const spec: ShadowSpec = {
  name: 'gbt',
  role: 'challenger',
  sample_share: 0.1,
  inputs: [
    { name: 'num', dtype: 'float32', columns: ['num_0', 'num_1', 'num_2', 'num_3'].map((feature) => ({ feature })) },
    { name: 'purpose', dtype: 'string', columns: [{ feature: 'cat_0' }] },
  ],
  score: { output: 'probabilities', index: 1, compare_to: 'prediction' },
  class: { output: 'label' },
};

async function batchedVersusPerRow() {
  const model = await loadModel(readFileSync(join(FIXTURES, 'gbt.onnx')));
  const rows: FeatureRow[] = makeEvents(50_000).map((e) => {
    const num: Record<string, number> = {};
    const cat: Record<string, string> = {};
    for (const [k, v] of Object.entries(e.features as Record<string, number | string>)) {
      if (typeof v === 'number') num[k] = v;
      else cat[k] = v;
    }
    return { num, cat };
  });
  const time = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return (performance.now() - t0) / 1000;
  };
  // Warm-up, untimed; then three timed repetitions of each, medians compared.
  await model.score(spec, rows.slice(0, 10_240));
  await model.scoreEach(spec, rows.slice(0, 2_000));
  const perRowCount = 10_000;
  const batched: number[] = [];
  const perRow: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const batchedSeconds = await time(async () => {
      for (let i = 0; i < rows.length; i += 1024) await model.score(spec, rows.slice(i, i + 1024));
    });
    batched.push(rows.length / batchedSeconds);
    perRow.push(perRowCount / (await time(() => model.scoreEach(spec, rows.slice(0, perRowCount)))));
  }
  await model.close();
  return { batched: median(batched), perRow: median(perRow) };
}

async function shadowRowsScored(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^driftwatch_shadow_rows_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

async function ingestRun(withShadow: boolean, round: number) {
  const dir = tempDir('driftwatch-bench-shadow-');
  const server = await spawnService({
    DATA_DIR: dir.path,
    BODY_LIMIT_BYTES: String(64 << 20),
    // The defaults otherwise: 5-minute windows, a live pass every 10 s.
    ANALYSIS_ENABLED: 'true',
    SHADOW_MODEL_DIR: FIXTURES,
  });
  try {
    if (withShadow) {
      const r = await post(server.url, '/v1/models/bench/shadow', JSON.stringify({ ...spec, model_path: 'gbt.onnx' }));
      if (r.status !== 201) throw new Error(`register: ${r.status} ${r.text}`);
    }
    // Events stamped over the last minute, so the live pass (which looks an analysis window back) sees them.
    const start = Date.now() - 60_000;
    const events = makeEvents(total, { model: 'bench', prefix: `r${round}-`, start, stepMs: 60_000 / total });
    const bodies: Buffer[] = [];
    for (let i = 0; i < total; i += 500) bodies.push(Buffer.from(JSON.stringify(events.slice(i, i + 500))));
    const { seconds } = await sendEvents(server.url, bodies, 16);
    let scoredDuringIngest = 0;
    let catchUpSeconds = 0;
    let scored = 0;
    if (withShadow) {
      scoredDuringIngest = await shadowRowsScored(server.url);
      const t1 = performance.now();
      // Caught up when a whole pass interval (10 s) and then some adds nothing; polled every second.
      let lastChange = t1;
      scored = scoredDuringIngest;
      while (performance.now() - lastChange < 11_000) {
        await new Promise((r) => setTimeout(r, 1_000));
        const now = await shadowRowsScored(server.url);
        if (now !== scored) {
          scored = now;
          lastChange = performance.now();
        }
      }
      catchUpSeconds = (lastChange - t1) / 1000;
    }
    return { rate: total / seconds, scoredDuringIngest, scored, catchUpSeconds };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    dir.remove();
  }
}

const { batched, perRow } = await batchedVersusPerRow();
console.log(`gbt.onnx (100 trees, depth 3), driftwatch's scoring path: batched 1,024 rows/run ${fmt(batched)} rows/s; one run per row ${fmt(perRow)} rows/s; ratio ${(batched / perRow).toFixed(1)}x`);

const plain: number[] = [];
const shadowed: number[] = [];
for (let round = 0; round < rounds; round++) {
  const a = await ingestRun(false, round);
  plain.push(a.rate);
  const b = await ingestRun(true, round);
  shadowed.push(b.rate);
  console.log(
    `round ${round + 1}: ingest without shadow ${fmt(a.rate)} events/s; with a 10% shadow sample ${fmt(b.rate)} events/s ` +
      `(${fmt(b.scoredDuringIngest)} re-scored while ingesting, ${fmt(b.scored)} in all, the last ${fmt(b.scored - b.scoredDuringIngest)} ${b.catchUpSeconds.toFixed(0)} s after ingest ended)`,
  );
}
const drop = 1 - median(shadowed) / median(plain);
console.log(`${fmt(total)} events per run, ${rounds} rounds: median ingest ${fmt(median(plain))} -> ${fmt(median(shadowed))} events/s with shadow re-scoring (${(drop * 100).toFixed(1)}% lower)`);
