import type { Metrics } from '../core/metrics.ts';
import type { Jobs } from '../jobs/registry.ts';
import type { FeatureCount, Window } from '../store/aggregates.ts';
import { activeBaseline } from '../store/baselines.ts';
import { getBackfill, saveBackfill, type PreaggBackfill } from '../store/preagg-backfills.ts';
import { registeredTarget, registerTarget, unregisterModel } from '../store/preagg-edges.ts';
import { fillPreaggregates, storedRange } from '../store/preagg-fill.ts';
import { stepCategories, stepEventCounts, stepHistograms, stepPresence } from '../store/preagg-steps.ts';
import type { Sql } from '../store/sql.ts';
import type { Baseline, NumericReference } from './baseline.ts';
import { sumBinnedCounts } from './binned-counts.ts';
import { rawCounts, type BinnedCounts } from './drift.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

export interface PreaggOptions {
  enabled: boolean;
  /** How far back a newly active baseline's pre-aggregates are filled from stored events (PREAGG_BACKFILL). */
  backfillMs: number;
  maxCategories: number;
}

/** Why a window's or step's counts come from raw events (the reason label of driftwatch_preaggregate_reads_total). */
export type RawReason = 'disabled' | 'segment' | 'include_failed' | 'unaligned' | 'not_registered' | 'mismatch' | 'capped';

export type StepCounts = { steps: (BinnedCounts | null)[]; reason: RawReason | null };

export interface PreaggDeps {
  sql: Sql;
  metrics: Metrics;
  log: { info: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
  /** Backfills run as jobs (GET /v1/jobs) when given; else in the background. */
  jobs?: Jobs;
  now?: () => number;
}

/**
 * The pre-aggregates of migration 9 as the analysis sees them
 * (docs/preaggregates.md): keeps each model's events binned on its active
 * baseline, fills a newly active baseline's past from stored events, and
 * answers a window's or a series' binned counts, or null wherever they would
 * not be exactly what raw events give.
 */
export class Preaggregates {
  private readonly filling = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: PreaggDeps,
    readonly options: PreaggOptions,
  ) {}

  /**
   * Makes `baseline` (a model's active one) what new events are binned on,
   * and starts filling its past once. Cheap when nothing changed: one read.
   */
  async ensure(baseline: Baseline): Promise<void> {
    if (baseline.segment) return;
    const { sql } = this.deps;
    const current = await registeredTarget(sql, baseline.model);
    if (!this.options.enabled) {
      if (current) await unregisterModel(sql, baseline.model, this.now());
      return;
    }
    let registeredAt = current?.registeredAt ?? 0;
    if (current?.baselineId !== baseline.baseline_id) {
      registeredAt = this.now();
      await registerTarget(
        sql,
        {
          model: baseline.model,
          baselineId: baseline.baseline_id,
          numeric: baseline.features.filter((f): f is NumericReference => f.kind === 'numeric').map((f) => ({ feature: f.name, edges: f.edges })),
          categorical: baseline.features.filter((f) => f.kind === 'categorical').map((f) => f.name),
        },
        registeredAt,
      );
      this.deps.log.info({ model: baseline.model, baseline: baseline.baseline_id }, 'pre-aggregates now bin on this baseline');
    }
    const key = `${baseline.model}\u0000${baseline.baseline_id}`;
    if (this.filling.has(key)) return;
    const record = await getBackfill(sql, baseline.model, baseline.baseline_id);
    if (record?.state === 'done' || record?.state === 'failed') return;
    const to = Math.ceil((registeredAt + 1) / DAY) * DAY + DAY;
    const from = Math.floor((this.now() - this.options.backfillMs) / DAY) * DAY;
    // Resumed after a restart from the oldest day already filled.
    const state: PreaggBackfill = record ?? { model: baseline.model, baselineId: baseline.baseline_id, from: to, to, state: 'running', jobId: '', reason: '' };
    const work = async (signal?: AbortSignal, progress?: (done: number, total: number) => void) => {
      const total = Math.max(0, Math.round((to - from) / DAY));
      try {
        // Only the days that hold stored events: a young model's month is mostly empty.
        const stored = await storedRange(sql, baseline.model, registeredAt);
        const oldest = stored ? Math.max(from, Math.floor(stored.from / DAY) * DAY) : state.from;
        if (stored) state.from = Math.min(state.from, Math.ceil(stored.to / DAY) * DAY);
        for (let end = state.from; end > oldest; end -= DAY) {
          if (signal?.aborted) return;
          const started = performance.now();
          await fillPreaggregates(sql, { model: baseline.model, baselineId: baseline.baseline_id, from: end - DAY, to: end, before: registeredAt }, { signal });
          this.deps.metrics.preaggregateBackfillSeconds.observe((performance.now() - started) / 1000);
          state.from = end - DAY;
          await saveBackfill(sql, state, this.now());
          progress?.(Math.round((to - state.from) / DAY), total);
        }
        state.from = Math.min(state.from, from);
        state.state = 'done';
        await saveBackfill(sql, state, this.now());
      } catch (err) {
        if (signal?.aborted) return;
        state.state = 'failed';
        state.reason = err instanceof Error ? err.message : String(err);
        await saveBackfill(sql, state, this.now()).catch(() => undefined);
        throw err;
      }
    };
    let done: Promise<void>;
    if (this.deps.jobs) {
      const job = this.deps.jobs.start('preaggregate-backfill', baseline.model, 'days', (ctx) => work(ctx.signal, (d, t) => ctx.progress(d, t)));
      state.jobId = job.id;
      done = this.deps.jobs.settled(job.id).then(() => undefined);
    } else {
      done = work().catch((err) => this.deps.log.error({ err, model: baseline.model }, 'pre-aggregate backfill failed'));
    }
    await saveBackfill(sql, state, this.now());
    this.filling.set(key, done);
    void done.finally(() => this.filling.delete(key));
  }

  /**
   * ensure(), when `baseline` is its model's active one (any other baseline
   * is never binned on): an API read of a newly activated baseline starts its
   * backfill rather than waiting for the scheduler's next window. Never
   * throws: registering writes, and a read must not fail because a write
   * could not be made (a full disk); its counts then come from raw events.
   */
  async ensureIfActive(sql: Sql, baseline: Baseline): Promise<void> {
    try {
      if (!baseline.segment && (await activeBaseline(sql, baseline.model))?.baseline_id === baseline.baseline_id) await this.ensure(baseline);
    } catch (err) {
      this.deps.log.error({ err, model: baseline.model }, 'could not bin the pre-aggregates on the active baseline; this read uses raw events');
    }
  }

  /**
   * How a report on `baseline` made now reads its window's binned counts
   * through `sql` (computeDrift's `counts`); undefined, raw events, with
   * PREAGGREGATES off.
   */
  async reader(sql: Sql, baseline: Baseline): Promise<((window: Window) => Promise<BinnedCounts | null>) | undefined> {
    if (!this.options.enabled) return undefined;
    await this.ensureIfActive(sql, baseline);
    return (window) => this.windowCounts(baseline, window, sql);
  }

  /** Resolves once the model's running backfills are done (tests, the bench). */
  async settled(model: string): Promise<void> {
    await Promise.all([...this.filling].filter(([k]) => k.startsWith(`${model}\u0000`)).map(([, p]) => p));
  }

  /** Where the baseline's backfill stands; null when none was started. */
  backfill(baseline: Baseline): Promise<PreaggBackfill | null> {
    return getBackfill(this.deps.sql, baseline.model, baseline.baseline_id);
  }

  /**
   * One window's binned counts, or null where raw events must be read (and
   * why, in the metric): its whole minutes from the pre-aggregates, and the
   * parts of a minute at its ends, if any, from raw events. A window ending
   * now (GET /drift's default) or where a dashboard's range ends is seldom
   * whole minutes, and its ends hold a minute of events at most: reading
   * them costs a fraction of reading the window (docs/preaggregates.md).
   */
  async windowCounts(baseline: Baseline, window: Window, sql: Sql = this.deps.sql): Promise<BinnedCounts | null> {
    if (window.segment) return this.raw('segment', 1);
    if (window.includeFailed) return this.raw('include_failed', 1);
    const from = Math.ceil(window.from / MINUTE) * MINUTE;
    const to = Math.floor(window.to / MINUTE) * MINUTE;
    if (from === window.from && to === window.to) {
      const { steps } = await this.stepCounts(sql, baseline, { from, to, stepMs: to - from, stored: window.storedEvents });
      return steps[0];
    }
    if (to <= from) return this.raw('unaligned', 1);
    // Asked before the ends are read, which would be wasted on a baseline the pre-aggregates do not bin on.
    if (!this.options.enabled) return this.raw('disabled', 1);
    if (baseline.segment) return this.raw('segment', 1);
    if ((await registeredTarget(sql, baseline.model))?.baselineId !== baseline.baseline_id) return this.raw('not_registered', 1);
    const cap = this.options.maxCategories;
    const ends: BinnedCounts[] = [];
    if (window.from < from) ends.push(await rawCounts(sql, baseline, { ...window, to: from }, cap));
    if (to < window.to) ends.push(await rawCounts(sql, baseline, { ...window, from: to }, cap));
    // The ends' events are counted (deduplicated) by their reads: the whole minutes' stored count is what remains.
    const stored = window.storedEvents === undefined ? undefined : window.storedEvents - ends.reduce((n, e) => n + e.inventory.total, 0);
    const { steps, reason } = await this.stepCounts(sql, baseline, { from, to, stepMs: to - from, stored }, undefined, undefined, false);
    if (!steps[0]) return this.raw(reason ?? 'mismatch', 1);
    const sum = sumBinnedCounts([...ends, steps[0]], cap);
    if (!sum) return this.raw('capped', 1);
    this.deps.metrics.preaggregateReads.inc({ source: 'preaggregates', reason: '' });
    return sum;
  }

  /**
   * The binned counts of each step of [from, to), from the pre-aggregates;
   * a step whose pre-aggregated event count differs from the stored,
   * deduplicated one (events replayed, deleted, or from before the backfill
   * reached them) is null, as is every step when they cannot answer at all.
   */
  async stepCounts(
    sql: Sql,
    baseline: Baseline,
    /** `stored`: a one-step range's deduplicated event count, when the caller has counted it already. */
    range: { from: number; to: number; stepMs: number; includeFailed?: boolean; stored?: number },
    only?: { numeric: string[]; categorical: string[] },
    /**
     * Given every step's counts as soon as they are read, before they are
     * checked against the stored events (that check, FINAL over the range's
     * keys, is the slowest read: 0.7-1.2 s for 30 days of 1M events a day):
     * the caller may work on them meanwhile, and must drop what the returned
     * (checked) steps leave null.
     */
    unchecked?: (steps: readonly BinnedCounts[]) => void,
    /** Count the steps in driftwatch_preaggregate_reads_total; false where the caller counts what it makes of them. */
    tally = true,
  ): Promise<StepCounts> {
    const n = Math.max(0, Math.ceil((range.to - range.from) / range.stepMs));
    const none = (reason: RawReason): StepCounts => ({ steps: this.raw(reason, tally ? n : 0, new Array<null>(n).fill(null)), reason });
    if (!this.options.enabled) return none('disabled');
    if (baseline.segment) return none('segment');
    if (range.includeFailed) return none('include_failed');
    if (range.from % MINUTE !== 0 || range.stepMs % MINUTE !== 0 || (range.to - range.from) % range.stepMs !== 0) return none('unaligned');
    const registered = await registeredTarget(sql, baseline.model);
    if (registered?.baselineId !== baseline.baseline_id) return none('not_registered');

    const numeric = baseline.features.filter((f): f is NumericReference => f.kind === 'numeric' && (!only || only.numeric.includes(f.name)));
    const categorical = baseline.features.filter((f) => f.kind === 'categorical' && (!only || only.categorical.includes(f.name))).map((f) => f.name);
    const q = { model: baseline.model, baselineId: baseline.baseline_id, from: range.from, to: range.to, stepMs: range.stepMs, hourly: range.from % HOUR === 0 && range.stepMs % HOUR === 0 };
    // Asked in this order, and the check last: the embedded store runs one
    // statement at a time, so the check runs while `unchecked` works.
    const reads = Promise.all([stepHistograms(sql, q, numeric.map((f) => f.name)), stepCategories(sql, q, categorical, this.options.maxCategories), stepPresence(sql, q)]);
    const counted = n === 1 && range.stored !== undefined ? Promise.resolve(new Map([[0, range.stored]])) : stepEventCounts(sql, q);
    // Awaited below; a failure before then must not count as unhandled.
    counted.catch(() => undefined);
    const [histograms, categories, presence] = await reads;
    const steps: BinnedCounts[] = Array.from({ length: n }, () => ({
      inventory: { total: 0, features: [] as FeatureCount[] },
      histograms: new Map(numeric.map((f) => [f.name, new Array<number>(f.edges.length + 1).fill(0)])),
      categories: [],
    }));
    for (let k = 0; k < presence.i.length; k++) {
      const step = steps[presence.i[k]];
      if (!step) continue;
      if (presence.kind[k] === 'events') step.inventory.total += presence.n[k];
      else step.inventory.features.push({ feature: presence.feature[k], kind: presence.kind[k] as FeatureCount['kind'], n: presence.n[k] });
    }
    for (const r of histograms) {
      for (let k = 0; k < r.i.length; k++) {
        const counts = steps[r.i[k]]?.histograms.get(r.feature);
        if (counts && r.bin[k] < counts.length) counts[r.bin[k]] = r.n[k];
      }
    }
    // Features in name order, each by step: every step's list comes out ordered as categoryCounts orders it.
    for (const r of categories) for (let k = 0; k < r.i.length; k++) steps[r.i[k]]?.categories.push({ feature: r.feature, value: r.value[k], n: r.n[k] });
    unchecked?.(steps);
    const stored = await counted;
    let mismatched = 0;
    const out = steps.map((step, i) => {
      if (step.inventory.total === (stored.get(i) ?? 0)) return step;
      mismatched++;
      return null;
    });
    if (tally && mismatched > 0) this.deps.metrics.preaggregateReads.inc({ source: 'raw', reason: 'mismatch' }, mismatched);
    if (tally && n - mismatched > 0) this.deps.metrics.preaggregateReads.inc({ source: 'preaggregates', reason: '' }, n - mismatched);
    return { steps: out, reason: mismatched > 0 ? 'mismatch' : null };
  }

  private raw<T>(reason: RawReason, n: number, value: T = null as T): T {
    if (n > 0) this.deps.metrics.preaggregateReads.inc({ source: 'raw', reason }, n);
    return value;
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }
}
