import { randomUUID } from 'node:crypto';
import { backoffMs } from './backoff.js';
import { HttpTransport } from './http.js';
import { KafkaTransport } from './kafka.js';
import { Prediction, type PredictionInput } from './prediction.js';
import { BoundedQueue, type Item } from './queue.js';
import type { Transport } from './transport.js';
import type { ClientOptions, ClientStats, DropReason, PredictionEvent, Stream, StreamStats } from './types.js';

type Settings = Required<Omit<ClientOptions, 'url' | 'apiKey' | 'kafka' | 'onRejected' | 'onDropped' | 'onRetry'>>;

const DEFAULTS: Settings = {
  maxBatchItems: 500,
  flushIntervalMs: 1_000,
  maxBatchBytes: 4 * 1024 * 1024,
  maxQueueItems: 100_000,
  overflow: 'drop_oldest',
  maxConcurrency: 2,
  requestTimeoutMs: 10_000,
  retryInitialMs: 200,
  retryMaxMs: 10_000,
  gzipLevel: 1,
  flushOnExit: true,
};
// driftwatch's consumer refuses messages over KAFKA_MAX_MESSAGE_BYTES (1 MiB by default).
const KAFKA_MAX_BATCH_BYTES = 900 * 1024;

const zeroDrops = (): Record<DropReason, number> => ({ queue_full: 0, closed: 0, close_timeout: 0, unserializable: 0 });
const newStats = (): Omit<StreamStats, 'queued' | 'inFlight'> => ({ sent: 0, rejected: 0, dropped: zeroDrops() });

/** A batch being sent: its items, and whether it is settled (answered, or given up). */
interface Batch {
  stream: Stream;
  items: Item[];
}

/**
 * Sends prediction events and labels to driftwatch from the service that
 * makes the predictions. `log()` and `label()` only queue (a JSON.stringify
 * and an array slot); batches go out in the background, by count and by
 * time, with at most `maxConcurrency` requests in flight. Failures that may
 * pass (503, network) are retried with back-off; what the service refuses
 * is reported, never retried; what the SDK must give up (a full queue, a
 * close that ran out of time) is counted and reported. Nothing is lost
 * without a callback and a counter saying so.
 */
export class DriftwatchClient {
  private readonly settings: Settings;
  private readonly transport: Transport;
  private readonly queues: Record<Stream, BoundedQueue>;
  private readonly counts = { events: newStats(), labels: newStats() };
  private readonly inFlight = new Set<Batch>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private wake: NodeJS.Immediate | null = null;
  /** No new batch starts before this (epoch ms): the shared back-off after a failure. */
  private resumeAt = 0;
  private failing = 0;
  private retries = 0;
  private lastError: string | null = null;
  /** Send what is queued now rather than waiting for full batches (flush, close). */
  private draining = 0;
  private closed = false;
  private readonly idle = new Set<() => void>();
  /** The event loop ran empty (the program is done): send what is left, within the time limit, then let go. */
  private readonly onExit = () => void this.close();

  constructor(private readonly options: ClientOptions) {
    if (!options.kafka && !options.url) throw new TypeError('DriftwatchClient needs `url` (or `kafka` to produce to Kafka instead)');
    this.settings = { ...DEFAULTS, ...(options.kafka ? { maxBatchBytes: KAFKA_MAX_BATCH_BYTES } : {}), ...definedOnly(options) };
    const s = this.settings;
    for (const key of ['maxBatchItems', 'maxQueueItems', 'maxConcurrency', 'maxBatchBytes'] as const) {
      if (!Number.isInteger(s[key]) || s[key] < 1) throw new RangeError(`${key} must be a positive integer (got ${s[key]})`);
    }
    if (!(s.gzipLevel >= 1 && s.gzipLevel <= 9)) throw new RangeError(`gzipLevel must be 1 to 9 (got ${s.gzipLevel})`);
    if (s.overflow !== 'drop_oldest' && s.overflow !== 'drop_newest') throw new RangeError(`overflow must be drop_oldest or drop_newest (got ${s.overflow})`);
    this.transport = options.kafka
      ? new KafkaTransport(options.kafka)
      : new HttpTransport({ url: options.url!, apiKey: options.apiKey, requestTimeoutMs: s.requestTimeoutMs, gzipLevel: s.gzipLevel });
    this.queues = { events: new BoundedQueue(s.maxQueueItems), labels: new BoundedQueue(s.maxQueueItems) };
    // The timer is unref'd so that a client never keeps a process alive;
    // beforeExit (an empty event loop) sends what is left instead.
    if (s.flushOnExit) process.on('beforeExit', this.onExit);
  }

  /** Queues a prediction event and returns its event_id (generated when absent). Never throws, never waits. */
  log(event: PredictionEvent): string {
    const id = event.event_id ?? randomUUID();
    const full = event.event_id !== undefined && event.timestamp !== undefined ? event : { ...event, event_id: id, timestamp: event.timestamp ?? Date.now() };
    this.enqueue('events', id, full);
    return id;
  }

  /** Queues the ground truth for an earlier event. Never throws, never waits. */
  label(eventId: string, model: string, label: number | string, timestamp?: number | string): void {
    this.enqueue('labels', eventId, timestamp === undefined ? { event_id: eventId, model, label } : { event_id: eventId, model, label, timestamp });
  }

  /** Starts timing one prediction; `.ok(prediction)` or `.fail(error)` logs it with its latency. */
  begin(input: PredictionInput): Prediction {
    return new Prediction(this, input);
  }

  /**
   * Runs a model call and logs it: the event's timestamp is the call's
   * start, latency_ms its duration, the prediction `toPrediction(result)`
   * (the result itself by default). A call that throws is logged as a
   * failed prediction (status "error", error_type the error's name) and
   * the error thrown on.
   */
  async timed<T>(input: PredictionInput, call: () => T | Promise<T>, toPrediction?: (result: T) => { prediction: number | string; scores?: Record<string, number> } | number | string): Promise<T> {
    const prediction = this.begin(input);
    let result: T;
    try {
      result = await call();
    } catch (err) {
      prediction.fail(err);
      throw err;
    }
    const out = toPrediction ? toPrediction(result) : (result as unknown as number | string);
    if (typeof out === 'object' && out !== null) prediction.ok(out.prediction, out.scores);
    else prediction.ok(out);
    return result;
  }

  /** Sends everything queued now and waits for it, up to `timeoutMs`; true when nothing is left. */
  async flush(timeoutMs = 10_000): Promise<boolean> {
    this.draining++;
    try {
      this.pump();
      return await this.whenIdle(timeoutMs);
    } finally {
      this.draining--;
    }
  }

  /**
   * Stops taking items, sends what is queued within `timeoutMs`, then gives
   * up on the rest (counted as dropped, close_timeout) and releases the
   * connections. True when everything was sent.
   */
  async close(timeoutMs = 10_000): Promise<boolean> {
    if (this.closed) return this.whenIdle(0);
    this.closed = true;
    process.off('beforeExit', this.onExit);
    const done = await this.flush(timeoutMs);
    this.abort.abort();
    for (const stream of ['events', 'labels'] as const) this.drop(stream, 'close_timeout', this.queues[stream].drain());
    for (const batch of this.inFlight) this.drop(batch.stream, 'close_timeout', batch.items);
    this.inFlight.clear();
    if (this.timer) clearTimeout(this.timer);
    if (this.wake) clearImmediate(this.wake);
    await this.transport.close();
    return done;
  }

  stats(): ClientStats {
    const inFlight = { events: 0, labels: 0 };
    for (const batch of this.inFlight) inFlight[batch.stream] += batch.items.length;
    const stream = (s: Stream): StreamStats => ({
      queued: this.queues[s].length,
      inFlight: inFlight[s],
      sent: this.counts[s].sent,
      rejected: this.counts[s].rejected,
      dropped: { ...this.counts[s].dropped },
    });
    return { events: stream('events'), labels: stream('labels'), retries: this.retries, failing: this.failing, lastError: this.lastError };
  }

  private enqueue(stream: Stream, id: string, item: object): void {
    if (this.closed) return this.drop(stream, 'closed', [{ id, json: '' }]);
    let json: string;
    try {
      json = JSON.stringify(item);
    } catch {
      return this.drop(stream, 'unserializable', [{ id, json: '' }]);
    }
    const lost = this.queues[stream].push({ id, json }, this.settings.overflow);
    if (lost) this.drop(stream, 'queue_full', [lost]);
    const length = this.queues[stream].length;
    // A full batch goes out on the next turn of the event loop, not inside the caller's call.
    if (length >= this.settings.maxBatchItems) this.schedule();
    else if (length === 1 && !this.timer) this.timer = setTimeout(() => ((this.timer = null), this.pump(true)), this.settings.flushIntervalMs).unref();
  }

  private schedule(): void {
    this.wake ??= setImmediate(() => ((this.wake = null), this.pump()));
  }

  /** Starts batches while there are request slots, and items that are due (a full batch, the interval passed, a flush). */
  private pump(due = false): void {
    if (this.abort.signal.aborted) return;
    const wait = this.resumeAt - Date.now();
    if (wait > 0) {
      if (!this.timer) this.timer = setTimeout(() => ((this.timer = null), this.pump(true)), wait).unref();
      return;
    }
    const s = this.settings;
    for (const stream of ['events', 'labels'] as const) {
      const queue = this.queues[stream];
      while (this.inFlight.size < s.maxConcurrency && queue.length > 0 && (due || this.draining > 0 || queue.length >= s.maxBatchItems)) {
        void this.send({ stream, items: queue.take(s.maxBatchItems, s.maxBatchBytes) });
      }
    }
    if (!this.timer && (this.queues.events.length > 0 || this.queues.labels.length > 0)) {
      this.timer = setTimeout(() => ((this.timer = null), this.pump(true)), s.flushIntervalMs).unref();
    }
    this.checkIdle();
  }

  /** One batch until it is settled: answered, refused, or given up at close. */
  private async send(batch: Batch): Promise<void> {
    this.inFlight.add(batch);
    const { stream, items } = batch;
    try {
      for (;;) {
        const wait = this.resumeAt - Date.now();
        if (wait > 0) await sleep(wait, this.abort.signal);
        if (this.abort.signal.aborted) return; // counted as dropped by close()
        let result;
        try {
          result = await this.transport.send(stream, items.map((i) => i.json), this.abort.signal);
        } catch (err) {
          result = { kind: 'retry' as const, reason: (err as Error).message, retryAfterMs: null };
        }
        if (this.abort.signal.aborted) return;
        if (result.kind === 'retry') {
          this.failing++;
          this.retries++;
          this.lastError = result.reason;
          const delayMs = backoffMs(this.failing, this.settings.retryInitialMs, this.settings.retryMaxMs, result.retryAfterMs);
          this.resumeAt = Math.max(this.resumeAt, Date.now() + delayMs);
          this.options.onRetry?.({ stream, reason: result.reason, delayMs });
          continue;
        }
        this.failing = 0;
        if (result.kind === 'refused') {
          this.counts[stream].rejected += items.length;
          for (const item of items) this.reject(stream, item, result.reason, result.status);
        } else {
          this.counts[stream].rejected += result.rejected.length;
          this.counts[stream].sent += items.length - result.rejected.length;
          for (const r of result.rejected) if (items[r.index]) this.reject(stream, items[r.index], r.reason);
        }
        return;
      }
    } finally {
      if (this.inFlight.delete(batch)) this.pump();
    }
  }

  private reject(stream: Stream, item: Item, reason: string, status?: number): void {
    if (!this.options.onRejected) return;
    callback(() => this.options.onRejected!({ stream, item: JSON.parse(item.json), reason, ...(status !== undefined ? { status } : {}) }));
  }

  private drop(stream: Stream, reason: DropReason, items: Item[]): void {
    if (items.length === 0) return;
    this.counts[stream].dropped[reason] += items.length;
    if (this.options.onDropped) callback(() => this.options.onDropped!({ stream, reason, ids: items.map((i) => i.id) }));
  }

  private whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        clearTimeout(timer);
        this.idle.delete(onIdle);
        resolve(idle);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.idle.add(onIdle);
    });
  }

  private isIdle(): boolean {
    return this.inFlight.size === 0 && this.queues.events.length === 0 && this.queues.labels.length === 0;
  }

  private checkIdle(): void {
    if (this.idle.size > 0 && this.isIdle()) for (const resolve of [...this.idle]) resolve();
  }
}

/** A user's callback that throws must not break the client, nor the service it runs in. */
function callback(run: () => void): void {
  try {
    run();
  } catch {
    // the callback's own bug; the counters still hold what happened
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // Unref'd: a back-off never keeps the process alive (beforeExit closes the client then).
    const timer = setTimeout(done, ms).unref();
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function definedOnly(options: ClientOptions): Partial<Settings> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (v !== undefined && k in DEFAULTS) out[k] = v;
  return out as Partial<Settings>;
}
