import type { Metrics } from '../core/metrics.ts';
import { deleteBaseline, setActiveBaseline } from '../store/baselines.ts';
import { recordRefreeze, rolledBeyond, rollingPolicies, type Refreeze, type RollingPolicy } from '../store/baseline-rolling.ts';
import type { Sql } from '../store/sql.ts';
import { EmptyRangeError, freezeBaseline, freezeSegmentBaselines, type BaselineOptions } from './baseline.ts';

export interface RollingDeps {
  sql: Sql;
  metrics: Metrics;
  log: { info: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
  now?: () => number;
  /** Settles once the rows ingest acknowledged before the call are stored (journaled ingest). */
  settled?: () => Promise<unknown>;
}

export interface RollingOptions {
  baseline: BaselineOptions;
  maxSegments: number;
  /**
   * Longest the scheduler sleeps between looks at the policies: a policy
   * set through this service's API wakes it at once (poke); one written into
   * a shared server store by another instance is seen within this.
   */
  pollMs: number;
}

/** When a policy's next refreeze is due: at once when set (or changed), then every period after the last. */
export const dueAt = (p: RollingPolicy & { last_refreeze: number | null }) => (p.last_refreeze === null ? p.updated_at : p.last_refreeze + p.every_ms);

// After a pass that failed as a whole (the store away), the next look waits this long rather than spinning.
const RETRY_MS = 1_000;

/**
 * Rolling baselines: for every model with a policy (PUT
 * /v1/models/{model}/baselines/rolling, kept in the store so it survives
 * restarts), freezes a baseline from the `lookback` before now every
 * `every`, makes it the active one, records the refreeze (failed ones too,
 * with their reason) and deletes rolled baselines beyond the newest `keep`.
 * A refreeze missed while the service was down runs once at start, not once
 * per missed period.
 */
export class RollingBaselines {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private again = false;
  private closed = false;

  constructor(
    private readonly deps: RollingDeps,
    private readonly options: RollingOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** A policy changed: look at the policies now rather than at the next planned look. */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.schedule(0);
  }

  /** Runs every refreeze that is due; returns them and when the next one is due (Infinity: no policy). */
  async runDue(): Promise<{ refreezes: Refreeze[]; next: number }> {
    const refreezes: Refreeze[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const policy of await rollingPolicies(this.deps.sql)) {
      if (this.closed) break;
      if (dueAt(policy) <= this.now()) {
        const done = await this.refreeze(policy);
        refreezes.push(done);
        next = Math.min(next, done.at + policy.every_ms);
      } else {
        next = Math.min(next, dueAt(policy));
      }
    }
    return { refreezes, next };
  }

  /** Refreezes one model's baseline now, whatever its schedule, and records the outcome. */
  async refreeze(policy: RollingPolicy): Promise<Refreeze> {
    const { sql } = this.deps;
    const at = this.now();
    const window = { model: policy.model, from: at - policy.lookback_ms, to: at };
    let record: Refreeze;
    try {
      await this.deps.settled?.();
      const as = { store: true, name: policy.name, rolled: true };
      const baseline = await freezeBaseline(sql, window, this.options.baseline, null, as);
      if (policy.segment_by) await freezeSegmentBaselines(sql, baseline, policy.segment_by, this.options.maxSegments, this.options.baseline, as);
      await setActiveBaseline(sql, policy.model, baseline.baseline_id, at);
      for (const old of await rolledBeyond(sql, policy.model, policy.keep, baseline.baseline_id)) await deleteBaseline(sql, policy.model, old);
      record = { model: policy.model, at, outcome: 'ok', baseline_id: baseline.baseline_id, from: window.from, to: window.to, n_events: baseline.n_events, reason: '' };
      this.deps.log.info({ model: policy.model, baseline: baseline.baseline_id, n_events: baseline.n_events }, 'rolling baseline refrozen');
    } catch (err) {
      const reason = err instanceof EmptyRangeError ? err.message : `the refreeze failed: ${String((err as Error)?.message ?? err).split('\n')[0].slice(0, 300)}`;
      if (!(err instanceof EmptyRangeError)) this.deps.log.error({ err, model: policy.model }, 'rolling baseline refreeze failed');
      record = { model: policy.model, at, outcome: 'failed', baseline_id: null, from: window.from, to: window.to, n_events: 0, reason };
    }
    await recordRefreeze(sql, record);
    this.deps.metrics.baselineRefreezes.inc({ outcome: record.outcome });
    return record;
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => this.tick(), Math.max(0, Math.min(delayMs, this.options.pollMs)));
  }

  private tick(): void {
    this.timer = null;
    let delay = this.options.pollMs;
    this.running = (async () => {
      do {
        this.again = false;
        try {
          const { next } = await this.runDue();
          delay = next - this.now();
        } catch (err) {
          this.deps.log.error({ err }, 'rolling baselines could not be read');
          delay = RETRY_MS;
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = null;
      if (!this.stopped) this.schedule(delay);
    });
  }
}
