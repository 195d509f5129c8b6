/**
 * The scheduler's cost per window as the window grows (issue 22 item 4):
 * one scheduled window (drift with every method, data quality, performance,
 * stored and published) of 1M, 10M and 30M events x 20 features, with the
 * binned methods read from the pre-aggregates and KS/Wasserstein on a
 * sample of KS_WINDOW_SAMPLE_MAX values per feature, next to the raw path
 * (every value read, as before issue 22) on the same window. Prints seconds
 * per window and the process's memory (the embedded engine runs in it: this
 * is the service's memory).
 *
 *   npm run bench:drift -- scheduler [sizes=1000000,10000000,30000000] [numeric=15] [categorical=5] [rounds=2]
 *
 * Every window's events are inserted while the baseline is registered, in
 * chunks of 1M rows, so the insert-time views count them as they would
 * count ingested ones; the insert time is printed too.
 */
import { readFileSync } from 'node:fs';
import { freezeBaseline } from '../analyzers/baseline.ts';
import { Preaggregates } from '../analyzers/preaggregates.ts';
import { AnalysisScheduler, type SchedulerOptions } from '../analyzers/scheduler.ts';
import { parseConfig } from '../core/config.ts';
import { createMetrics } from '../core/metrics.ts';
import { openStore } from '../store/open.ts';
import { tempDir, testConfig } from '../test/helpers.ts';
import { insertEngineEvents } from './engine-events.ts';

const args = process.argv.slice(3);
const sizes = (args[0] ?? '1000000,10000000,30000000').split(',').map(Number);
const numeric = Number(args[1] ?? 15);
const categorical = Number(args[2] ?? 5);
const rounds = Number(args[3] ?? 2);
const HOUR = 3_600_000;
const CHUNK = 1_000_000;
const config = parseConfig({});
const dir = tempDir('driftwatch-bench-scheduler-');
const sql = await openStore(testConfig({ DATA_DIR: dir.path }));
const metrics = createMetrics();
const log = { info: () => {}, error: (o: object, m: string) => console.error(m, o) };
const seconds = (t0: number) => (performance.now() - t0) / 1000;
const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
const peak = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;

const base = Math.floor(Date.now() / HOUR) * HOUR - (sizes.length + 3) * HOUR;
const options: SchedulerOptions = {
  psiThreshold: config.PSI_THRESHOLD,
  minWindowEvents: config.MIN_WINDOW_EVENTS,
  maxCategories: config.MAX_CATEGORIES,
  windowMs: HOUR,
  graceMs: 0,
  metricsMaxFeatures: config.METRICS_MAX_FEATURES,
  performanceRecomputeWindows: 0,
};
const preaggregates = new Preaggregates({ sql, metrics, log }, { enabled: true, backfillMs: config.PREAGG_BACKFILL, maxCategories: config.MAX_CATEGORIES });
const withPre = new AnalysisScheduler({ sql, metrics, log, preaggregates }, { ...options, ksSampleMax: config.KS_WINDOW_SAMPLE_MAX });
const raw = new AnalysisScheduler({ sql, metrics, log }, options);

try {
  const reference = Math.min(1_000_000, Math.max(...sizes));
  await insertEngineEvents(sql, { model: 'bench', prefix: 'r', start: base, spanMs: HOUR, n: reference, numeric, categorical, shift: 0 });
  const baseline = await freezeBaseline(sql, { model: 'bench', from: base, to: base + HOUR }, { bins: config.PSI_BINS, maxCategories: config.MAX_CATEGORIES, sampleMax: config.BASELINE_SAMPLE_MAX });
  await preaggregates.ensure(baseline);
  await preaggregates.settled('bench');
  console.log(`reference: ${reference.toLocaleString('en-US')} events x ${numeric} numeric + ${categorical} categorical; KS_WINDOW_SAMPLE_MAX ${config.KS_WINDOW_SAMPLE_MAX.toLocaleString('en-US')}`);
  console.log('| window events | insert s | pre-aggregates s (each round) | raw s (each round) | RSS after | peak RSS |');
  console.log('|---:|---:|---|---|---:|---:|');
  for (const [k, n] of sizes.entries()) {
    const start = base + (k + 2) * HOUR;
    let t0 = performance.now();
    for (let offset = 0; offset < n; offset += CHUNK) {
      await insertEngineEvents(sql, { model: 'bench', prefix: `w${k}-`, start, spanMs: HOUR, n: Math.min(CHUNK, n - offset), offset, total: n, numeric, categorical, shift: 0.05 });
    }
    const insertSeconds = seconds(t0);
    const window = { from: start, to: start + HOUR };
    const timed = async (scheduler: AnalysisScheduler) => {
      const out: number[] = [];
      for (let r = 0; r < rounds; r++) {
        t0 = performance.now();
        const [report] = await scheduler.runWindow(window, { models: ['bench'], reason: 'backfill' });
        out.push(seconds(t0));
        if (report?.n_events !== n) throw new Error(`the window holds ${report?.n_events} events, not ${n}`);
      }
      return out;
    };
    const pre = await timed(withPre);
    const before = (await metrics.preaggregateReads.get()).values.find((v) => v.labels.source === 'preaggregates')?.value ?? 0;
    if (before === 0) throw new Error('no window was read from the pre-aggregates');
    const rawSeconds = await timed(raw);
    console.log(
      `| ${n.toLocaleString('en-US')} | ${insertSeconds.toFixed(1)} | ${pre.map((s) => s.toFixed(2)).join(', ')} | ${rawSeconds.map((s) => s.toFixed(2)).join(', ')} | ${mib(process.memoryUsage().rss)} | ${mib(peak())} |`,
    );
  }
} finally {
  await sql.close();
  dir.remove();
}
