/**
 * Drift analysis time for 1M reference + 1M current events x 20 features
 * (15 numeric, 5 categorical; other counts by argument) on the embedded
 * store, next to a bare scan of the same map columns in the same run.
 *
 *   npm run bench:drift -- [events=1000000] [numeric=15] [categorical=5]
 */
import { freezeBaseline } from '../analyzers/baseline.ts';
import { computeDrift } from '../analyzers/drift.ts';
import { validateEvent } from '../core/event.ts';
import { encodeCompact, EVENT_COLUMNS } from '../store/events.ts';
import * as A from '../store/aggregates.ts';
import { openStore } from '../store/open.ts';
import { tempDir, testConfig } from '../test/helpers.ts';
import { makeEvents } from './workload.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const numeric = Number(process.argv[3] ?? 15);
const categorical = Number(process.argv[4] ?? 5);
const dir = tempDir('driftwatch-bench-drift-');
const sql = await openStore(testConfig({ DATA_DIR: dir.path }));
const seconds = (t0: number) => (performance.now() - t0) / 1000;
const now = Date.now();
const refStart = now - 3 * 3_600_000;
const curStart = now - 1 * 3_600_000;
const limits = { now, maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 };

try {
  let t0 = performance.now();
  const chunk = 100_000;
  for (const [start, shift, prefix] of [[refStart, 0, 'r'], [curStart, 0.05, 'c']] as const) {
    for (let offset = 0; offset < n; offset += chunk) {
      const events = makeEvents(Math.min(chunk, n - offset), {
        start: start + offset * (3_000_000 / n),
        stepMs: 3_000_000 / n,
        shift,
        prefix: `${prefix}${offset}-`,
        numeric,
        categorical,
      });
      const rows = events.map((e) => {
        const checked = validateEvent(e, limits);
        if (!checked.ok) throw new Error(checked.reason);
        return checked.value;
      });
      await sql.insertCompact('events', EVENT_COLUMNS, Buffer.from(encodeCompact(rows, EVENT_COLUMNS)));
    }
  }
  await sql.command('OPTIMIZE TABLE events FINAL');
  console.log(`loaded ${(2 * n).toLocaleString('en-US')} events x ${numeric} numeric + ${categorical} categorical features in ${seconds(t0).toFixed(1)} s`);

  const window = { model: 'bench', from: curStart, to: now };
  t0 = performance.now();
  const [scan] = await sql.query<{ s: number }>(
    `SELECT sum(arraySum(mapValues(num))) + sum(length(mapValues(cat))) AS s FROM events FINAL
     WHERE model = 'bench' AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`,
    { from: refStart, to: now },
  );
  const scanSeconds = seconds(t0);

  t0 = performance.now();
  const baseline = await freezeBaseline(sql, { model: 'bench', from: refStart, to: curStart }, { bins: 10, maxCategories: 1000, sampleMax: 1_000_000 });
  const freezeSeconds = seconds(t0);

  if (process.env.BENCH_BREAKDOWN) {
    const numeric = baseline.features.filter((f) => f.kind === 'numeric') as import('../analyzers/baseline.ts').NumericReference[];
    const categorical = baseline.features.filter((f) => f.kind === 'categorical').map((f) => f.name);
    let t = performance.now();
    await A.featureInventory(sql, window);
    console.log('  inventory', seconds(t).toFixed(2));
    t = performance.now();
    await A.numericHistograms(sql, window, new Map(numeric.map((f) => [f.name, f.edges])));
    console.log('  histograms', seconds(t).toFixed(2));
    t = performance.now();
    await A.ksTests(sql, baseline.baseline_id, window, numeric.map((f) => f.name), 'asymp');
    console.log('  ks', seconds(t).toFixed(2));
    t = performance.now();
    await A.categoryCounts(sql, window, categorical, 1000);
    console.log('  categories', seconds(t).toFixed(2));
  }
  t0 = performance.now();
  const report = await computeDrift(sql, baseline, window, { psiThreshold: 0.2, minWindowEvents: 100, maxCategories: 1000 });
  const driftSeconds = seconds(t0);

  console.log(`bare scan of both windows' feature maps (FINAL): ${scanSeconds.toFixed(2)} s (checksum ${Number(scan.s).toExponential(3)})`);
  console.log(`freeze baseline (quantiles, histograms, KS sample): ${freezeSeconds.toFixed(2)} s`);
  console.log(`drift, all methods, data quality, performance: ${driftSeconds.toFixed(2)} s (${(driftSeconds / scanSeconds).toFixed(1)}x the bare scan)`);
  console.log(`features analysed: ${report.features.length}, drifted: ${report.drifted_features.join(', ') || 'none'}`);
} finally {
  await sql.close();
  dir.remove();
}
