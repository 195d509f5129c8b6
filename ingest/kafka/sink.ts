import type { Metrics } from '../../core/metrics.ts';
import { planBatch } from '../batcher.ts';
import type { Stream } from '../prepare.ts';

/**
 * The Kafka sink: partition batches hand their encoded rows in and go on (the
 * client fetches the next batch meanwhile); rows collect until a flush
 * inserts them as one, and only then are the offsets they came from
 * committed. This is OpenMeter's flush = insert, then commit, and why it
 * matters here: a partition batch holds a few thousand rows, and the engine
 * spends about twice the CPU an event on parts that small (the insert and
 * the merges after it) as on 50,000-row ones; waiting for each insert also
 * left the engine idle while the next batch was fetched and parsed.
 *
 * Delivery, whatever the timing:
 * - an offset is committed only after every row before it in its partition
 *   is stored: one insert at a time per stream, in arrival order, and a
 *   failed insert is retried (the partition waits) rather than skipped;
 * - on a rebalance `revoke()` drops every row not yet inserted and forbids
 *   the commits still pending; the client re-reads from the committed
 *   offsets, and rows inserted but not committed fold by event id;
 * - memory is bounded: `queuedRows` tells the batch handler when to wait.
 */
export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: string;
}

export interface SinkEntry {
  topic: string;
  partition: number;
  encoded: Uint8Array;
  rows: number;
  /** Committed once the rows are stored; null when the caller commits it itself (with dead letters). */
  commitOffset: string | null;
}

/** `stored`: inserted, and every commit queued before it is done. `dropped`: revoked first. */
export type EntryOutcome = 'stored' | 'dropped';

export interface SinkOptions {
  /** A flush starts once this many rows wait ... */
  flushRows: number;
  /** ... or the oldest waiting row has waited this long. */
  flushIntervalMs: number;
  retry: { initialMs: number; maxMs: number };
}

export interface SinkDeps {
  insert(stream: Stream, bytes: Uint8Array, rows: number): Promise<void>;
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  metrics: Metrics;
  log: { warn: (obj: object, msg: string) => void };
  sleep?: (ms: number) => Promise<void>;
}

interface Queued {
  entry: SinkEntry;
  epoch: number;
  at: number;
  urgent: boolean;
  settle: (outcome: EntryOutcome) => void;
}

interface Lane {
  stream: Stream;
  queue: Queued[];
  rows: number;
  urgent: number;
  running: boolean;
  timer: NodeJS.Timeout | null;
}

/** The highest offset to commit per topic-partition among stored entries. Pure. */
export function commitsFor(entries: readonly SinkEntry[]): TopicPartitionOffset[] {
  const highest = new Map<string, TopicPartitionOffset>();
  for (const e of entries) {
    if (e.commitOffset === null) continue;
    const key = `${e.partition}\u0000${e.topic}`;
    const seen = highest.get(key);
    if (!seen || BigInt(e.commitOffset) > BigInt(seen.offset)) highest.set(key, { topic: e.topic, partition: e.partition, offset: e.commitOffset });
  }
  return [...highest.values()];
}

/** Whether a lane flushes now. Pure. */
export function flushDue(lane: { rows: number; urgent: number; oldestAgeMs: number }, options: Pick<SinkOptions, 'flushRows' | 'flushIntervalMs'>, draining: boolean): boolean {
  return draining || lane.urgent > 0 || lane.rows >= options.flushRows || lane.oldestAgeMs >= options.flushIntervalMs;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class KafkaSink {
  private epoch = 0;
  private draining = false;
  private readonly lanes: Record<Stream, Lane>;
  /** Commits run one after another, in flush order, off the insert path. */
  private commits: Promise<void> = Promise.resolve();
  private progressWaiters: (() => void)[] = [];

  constructor(
    private readonly options: SinkOptions,
    private readonly deps: SinkDeps,
  ) {
    const lane = (stream: Stream): Lane => ({ stream, queue: [], rows: 0, urgent: 0, running: false, timer: null });
    this.lanes = { events: lane('events'), labels: lane('labels') };
  }

  /**
   * Queues one partition batch's rows (rows may be 0: the entry then only
   * carries its offset, in order). `urgent` flushes at once: its caller waits.
   */
  submit(stream: Stream, entry: SinkEntry, urgent = false): Promise<EntryOutcome> {
    const lane = this.lanes[stream];
    return new Promise<EntryOutcome>((settle) => {
      lane.queue.push({ entry, epoch: this.epoch, at: performance.now(), urgent, settle });
      lane.rows += entry.rows;
      if (urgent) lane.urgent++;
      this.schedule(lane);
    });
  }

  /** Rows waiting for a flush (the insert in flight apart). */
  queuedRows(stream: Stream): number {
    return this.lanes[stream].rows;
  }

  /** Settles when the next flush ends (stored or dropped). */
  progress(): Promise<void> {
    return new Promise((r) => this.progressWaiters.push(r));
  }

  /**
   * The partitions may be someone else's now: drop every row not yet
   * inserted, and let no commit queued so far reach the broker.
   */
  revoke(): void {
    this.epoch++;
    for (const lane of Object.values(this.lanes)) {
      const dropped = lane.queue.splice(0);
      lane.rows = 0;
      lane.urgent = 0;
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = null;
      for (const q of dropped) q.settle('dropped');
    }
    this.notify();
  }

  /** Flushes everything queued now and waits for its inserts and commits (a stop). */
  async drain(): Promise<void> {
    this.draining = true;
    try {
      for (const lane of Object.values(this.lanes)) this.schedule(lane);
      while (Object.values(this.lanes).some((l) => l.running || l.queue.length > 0)) await this.progress();
      await this.commits;
    } finally {
      this.draining = false;
    }
  }

  private schedule(lane: Lane): void {
    if (lane.running || lane.queue.length === 0) return;
    const age = performance.now() - lane.queue[0].at;
    if (flushDue({ rows: lane.rows, urgent: lane.urgent, oldestAgeMs: age }, this.options, this.draining)) {
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

  private async run(lane: Lane): Promise<void> {
    lane.running = true;
    try {
      do {
        const take = planBatch(lane.queue.map((q) => q.entry.rows), this.options.flushRows);
        const group = lane.queue.splice(0, take);
        for (const q of group) {
          lane.rows -= q.entry.rows;
          if (q.urgent) lane.urgent--;
        }
        await this.flush(lane.stream, group);
        this.notify();
      } while (lane.queue.length > 0 && flushDue({ rows: lane.rows, urgent: lane.urgent, oldestAgeMs: performance.now() - lane.queue[0].at }, this.options, this.draining));
    } finally {
      lane.running = false;
    }
    this.schedule(lane);
  }

  /** One insert of a group (retried until stored or revoked), then its commit, in order. */
  private async flush(stream: Stream, group: Queued[]): Promise<void> {
    const epoch = group[0].epoch;
    const entries = group.map((q) => q.entry);
    const rows = entries.reduce((n, e) => n + e.rows, 0);
    const topic = entries[0].topic;
    if (rows > 0) {
      const bytes = entries.length === 1 ? entries[0].encoded : Buffer.concat(entries.filter((e) => e.rows > 0).map((e) => e.encoded));
      const stored = await this.insertUntilStored(stream, bytes, rows, entries, epoch);
      if (!stored) {
        for (const q of group) q.settle('dropped');
        return;
      }
      this.deps.metrics.kafkaRows.inc({ topic }, rows);
      this.deps.metrics.ingestItems.inc({ stream, source: 'kafka', outcome: 'accepted' }, rows);
    }
    const offsets = commitsFor(entries);
    this.commits = this.commits.then(async () => {
      if (offsets.length === 0 || epoch !== this.epoch) return;
      try {
        await this.deps.commit(offsets);
        this.deps.metrics.kafkaLastCommit.set(Date.now() / 1000);
      } catch (err) {
        // Not fatal: the rows are stored, and a re-read folds them by event id.
        this.deps.log.warn({ err, offsets }, 'commit failed; those messages will be re-read and deduplicated');
      }
    });
    const committed = this.commits;
    void committed.then(() => {
      for (const q of group) q.settle(epoch === this.epoch ? 'stored' : 'dropped');
    });
  }

  /**
   * Retries with back-off while the rows are still ours. Nothing later in the
   * lane is inserted meanwhile, so the partitions wait (their batch handlers
   * stop once `queuedRows` is full) instead of skipping ahead of a gap.
   */
  private async insertUntilStored(stream: Stream, bytes: Uint8Array, rows: number, entries: readonly SinkEntry[], epoch: number): Promise<boolean> {
    const sleep = this.deps.sleep ?? defaultSleep;
    const partitions = [...new Set(entries.map((e) => `${e.topic}\u0000${e.partition}`))].map((k) => {
      const [topic, partition] = k.split('\u0000');
      return { topic, partition };
    });
    const started = performance.now();
    let wait = this.options.retry.initialMs;
    for (let attempt = 0; ; attempt++) {
      if (epoch !== this.epoch) {
        // Someone else's to store now; this process no longer waits on them.
        if (attempt > 0) for (const p of partitions) this.deps.metrics.kafkaPaused.set(p, 0);
        return false;
      }
      try {
        await this.deps.insert(stream, bytes, rows);
        if (attempt > 0) for (const p of partitions) this.deps.metrics.kafkaPaused.set(p, 0);
        this.deps.metrics.kafkaInsertSeconds.observe({ topic: entries[0].topic }, (performance.now() - started) / 1000);
        return true;
      } catch (err) {
        this.deps.metrics.kafkaRetries.inc({ what: 'store' });
        for (const p of partitions) this.deps.metrics.kafkaPaused.set(p, 1);
        if (attempt === 0 || attempt % 10 === 0) {
          this.deps.log.warn({ err, partitions, rows, attempt }, 'store write failed; partitions paused, retrying');
        }
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
