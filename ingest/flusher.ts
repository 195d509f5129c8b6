import { settleWithin } from '../core/within.ts';
import { planBatch } from './batcher.ts';
import { rowPieces, type RowBytes } from '../store/sql.ts';
import type { Stream } from './prepare.ts';

/**
 * Flush = insert, then acknowledge (OpenMeter's sink, generalised): callers
 * hand in encoded rows and go on; rows collect per stream until a flush
 * inserts them as one, and only then does `afterStored` run for the entries
 * of that flush (Kafka commits their offsets, the HTTP journal deletes its
 * segments). Large inserts are the point: the engine spends about twice the
 * CPU an event on inserts of a few thousand rows (the insert and the merges
 * of the small parts it leaves) as on 50,000-100,000-row ones.
 *
 * Whatever the timing:
 * - one insert at a time per stream, in arrival order, and a failed insert is
 *   retried (the stream waits) rather than skipped, so `afterStored` has run
 *   for an entry only when every entry before it in its stream is stored;
 * - `revoke()` drops every entry not yet inserted and suppresses
 *   `afterStored` for the insert in flight (a Kafka rebalance);
 * - memory is bounded by the caller, who reads `queuedRows` and waits.
 */
export interface FlushEntry {
  encoded: RowBytes;
  rows: number;
}

/** `stored`: inserted, and `afterStored` done for it and everything before it. `dropped`: revoked first. */
export type EntryOutcome = 'stored' | 'dropped';

export interface FlusherOptions {
  /** A flush starts once this many rows wait ... */
  flushRows: number;
  /** ... or the oldest waiting row has waited this long. */
  flushIntervalMs: number;
  retry: { initialMs: number; maxMs: number };
}

export interface FlusherHooks<E extends FlushEntry> {
  insert(stream: Stream, bytes: RowBytes, rows: number): Promise<void>;
  /** After a flush is stored, one call at a time in flush order; never for a revoked flush. Should not throw. */
  afterStored(stream: Stream, entries: readonly E[]): Promise<void>;
  /** A flush was inserted, `seconds` after its first attempt. */
  inserted?(stream: Stream, entries: readonly E[], rows: number, seconds: number): void;
  /** An insert failed and will be retried. */
  failed?(stream: Stream, entries: readonly E[], err: unknown, attempt: number): void;
  /** The flush that had failed is stored, or was revoked: its entries no longer wait. */
  recovered?(stream: Stream, entries: readonly E[]): void;
  sleep?: (ms: number) => Promise<void>;
}

interface Queued<E> {
  entry: E;
  epoch: number;
  at: number;
  urgent: boolean;
  settle: (outcome: EntryOutcome) => void;
}

interface Lane<E> {
  stream: Stream;
  queue: Queued<E>[];
  rows: number;
  urgent: number;
  running: boolean;
  inFlightRows: number;
  timer: NodeJS.Timeout | null;
  /** The queue's first entries a reader waits for (`settled`): flushed now, not at the interval. */
  hurried: number;
  /** The outcome of the last entry submitted: entries settle in order, so this settles after all of them. */
  last: Promise<EntryOutcome> | null;
}

/** Whether a lane flushes now; `now`: a drain, or a reader waiting (`settled`). Pure. */
export function flushDue(lane: { rows: number; urgent: number; oldestAgeMs: number }, options: Pick<FlusherOptions, 'flushRows' | 'flushIntervalMs'>, now: boolean): boolean {
  return now || lane.urgent > 0 || lane.rows >= options.flushRows || lane.oldestAgeMs >= options.flushIntervalMs;
}

// Unref'd: a retry that waits must not keep a stopping process alive (what it holds is re-read or replayed).
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class Flusher<E extends FlushEntry> {
  private epoch = 0;
  private draining = false;
  private readonly lanes: Record<Stream, Lane<E>>;
  /** `afterStored` runs one call after another, in flush order, off the insert path. */
  private acknowledged: Promise<void> = Promise.resolve();
  private progressWaiters: (() => void)[] = [];
  private submittedEntries = 0;

  constructor(
    private readonly options: FlusherOptions,
    private readonly hooks: FlusherHooks<E>,
  ) {
    const lane = (stream: Stream): Lane<E> => ({ stream, queue: [], rows: 0, urgent: 0, running: false, inFlightRows: 0, timer: null, hurried: 0, last: null });
    this.lanes = { events: lane('events'), labels: lane('labels') };
  }

  /**
   * Queues rows (an entry may hold none: it then only keeps its place in the
   * order for `afterStored`). `urgent` flushes at once: its caller waits.
   */
  submit(stream: Stream, entry: E, urgent = false): Promise<EntryOutcome> {
    const lane = this.lanes[stream];
    this.submittedEntries++;
    const outcome = new Promise<EntryOutcome>((settle) => {
      lane.queue.push({ entry, epoch: this.epoch, at: performance.now(), urgent, settle });
      lane.rows += entry.rows;
      if (urgent) lane.urgent++;
      this.schedule(lane);
    });
    lane.last = outcome;
    return outcome;
  }

  /**
   * Settles once every entry submitted before the call is stored (or was
   * dropped), flushing the waiting ones now instead of at the interval: a
   * reader that must see what was acknowledged before it waits for this.
   */
  async settled(): Promise<void> {
    const waits: Promise<EntryOutcome>[] = [];
    for (const lane of Object.values(this.lanes)) {
      if (lane.last) waits.push(lane.last);
      lane.hurried = lane.queue.length;
      this.schedule(lane);
    }
    await Promise.all(waits);
  }

  /**
   * Entries submitted so far, all streams: a reader's place in ingest's
   * order. Every entry counted by one call is counted by a later one, so a
   * reader whose count is no larger than another's, once that other's
   * `settled` is done, finds everything it must see stored (api/query-gate.ts).
   */
  submitted(): number {
    return this.submittedEntries;
  }

  /** Rows waiting for a flush (the insert in flight apart). */
  queuedRows(stream: Stream): number {
    return this.lanes[stream].rows;
  }

  /** Rows handed in and not yet stored, the insert in flight included. */
  unstoredRows(stream: Stream): number {
    return this.lanes[stream].rows + this.lanes[stream].inFlightRows;
  }

  /** Settles when the next flush ends (stored or dropped). */
  progress(): Promise<void> {
    return new Promise((r) => this.progressWaiters.push(r));
  }

  /** Drops every entry not yet inserted, and runs no `afterStored` for the insert in flight. */
  revoke(): void {
    this.epoch++;
    for (const lane of Object.values(this.lanes)) {
      const dropped = lane.queue.splice(0);
      lane.rows = 0;
      lane.urgent = 0;
      lane.hurried = 0;
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = null;
      for (const q of dropped) q.settle('dropped');
    }
    this.notify();
  }

  /** Flushes everything queued now and waits for its inserts and their `afterStored` (a stop). */
  async drain(): Promise<void> {
    this.draining = true;
    try {
      for (const lane of Object.values(this.lanes)) this.schedule(lane);
      while (Object.values(this.lanes).some((l) => l.running || l.queue.length > 0)) await this.progress();
      await this.acknowledged;
    } finally {
      this.draining = false;
    }
  }

  /**
   * A stop: flushes what is queued for up to `ms`, then revokes the rest, so
   * nothing retries after it (what was not stored is re-read or replayed).
   */
  async stop(ms: number): Promise<void> {
    await settleWithin(this.drain(), ms);
    this.revoke();
  }

  private schedule(lane: Lane<E>): void {
    if (lane.running || lane.queue.length === 0) return;
    const age = performance.now() - lane.queue[0].at;
    if (flushDue({ rows: lane.rows, urgent: lane.urgent, oldestAgeMs: age }, this.options, this.draining || lane.hurried > 0)) {
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = null;
      void this.run(lane);
    } else if (!lane.timer) {
      lane.timer = setTimeout(() => {
        lane.timer = null;
        this.schedule(lane);
      }, Math.max(1, this.options.flushIntervalMs - age));
      lane.timer.unref();
    }
  }

  private async run(lane: Lane<E>): Promise<void> {
    lane.running = true;
    try {
      do {
        const take = planBatch(lane.queue.map((q) => q.entry.rows), this.options.flushRows);
        const group = lane.queue.splice(0, take);
        lane.hurried = Math.max(0, lane.hurried - take);
        for (const q of group) {
          lane.rows -= q.entry.rows;
          if (q.urgent) lane.urgent--;
        }
        await this.flush(lane, group);
        this.notify();
      } while (lane.queue.length > 0 && flushDue({ rows: lane.rows, urgent: lane.urgent, oldestAgeMs: performance.now() - lane.queue[0].at }, this.options, this.draining || lane.hurried > 0));
    } finally {
      lane.running = false;
    }
    this.schedule(lane);
  }

  /** One insert of a group (retried until stored or revoked), then its `afterStored`, in order. */
  private async flush(lane: Lane<E>, group: Queued<E>[]): Promise<void> {
    const stream = lane.stream;
    const epoch = group[0].epoch;
    const entries = group.map((q) => q.entry);
    const rows = entries.reduce((n, e) => n + e.rows, 0);
    if (rows > 0) {
      const bytes = entries.length === 1 ? entries[0].encoded : entries.filter((e) => e.rows > 0).flatMap((e) => rowPieces(e.encoded));
      lane.inFlightRows = rows;
      let stored: boolean;
      try {
        stored = await this.insertUntilStored(stream, bytes, rows, entries, epoch);
      } finally {
        lane.inFlightRows = 0;
      }
      if (!stored) {
        for (const q of group) q.settle('dropped');
        return;
      }
    }
    this.acknowledged = this.acknowledged.then(async () => {
      if (epoch === this.epoch) await this.hooks.afterStored(stream, entries);
    });
    void this.acknowledged.then(() => {
      for (const q of group) q.settle(epoch === this.epoch ? 'stored' : 'dropped');
    });
  }

  /**
   * Retries with back-off while the rows are still wanted. Nothing later in
   * the lane is inserted meanwhile, so the stream waits (its callers stop
   * once `queuedRows` is full) instead of skipping ahead of a gap.
   */
  private async insertUntilStored(stream: Stream, bytes: RowBytes, rows: number, entries: readonly E[], epoch: number): Promise<boolean> {
    const sleep = this.hooks.sleep ?? defaultSleep;
    const started = performance.now();
    let wait = this.options.retry.initialMs;
    for (let attempt = 0; ; attempt++) {
      if (epoch !== this.epoch) {
        if (attempt > 0) this.hooks.recovered?.(stream, entries);
        return false;
      }
      try {
        await this.hooks.insert(stream, bytes, rows);
        if (attempt > 0) this.hooks.recovered?.(stream, entries);
        this.hooks.inserted?.(stream, entries, rows, (performance.now() - started) / 1000);
        return true;
      } catch (err) {
        this.hooks.failed?.(stream, entries, err, attempt);
        await sleep(wait);
        wait = Math.min(this.options.retry.maxMs, wait * 2);
      }
    }
  }

  private notify(): void {
    const waiters = this.progressWaiters.splice(0);
    for (const w of waiters) w();
  }
}
