/**
 * Many models (issue 22 item 5): M models x F features, E events per model
 * in each 5-minute window, every window analysed by the scheduler's own code
 * path (AnalysisScheduler.runWindow over all models with a baseline: drift
 * with every method, data quality, performance, stored and published), on
 * the embedded store. Prints, per live window, the seconds for all models
 * against the window's length, the per-model p50/p95/max, the process's peak
 * memory (VmHWM: the engine runs in the process) and whether every window of
 * every model was analysed, with the pre-aggregates on and then off (the raw
 * path) on the same stored windows.
 *
 *   npm run bench:drift -- models [models=200] [events=50000] [numeric=15] [categorical=5] [windows=2] [history=0]
 *
 * `history`: windows of events (unlabelled) per model between the reference
 * and the live windows. Each live window also recomputes the performance of
 * the PERFORMANCE_RECOMPUTE_WINDOWS (12) windows before it; with history=12
 * those hold events, as they do in a service that has run for an hour.
 *
 * Per model a reference window is frozen as its baseline and registered with
 * the pre-aggregates; then the live windows' events go in (engine-made
 * inserts, one per model and window, so the insert-time views count them as
 * they count ingested ones). Loading is printed, not part of the figures.
 */
import { readFileSync } from 'node:fs';
import { freezeBaseline } from '../analyzers/baseline.ts';
import { Preaggregates } from '../analyzers/preaggregates.ts';
import { AnalysisScheduler, type SchedulerOptions, type Window } from '../analyzers/scheduler.ts';
import { parseConfig } from '../core/config.ts';
import { createMetrics } from '../core/metrics.ts';
import { openStore } from '../store/open.ts';
import { tempDir, testConfig } from '../test/helpers.ts';
import { insertEngineEvents } from './engine-events.ts';

const args = process.argv.slice(3);
const models = Number(args[0] ?? 200);
const events = Number(args[1] ?? 50_000);
const numeric = Number(args[2] ?? 15);
const categorical = Number(args[3] ?? 5);
const windows = Number(args[4] ?? 2);
const history = Number(args[5] ?? 0);
const WINDOW = 5 * 60_000;
const config = parseConfig({});
const dir = tempDir('driftwatch-bench-models-');
const sql = await openStore(testConfig({ DATA_DIR: dir.path }));
const metrics = createMetrics();
const log = { info: () => {}, error: (o: object, m: string) => console.error(m, o) };
const seconds = (t0: number) => (performance.now() - t0) / 1000;
const peakMiB = () => Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024);
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
const names = Array.from({ length: models }, (_, i) => `m${String(i).padStart(3, '0')}`);

// The reference window, the history windows, then the live windows, all closed before now.
const base = Math.floor(Date.now() / WINDOW) * WINDOW - (history + windows + 2) * WINDOW;
const slot = (k: number): Window => ({ from: base + k * WINDOW, to: base + (k + 1) * WINDOW });
const earlier = Array.from({ length: history }, (_, k) => slot(1 + k));
const live = Array.from({ length: windows }, (_, k) => slot(1 + history + k));
const options: SchedulerOptions = {
  psiThreshold: config.PSI_THRESHOLD,
  minWindowEvents: config.MIN_WINDOW_EVENTS,
  maxCategories: config.MAX_CATEGORIES,
  windowMs: WINDOW,
  graceMs: 0,
  metricsMaxFeatures: config.METRICS_MAX_FEATURES,
  performanceRecomputeWindows: config.PERFORMANCE_RECOMPUTE_WINDOWS,
  ksSampleMax: config.KS_WINDOW_SAMPLE_MAX,
};
const preaggregates = new Preaggregates({ sql, metrics, log }, { enabled: true, backfillMs: config.PREAGG_BACKFILL, maxCategories: config.MAX_CATEGORIES });

try {
  let t0 = performance.now();
  for (const model of names) {
    await insertEngineEvents(sql, { model, prefix: 'r', start: base, spanMs: WINDOW, n: events, numeric, categorical, shift: 0 });
    const baseline = await freezeBaseline(sql, { model, from: base, to: base + WINDOW }, { bins: config.PSI_BINS, maxCategories: config.MAX_CATEGORIES, sampleMax: config.BASELINE_SAMPLE_MAX });
    await preaggregates.ensure(baseline);
    await preaggregates.settled(model);
  }
  const baselineSeconds = seconds(t0);
  t0 = performance.now();
  for (const [k, w] of [...earlier, ...live].entries()) {
    for (const model of names) await insertEngineEvents(sql, { model, prefix: `w${k}-`, start: w.from, spanMs: WINDOW, n: events, numeric, categorical, shift: 0.05 });
  }
  console.log(
    `${models} models x ${numeric} numeric + ${categorical} categorical features, ${events.toLocaleString('en-US')} events per model and 5-minute window; ` +
      `references and baselines ${baselineSeconds.toFixed(0)} s, ${history} earlier + ${windows} live windows inserted in ${seconds(t0).toFixed(0)} s (not timed below); ` +
      `PERFORMANCE_RECOMPUTE_WINDOWS ${options.performanceRecomputeWindows}`,
  );
  console.log('| path | window | s for all models (window 300 s) | per model p50 s | p95 s | max s | peak RSS (VmHWM) | every model analysed |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---|');
  const missed: string[] = [];
  for (const [path, scheduler] of [
    ['pre-aggregates', new AnalysisScheduler({ sql, metrics, log, preaggregates }, options)],
    ['raw', new AnalysisScheduler({ sql, metrics, log }, options)],
  ] as const) {
    // Each model's time: from the previous model's report (or the run's start) to its own, as the run goes in turn.
    let last = 0;
    const perModel: number[] = [];
    scheduler.onReport(() => {
      const at = performance.now();
      perModel.push((at - last) / 1000);
      last = at;
    });
    for (const [k, w] of live.entries()) {
      perModel.length = 0;
      const errorsBefore = (await metrics.analysisRuns.get()).values.find((v) => v.labels.outcome === 'error')?.value ?? 0;
      t0 = last = performance.now();
      const reports = await scheduler.runWindow(w);
      const total = seconds(t0);
      const errors = ((await metrics.analysisRuns.get()).values.find((v) => v.labels.outcome === 'error')?.value ?? 0) - errorsBefore;
      const complete = new Set(reports.filter((r) => r.n_events === events).map((r) => r.model));
      const absent = names.filter((m) => !complete.has(m));
      missed.push(...absent.map((m) => `${path} window ${k + 1}: ${m}`));
      const sorted = [...perModel].sort((a, b) => a - b);
      const verdict = absent.length === 0 && errors === 0 ? `yes (${reports.length})` : `NO: ${absent.length} missing, ${errors} failed`;
      console.log(
        `| ${path} | ${k + 1} | ${total.toFixed(1)} | ${quantile(sorted, 0.5).toFixed(2)} | ${quantile(sorted, 0.95).toFixed(2)} | ${Math.max(...sorted).toFixed(2)} | ${peakMiB()} MiB | ${verdict} |`,
      );
    }
  }
  const read = (await metrics.preaggregateReads.get()).values.find((v) => v.labels.source === 'preaggregates')?.value ?? 0;
  if (read < models * windows) throw new Error(`only ${read} of ${models * windows} windows were read from the pre-aggregates`);
  // What the history holds: each live window of each model, from both passes.
  const [stored] = await sql.query<{ n: number }>(
    `SELECT uniqExact(model, window_start) AS n FROM drift_windows FINAL
     WHERE segment_tag = '' AND window_start >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')`,
    { from: live[0].from },
  );
  console.log(`drift history: ${stored?.n} model windows stored of ${models * windows}`);
  if (Number(stored?.n) !== models * windows) missed.push(`history holds ${stored?.n} model windows`);
  if (missed.length > 0) throw new Error(`windows not analysed: ${missed.slice(0, 10).join(', ')}${missed.length > 10 ? ', ...' : ''}`);
} finally {
  await sql.close();
  dir.remove();
}
