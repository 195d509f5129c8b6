import type { Metrics } from '../../core/metrics.ts';
import { listShadowModels, shadowModelBytes, type ShadowRecord } from '../../store/shadow-models.ts';
import {
  insertShadowPredictions,
  unscoredEvents,
  type Range,
  type ShadowKey,
  type ShadowPredictionRow,
} from '../../store/shadow-predictions.ts';
import type { Sql } from '../../store/sql.ts';
import { loadModel, type LoadedModel } from './model.ts';

export interface ScorerOptions {
  /** Share of events re-scored when a registration does not say. */
  defaultSampleShare: number;
  /** Rows per onnxruntime run. */
  batchRows: number;
  /** How often the live pass runs; 0 turns it off (windows are still scored before their report). */
  intervalMs: number;
  /**
   * The live pass follows arrival (ingested_at), not event time: each pass
   * takes what was stored since the previous one began, less this overlap
   * (inserts in flight, clock skew to a ClickHouse server).
   */
  overlapMs: number;
  /** Event-time span the live pass covers: events stamped older than this when they arrive wait for their window's report. */
  lookbackMs: number;
  /** Event-time allowance into the future (MAX_FUTURE_SKEW). */
  futureMs: number;
  threads: number;
}

export interface ScorerDeps {
  sql: Sql;
  metrics: Metrics;
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
  now?: () => number;
}

interface Live {
  record: ShadowRecord;
  model: LoadedModel;
  /** When the last live pass that succeeded began (epoch ms, arrival time). */
  cursor: number;
}

// Events read per query: each query scans the range again, so not too few; held in memory, so not too many.
const QUERY_ROWS = 65_536;

const liveId = (r: ShadowRecord) => `${r.model}\u0000${r.name}\u0000${r.revision}`;

export const keyOf = (r: ShadowRecord): ShadowKey => ({ model: r.model, shadow: r.name, revision: r.revision });
export const sampleShareOf = (r: ShadowRecord, fallback: number) => r.spec.sample_share ?? fallback;

/** The features a registration reads from events. */
const featuresOf = (r: ShadowRecord) => [...new Set(r.spec.inputs.flatMap((i) => i.columns.map((c) => c.feature)))];

/**
 * Re-scores sampled events through the registered shadow models, off the
 * ingest path: it reads stored events back from the store, so ingest never
 * waits for a model, and what is scored is decided by the store's contents
 * (idempotent, restart-safe) rather than by an in-memory queue. Predictions
 * go to shadow_predictions next to the events they belong to.
 */
export class ShadowScorer {
  private readonly live = new Map<string, Live>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly deps: ScorerDeps,
    private readonly options: ScorerOptions,
  ) {}

  start(): void {
    this.stopped = false;
    if (this.options.intervalMs > 0) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    for (const entry of this.live.values()) await entry.model.close();
    this.live.clear();
  }

  /** Brings the loaded models in line with the registrations in the store; returns the live ones. */
  async refresh(): Promise<ShadowRecord[]> {
    const records = await listShadowModels(this.deps.sql);
    const wanted = new Set(records.map(liveId));
    for (const [id, entry] of this.live) {
      if (!wanted.has(id)) {
        this.live.delete(id);
        await entry.model.close();
      }
    }
    for (const record of records) {
      const id = liveId(record);
      if (this.live.has(id)) continue;
      try {
        // Replaced between the listing and now: the next refresh loads the new revision.
        const bytes = await shadowModelBytes(this.deps.sql, record);
        if (!bytes) continue;
        const model = await loadModel(bytes, { threads: this.options.threads });
        this.live.set(id, { record, model, cursor: 0 });
      } catch (err) {
        // Checked at registration, so this is a broken store or runtime: say so and try again next pass.
        this.deps.metrics.shadowFailures.inc({ stage: 'load' });
        this.deps.log.error({ err, model: record.model, shadow: record.name }, 'shadow model failed to load');
      }
    }
    return [...this.live.values()].map((e) => e.record);
  }

  /** The input and output signature of a loaded registration. */
  graphOf(record: ShadowRecord): LoadedModel['graph'] | null {
    return this.live.get(liveId(record))?.model.graph ?? null;
  }

  /**
   * Scores the sampled events of `range` this revision has not scored yet,
   * at most `limit`, through `sql` when given (the API's, bounded per
   * request); returns how many it stored (skips included).
   */
  async scoreRange(record: ShadowRecord, range: Range & { ingestedSince?: number }, limit = Number.POSITIVE_INFINITY, sql = this.deps.sql): Promise<number> {
    const entry = this.live.get(liveId(record));
    if (!entry) throw new Error(`shadow "${record.name}" of model "${record.model}" is not loaded`);
    const key = keyOf(record);
    const share = sampleShareOf(record, this.options.defaultSampleShare);
    if (share <= 0) return 0;
    const features = featuresOf(record);
    let stored = 0;
    while (stored < limit && !this.stopped) {
      const want = Math.min(QUERY_ROWS, limit - stored);
      const events = await unscoredEvents(sql, key, range, share, features, want);
      // Runs of batchRows, one insert for the lot: small inserts cost the store far more than scoring does.
      const rows: ShadowPredictionRow[] = [];
      for (let at = 0; at < events.length; at += this.options.batchRows) {
        const chunk = events.slice(at, at + this.options.batchRows);
        const started = performance.now();
        const results = await entry.model.score(record.spec, chunk);
        chunk.forEach((event, i) => {
          const r = results[i];
          rows.push(
            r.ok
              ? { event_id: event.event_id, ts: event.ts_ms, status: 'ok', score: r.prediction.score, class: r.prediction.cls }
              : { event_id: event.event_id, ts: event.ts_ms, status: r.reason, score: null, class: null },
          );
        });
        this.deps.metrics.shadowBatchSeconds.observe((performance.now() - started) / 1000);
      }
      await insertShadowPredictions(sql, key, rows);
      const outcomes = new Map<string, number>();
      for (const row of rows) outcomes.set(row.status, (outcomes.get(row.status) ?? 0) + 1);
      for (const [outcome, n] of outcomes) this.deps.metrics.shadowRows.inc({ model: record.model, shadow: record.name, outcome }, n);
      stored += rows.length;
      if (events.length < want) break;
    }
    return stored;
  }

  /** One live pass: every registration scores the sampled events that arrived since its previous pass. */
  async pass(): Promise<void> {
    await this.refresh();
    const began = this.now();
    const range = { from: began - this.options.lookbackMs, to: began + this.options.futureMs };
    for (const entry of this.live.values()) {
      if (this.stopped) return;
      try {
        await this.scoreRange(entry.record, { ...range, ingestedSince: entry.cursor - this.options.overlapMs });
        entry.cursor = began;
      } catch (err) {
        this.deps.metrics.shadowFailures.inc({ stage: 'score' });
        this.deps.log.error({ err, model: entry.record.model, shadow: entry.record.name }, 'shadow scoring pass failed');
      }
    }
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .catch((err) => {
          this.deps.metrics.shadowFailures.inc({ stage: 'score' });
          this.deps.log.error({ err }, 'shadow scoring pass failed');
        })
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.schedule(this.options.intervalMs);
        });
    }, delayMs);
  }
}
