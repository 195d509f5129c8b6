import { emptyResults, type WindowResults } from '../alerts/signals.ts';
import type { Metrics } from '../core/metrics.ts';
import { activeBaseline, modelsWithBaselines, segmentBaselines } from '../store/baselines.ts';
import { saveDriftReport } from '../store/drift-results.ts';
import { lateWindows } from '../store/late-events.ts';
import { savePerformances, type WindowPerformance } from '../store/performance-results.ts';
import { labelSummaries } from '../store/performance.ts';
import { boundedSql } from '../store/bounded.ts';
import type { Sql } from '../store/sql.ts';
import { computeDrift, type DriftOptions, type DriftReport } from './drift.ts';
import type { Baseline } from './baseline.ts';
import type { PerformanceReport } from './performance.ts';
import { comparePerformance, computePerformance } from './performance-window.ts';
import { publishReport, type Published } from './publish.ts';
import type { Preaggregates } from './preaggregates.ts';

export interface SchedulerOptions extends DriftOptions {
  windowMs: number;
  graceMs: number;
  metricsMaxFeatures: number;
  performanceRecomputeWindows: number;
  /** A window analysed earlier is analysed again once this share of its events arrived after its analysis... */
  lateReanalyzeShare?: number;
  /** ...looking back this many windows before the one just analysed (0 or absent: never). */
  lateReanalyzeWindows?: number;
  /**
   * The most one model's (or one segment's) analysis of a window may take, its
   * statements together (ANALYSIS_MODEL_TIMEOUT); past it that analysis fails
   * and the run goes on with the next model. 0 or absent: no limit.
   */
  modelTimeoutMs?: number;
  /** After the model list could not be read, the window is tried again this much later (real time; default 10 s). */
  retryMs?: number;
}

/**
 * Why a window is analysed, and for which models. The live clock analyses
 * every model with a baseline; a backfill (analyzers/backfill.ts) and a late
 * re-analysis name one model. Window jobs (shadow reports, alert rules) see
 * the same run.
 */
export interface WindowRun {
  reason: 'live' | 'backfill' | 'late';
  /** Only these models; every model with a baseline when absent. */
  models?: readonly string[];
  /** What window jobs carry from one window of a run to the next (a backfill's alert replay). */
  carry: Map<string, unknown>;
  /** Told of a model whose analysis failed in this window (a backfill stops there). */
  onFailure?: (model: string, err: unknown) => void;
}

export type Window = { from: number; to: number };

/** The scheduler's statements are bounded in time only (ANALYSIS_MODEL_TIMEOUT), never cancelled by a client. */
const NEVER = new AbortController().signal;

export interface SchedulerDeps {
  sql: Sql;
  metrics: Metrics;
  log: { info: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
  now?: () => number;
  /** Settles once the rows ingest acknowledged before the call are stored (journaled ingest), or after a bounded wait. */
  settled?: () => Promise<unknown>;
  /**
   * Further per-window work, in order, after drift and performance: shadow
   * reports add theirs to the results, the alert engine reads them all.
   */
  windowJobs?: { runWindow(window: Window, results: WindowResults, run: WindowRun): Promise<unknown> }[];
  /** Binned counts from the pre-aggregates where they are exact (analyzers/preaggregates.ts); raw events without. */
  preaggregates?: Preaggregates;
}

/** The tumbling window that ended last before `now`: [end - size, end), aligned to the epoch. */
export function lastClosedWindow(now: number, windowMs: number, graceMs: number): { from: number; to: number } {
  const to = Math.floor((now - graceMs) / windowMs) * windowMs;
  return { from: to - windowMs, to };
}

/**
 * Analyses every model that has a baseline once per window, grace after the
 * window closes: drift against the model's active baseline, stored in
 * drift_results and published as gauges. One model's failure is logged and
 * counted; it never stops the others or the next run.
 */
export class AnalysisScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private lastWindowEnd = 0;
  /** End of the newest window the live clock analysed (or was up to date with at start): what the lag is counted from. */
  private analysedEnd = 0;
  private readonly lag = () => Math.max(0, (this.now() - this.analysedEnd) / 1000);
  private readonly published = new Map<string, Published>();
  /**
   * Per model, the end of the newest window whose report is in the gauges:
   * a backfill of older windows stores their history but never makes
   * /metrics show an older window than one it shows already.
   */
  private readonly publishedEnd = new Map<string, number>();
  private readonly listeners: ((report: DriftReport) => void)[] = [];

  constructor(
    private readonly deps: SchedulerDeps,
    private readonly options: SchedulerOptions,
  ) {}

  onReport(listener: (report: DriftReport) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    const now = this.now();
    // Start with the next window to close: the past is available on demand.
    this.lastWindowEnd = lastClosedWindow(now, this.options.windowMs, this.options.graceMs).to;
    this.analysedEnd = this.lastWindowEnd;
    this.deps.metrics.analysisLagSources.add(this.lag);
    this.schedule();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.deps.metrics.analysisLagSources.delete(this.lag);
    await this.running;
  }

  /**
   * Analyses one window for every model with a baseline (or the run's
   * models): the one code path of the live clock, a backfill and a late
   * re-analysis. Exposed for tests and backfills.
   */
  async runWindow(window: Window, runOptions: Partial<WindowRun> = {}): Promise<DriftReport[]> {
    const run: WindowRun = { reason: 'live', carry: new Map(), ...runOptions };
    // Normally long since true: windows are analysed ANALYSIS_GRACE after they close.
    await this.deps.settled?.();
    const results = emptyResults();
    const reports = results.drift;
    const analysed: Baseline[] = [];
    for (const model of run.models ?? (await modelsWithBaselines(this.deps.sql))) {
      const started = performance.now();
      // One model's statements share its time limit: a slow one fails alone and the run goes on.
      const sql = this.bounded();
      try {
        const baseline = await activeBaseline(sql, model);
        if (!baseline) continue;
        const preaggregates = this.deps.preaggregates;
        // A failed registration only costs this window the raw path: windowCounts then answers null.
        await preaggregates?.ensure(baseline).catch((err) => this.deps.log.error({ err, model }, 'pre-aggregates not registered'));
        const report = await computeDrift(sql, baseline, { model, ...window }, this.options, {
          counts: preaggregates && ((w) => preaggregates.windowCounts(baseline, w)),
        });
        await saveDriftReport(sql, report, this.now());
        const newest = window.to >= (this.publishedEnd.get(model) ?? 0);
        // Late labels: the live clock also recomputes the windows before; a backfill and a re-analysis compute theirs as they go.
        const recompute = run.reason === 'live' ? this.options.performanceRecomputeWindows : 0;
        const labelled = await this.refreshPerformance(sql, model, window, report, baseline.performance, recompute, newest);
        if (labelled) results.performance.set(model, labelled);
        if (newest) {
          this.published.set(
            model,
            publishReport(this.deps.metrics, report, this.options.metricsMaxFeatures, this.published.get(model) ?? new Map()),
          );
          this.publishedEnd.set(model, window.to);
        }
        this.deps.metrics.analysisRuns.inc({ outcome: 'ok' });
        this.deps.metrics.analysisSeconds.observe((performance.now() - started) / 1000);
        reports.push(report);
        for (const listener of this.listeners) listener(report);
        analysed.push(baseline);
      } catch (err) {
        this.deps.metrics.analysisRuns.inc({ outcome: 'error' });
        this.deps.log.error({ err, model, window, reason: run.reason }, 'analysis failed');
        run.onFailure?.(model, err);
      }
    }
    for (const job of this.deps.windowJobs ?? []) {
      try {
        await job.runWindow(window, results, run);
      } catch (err) {
        this.deps.log.error({ err, window }, 'window job failed');
      }
    }
    // Segments last: they are for analysts, and alerts should not wait for them.
    for (const baseline of analysed) {
      try {
        await this.runSegments(baseline, window);
      } catch (err) {
        this.deps.log.error({ err, model: baseline.model, window }, 'segment baselines unreadable');
      }
    }
    return reports;
  }

  /**
   * Windows of the look-back before `latest` that gained more than the late
   * share of their events since their analysis are analysed again, with the
   * same code path (their history replaced). Late labels need none of this:
   * every run recomputes the performance of the windows before.
   */
  async reanalyseLate(latest: Window): Promise<Window[]> {
    const lookBack = this.options.lateReanalyzeWindows ?? 0;
    if (lookBack === 0) return [];
    const size = latest.to - latest.from;
    const range = { from: latest.from - lookBack * size, to: latest.from };
    const redone: Window[] = [];
    for (const model of await modelsWithBaselines(this.deps.sql)) {
      try {
        for (const w of await lateWindows(this.deps.sql, model, range, size, this.options.lateReanalyzeShare ?? 0.05)) {
          await this.runWindow(w, { reason: 'late', models: [model] });
          this.deps.metrics.lateReanalyses.inc();
          this.deps.log.info({ model, window: w }, 're-analysed a window that late events changed');
          redone.push(w);
        }
      } catch (err) {
        this.deps.log.error({ err, model }, 'late events could not be counted');
      }
    }
    return redone;
  }

  /**
   * Each segment baseline frozen with the model's active baseline, against
   * the same segment of this window, kept in history. Segments are not
   * published as gauges: tag values are unbounded label values, and the
   * model-wide gauges already carry the alerting. A segment that fails is
   * logged and counted without touching the others or the model's report.
   */
  private async runSegments(baseline: Baseline, window: { from: number; to: number }): Promise<void> {
    const { model } = baseline;
    for (const segmentBaseline of await segmentBaselines(this.deps.sql, model, baseline.baseline_id)) {
      const segment = segmentBaseline.segment!;
      const sql = this.bounded();
      try {
        const report = await computeDrift(sql, segmentBaseline, { model, ...window, segment }, this.options);
        await saveDriftReport(sql, report, this.now());
        this.deps.metrics.analysisRuns.inc({ outcome: 'ok' });
      } catch (err) {
        this.deps.metrics.analysisRuns.inc({ outcome: 'error' });
        this.deps.log.error({ err, model, segment, window }, 'segment analysis failed');
      }
    }
  }

  /**
   * Stores this window's performance and recomputes the previous windows',
   * whose labels may have arrived since, then publishes (and returns) the
   * newest window that has labels.
   */
  private async refreshPerformance(
    sql: Sql,
    model: string,
    window: Window,
    report: DriftReport,
    baselinePerformance: Parameters<typeof comparePerformance>[1],
    recompute: number,
    publish: boolean,
  ): Promise<PerformanceReport | null> {
    const size = window.to - window.from;
    // The earlier windows' label summaries in one read: most hold no new labels, or none at all,
    // and then need no further statement (with many models, two statements a window were most of a model's cost).
    const earlier = recompute > 0 ? await labelSummaries(sql, { model, from: window.from - recompute * size, to: window.from, includeFailed: this.options.includeFailed }, size) : [];
    const computedAt = this.now();
    const rows: WindowPerformance[] = [];
    let published: PerformanceReport | null = null;
    for (let k = 0; k <= recompute; k++) {
      const w = { from: window.from - k * size, to: window.to - k * size };
      const perf =
        k === 0 && report.performance
          ? report.performance
          : comparePerformance(await computePerformance(sql, { model, ...w, includeFailed: this.options.includeFailed }, k > 0 ? earlier[recompute - k] : undefined), baselinePerformance);
      if (perf.n_events === 0) continue;
      rows.push({ ...perf, model, ...w, computed_at: computedAt });
      if (k === 0 && publish) this.deps.metrics.labelCoverage.set({ model }, perf.label_coverage);
      if (!published && perf.n_labelled > 0) {
        if (publish) for (const [metric, value] of Object.entries(perf.metrics)) this.deps.metrics.performance.set({ model, metric }, value);
        published = perf;
      }
    }
    await savePerformances(sql, rows);
    return published;
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** The store as one model's analysis of one window sees it: under ANALYSIS_MODEL_TIMEOUT when set. */
  private bounded(): Sql {
    const timeoutMs = this.options.modelTimeoutMs ?? 0;
    return timeoutMs > 0 ? boundedSql(this.deps.sql, { signal: NEVER, timeoutMs }) : this.deps.sql;
  }

  private schedule(retry = false): void {
    const { windowMs, graceMs } = this.options;
    const nextRun = this.lastWindowEnd + windowMs + graceMs;
    this.timer = setTimeout(() => this.tick(), retry ? (this.options.retryMs ?? 10_000) : Math.max(0, nextRun - this.now()));
  }

  private tick(): void {
    let retry = false;
    this.running = (async () => {
      const { windowMs, graceMs } = this.options;
      // Every window, in order, late if it must be: an analysis that outlasts
      // windows (a loaded machine, a store away, a suspended laptop) delays
      // the ones after it and never skips them, so history has no holes.
      while (this.timer !== null && this.lastWindowEnd < lastClosedWindow(this.now(), windowMs, graceMs).to) {
        const window = { from: this.lastWindowEnd, to: this.lastWindowEnd + windowMs };
        try {
          await this.runWindow(window);
        } catch (err) {
          // The model list itself was unreadable (the store away): the same window is tried again a
          // little later, never skipped; the lag gauge grows meanwhile.
          this.deps.log.error({ err, window }, 'window analysis failed; trying the window again');
          retry = true;
          break;
        }
        this.lastWindowEnd = window.to;
        this.analysedEnd = window.to;
        try {
          // Late events once no closed window waits: a re-analysis never delays a live window.
          if (this.lastWindowEnd >= lastClosedWindow(this.now(), windowMs, graceMs).to) await this.reanalyseLate(window);
        } catch (err) {
          this.deps.log.error({ err, window }, 'late re-analysis failed');
        }
      }
    })().finally(() => {
      this.running = null;
      if (this.timer !== null) this.schedule(retry);
    });
  }
}
