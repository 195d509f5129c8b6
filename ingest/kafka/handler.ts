import type { EventLimits } from '../../core/event.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { Stream } from '../prepare.ts';
import type { Preparer } from '../preparer.ts';
import type { DeadLetter, MessageIn } from './plan.ts';
import type { KafkaSink } from './sink.ts';

/**
 * The delivery rules, free of any Kafka client: a client adapter hands in one
 * partition's batch with these few callbacks (kafkajs.ts is the one adapter).
 */
export interface BatchContext {
  topic: string;
  partition: number;
  messages: readonly MessageIn[];
  /** False once the partition was revoked or the consumer is stopping: stop retrying. */
  isActive(): boolean;
  /** False once the partition was revoked: its offsets are no longer ours to commit. */
  isAssigned(): boolean;
  heartbeat(): Promise<void>;
}

export interface DeadLetterSink {
  /**
   * Writes dead letters and commits `offset` for the source partition as one
   * unit (a Kafka transaction in kafkajs.ts): a batch re-read after a crash or
   * rebalance can never leave its letters in the dead-letter topic twice.
   */
  sendAndCommit(source: { topic: string; partition: number }, letters: readonly DeadLetter[], offset: string): Promise<void>;
}

export interface HandlerDeps {
  streamOf(topic: string): Stream;
  sink: KafkaSink;
  deadLetters: DeadLetterSink;
  /** Runs the flush plan (parse, validate, encode) off the event loop when it has workers. */
  preparer: Preparer;
  metrics: Metrics;
  limits: () => EventLimits;
  maxMessageBytes: number;
  /** Rows the sink may hold for a stream before batch handlers wait for it (bounded memory). */
  maxQueuedRows: number;
  /** How often a handler that waits sends the group a heartbeat. */
  heartbeatMs: number;
  retry: { initialMs: number; maxMs: number };
  log: { warn: (obj: object, msg: string) => void };
  sleep?: (ms: number) => Promise<void>;
}

/**
 * `handed-off`: the sink has the rows and commits their offset once they are
 * stored; the client may fetch on. `committed`: stored and committed here.
 * `abandoned`: not ours to finish (revoked or stopping); re-read later.
 */
export type BatchOutcome = 'handed-off' | 'committed' | 'abandoned';

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits for `done` while the partition is ours, with heartbeats, so a long
 * wait (the store away) keeps the group membership. False when it stopped
 * being ours first: a failed heartbeat means a rebalance (or the broker
 * gone), and the client must be let go to rejoin.
 */
async function whileOurs<T>(ctx: BatchContext, deps: HandlerDeps, done: Promise<T>): Promise<{ value: T } | null> {
  const settled = done.then((value) => ({ value }));
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const beat = new Promise<null>((r) => (timer = setTimeout(() => r(null), deps.heartbeatMs)));
    const result = await Promise.race([settled, beat]);
    clearTimeout(timer);
    if (result) return result;
    if (!ctx.isActive()) return null;
    try {
      await ctx.heartbeat();
    } catch {
      return null;
    }
  }
}

/**
 * Retries `step` with back-off for as long as the partition is ours. While it
 * waits nothing more is fetched (the client does not get this batch back),
 * so an unreachable dead-letter topic pauses consumption with bounded memory
 * instead of crash-looping; heartbeats keep the group membership.
 */
async function untilDone(ctx: BatchContext, deps: HandlerDeps, step: () => Promise<void>): Promise<boolean> {
  const sleep = deps.sleep ?? defaultSleep;
  let wait = deps.retry.initialMs;
  for (let attempt = 0; ; attempt++) {
    if (!ctx.isActive()) return false;
    try {
      await step();
      if (attempt > 0) deps.metrics.kafkaPaused.set({ topic: ctx.topic, partition: String(ctx.partition) }, 0);
      return true;
    } catch (err) {
      deps.metrics.kafkaRetries.inc({ what: 'dead_letter' });
      deps.metrics.kafkaPaused.set({ topic: ctx.topic, partition: String(ctx.partition) }, 1);
      if (attempt === 0 || attempt % 10 === 0) {
        deps.log.warn({ err, topic: ctx.topic, partition: ctx.partition, attempt }, 'dead-letter write failed; partition paused, retrying');
      }
      await sleep(wait);
      wait = Math.min(deps.retry.maxMs, wait * 2);
      try {
        await ctx.heartbeat();
      } catch {
        // A failed heartbeat means a rebalance: isActive() says so on the next turn.
      }
    }
  }
}

/**
 * One partition's batch. Plan it; a batch without dead letters is handed to
 * the sink, which inserts its rows with others and commits its offset after
 * them, and the handler returns at once (waiting only while the sink is
 * full). A batch with dead letters waits for its rows, then writes the
 * letters and commits its offset in one transaction: the rare path, kept
 * simple and strictly ordered.
 */
export async function handleBatch(ctx: BatchContext, deps: HandlerDeps): Promise<BatchOutcome> {
  if (ctx.messages.length === 0) return 'committed';
  const stream = deps.streamOf(ctx.topic);
  const plan = await deps.preparer.planKafka(stream, ctx.messages, deps.limits(), deps.maxMessageBytes);
  deps.metrics.kafkaMessages.inc({ topic: ctx.topic }, plan.messages);
  if (!ctx.isActive()) return 'abandoned';
  const entry = { topic: ctx.topic, partition: ctx.partition, encoded: plan.encoded, rows: plan.rows };

  if (plan.dead.length === 0) {
    void deps.sink.submit(stream, { ...entry, commitOffset: plan.commitOffset });
    while (deps.sink.queuedRows(stream) >= deps.maxQueuedRows && ctx.isActive()) {
      if (!(await whileOurs(ctx, deps, deps.sink.progress()))) break;
    }
    return 'handed-off';
  }

  // Rows first, and every earlier batch of the partition committed: inserting twice is harmless (rows fold by event id).
  const stored = await whileOurs(ctx, deps, deps.sink.submit(stream, { ...entry, commitOffset: null }, true));
  if (stored?.value !== 'stored' || !ctx.isAssigned()) return 'abandoned';
  // Still ours (even while shutting down): dead letters and the offset together, or neither.
  const source = { topic: ctx.topic, partition: ctx.partition };
  const done = await untilDone(ctx, deps, () => deps.deadLetters.sendAndCommit(source, plan.dead, plan.commitOffset));
  if (!done) return 'abandoned';
  for (const d of plan.dead) deps.metrics.kafkaDeadLetters.inc({ topic: ctx.topic, reason: d.code });
  deps.metrics.kafkaLastCommit.set(Date.now() / 1000);
  return 'committed';
}
