import type { Metrics } from '../../core/metrics.ts';
import { activeBaseline } from '../../store/baselines.ts';
import type { ShadowRecord } from '../../store/shadow-models.ts';
import { storedCount, type Range } from '../../store/shadow-predictions.ts';
import { saveShadowReport } from '../../store/shadow-results.ts';
import type { Sql } from '../../store/sql.ts';
import { computeShadowReport, type ShadowReport } from './report.ts';
import { keyOf, type ShadowScorer } from './scorer.ts';

export interface ShadowAnalyzerDeps {
  sql: Sql;
  metrics: Metrics;
  scorer: ShadowScorer;
  log: { error: (obj: object, msg: string) => void };
  now?: () => number;
}

export interface ShadowAnalyzerOptions {
  defaultSampleShare: number;
  /** Cap on baseline-period events a challenger scores for its prediction drift. */
  referenceMaxRows: number;
}

/**
 * Window reports for every shadow model: first scores what the live pass has
 * not reached yet (so a report never misses the window's last seconds), then
 * compares, stores and publishes. A failing shadow is logged and counted and
 * never stops the others or the drift analysis.
 */
export class ShadowAnalyzer {
  constructor(
    private readonly deps: ShadowAnalyzerDeps,
    private readonly options: ShadowAnalyzerOptions,
  ) {}

  /**
   * One shadow's report for a window, scoring what it needs first; through
   * `sql` when given (the API's, bounded per request).
   */
  async report(record: ShadowRecord, window: Range, sql = this.deps.sql): Promise<ShadowReport> {
    const { scorer } = this.deps;
    await scorer.scoreRange(record, window, Number.POSITIVE_INFINITY, sql);
    const baseline = await activeBaseline(sql, record.model);
    if (record.role === 'challenger' && baseline) {
      const reference = { from: baseline.from, to: baseline.to };
      const have = await storedCount(sql, keyOf(record), reference);
      if (have < this.options.referenceMaxRows) await scorer.scoreRange(record, reference, this.options.referenceMaxRows - have, sql);
    }
    return computeShadowReport({ sql, defaultSampleShare: this.options.defaultSampleShare }, record, window, baseline);
  }

  /** Per model and shadow, the end of the newest window in the gauges: an older window's report (a backfill) is stored, not published. */
  private readonly publishedEnd = new Map<string, number>();

  /**
   * Reports every live shadow for the window (of the run's models only, when
   * it names them); adds them to `results` when given (the alert engine reads them there).
   */
  async runWindow(window: Range, results?: { shadow: ShadowReport[] }, run?: { models?: readonly string[] }): Promise<ShadowReport[]> {
    const reports: ShadowReport[] = results?.shadow ?? [];
    let records: ShadowRecord[];
    try {
      records = await this.deps.scorer.refresh();
    } catch (err) {
      this.deps.metrics.shadowFailures.inc({ stage: 'report' });
      this.deps.log.error({ err }, 'shadow models could not be listed');
      return reports;
    }
    for (const record of records) {
      if (run?.models && !run.models.includes(record.model)) continue;
      try {
        const report = await this.report(record, window);
        await saveShadowReport(this.deps.sql, report, this.deps.now ? this.deps.now() : Date.now());
        const key = `${record.model}\u0000${record.name}`;
        if (window.to >= (this.publishedEnd.get(key) ?? 0)) {
          this.publish(report);
          this.publishedEnd.set(key, window.to);
        }
        reports.push(report);
      } catch (err) {
        this.deps.metrics.shadowFailures.inc({ stage: 'report' });
        this.deps.log.error({ err, model: record.model, shadow: record.name, window }, 'shadow report failed');
      }
    }
    return reports;
  }

  private publish(r: ShadowReport): void {
    const m = this.deps.metrics;
    const labels = { model: r.model, shadow: r.shadow };
    const set = (gauge: { set: (l: never, v: number) => void; remove: (l: never) => void }, l: object, v: number | null | undefined) => {
      if (v === null || v === undefined) gauge.remove(l as never);
      else gauge.set(l as never, v);
    };
    set(m.shadowMismatch, { ...labels, role: r.role }, r.comparison.mismatch_share);
    set(m.shadowAbsDiff, { ...labels, stat: 'mean' }, r.comparison.mean_abs_diff);
    set(m.shadowAbsDiff, { ...labels, stat: 'max' }, r.comparison.max_abs_diff);
    set(m.shadowClassAgreement, labels, r.comparison.class_agreement);
    set(m.shadowPredictionPsi, labels, r.prediction_drift?.score);
    for (const who of ['champion', 'shadow'] as const) {
      for (const [metric, value] of Object.entries(r.performance[who])) m.shadowPerformance.set({ ...labels, who, metric }, value);
    }
  }
}
