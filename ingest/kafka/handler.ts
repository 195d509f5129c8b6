import type { EventLimits } from '../../core/event.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { InsertBatcher } from '../batcher.ts';
import type { Stream } from '../prepare.ts';
import type { Preparer } from '../preparer.ts';
import type { DeadLetter, MessageIn } from './plan.ts';

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
  commit(offset: string): Promise<void>;
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
  writers: Record<Stream, InsertBatcher>;
  deadLetters: DeadLetterSink;
  /** Runs the flush plan (parse, validate, encode) off the event loop when it has workers. */
  preparer: Preparer;
  metrics: Metrics;
  limits: () => EventLimits;
  maxMessageBytes: number;
  retry: { initialMs: number; maxMs: number };
  log: { warn: (obj: object, msg: string) => void };
  sleep?: (ms: number) => Promise<void>;
}

export type BatchOutcome = 'committed' | 'abandoned';

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Retries `step` with back-off for as long as the partition is ours. While it
 * waits nothing more is fetched for the partition (the client does not get
 * this batch back), so an unreachable store pauses consumption with bounded
 * memory instead of crash-looping; heartbeats keep the group membership.
 */
async function untilDone(ctx: BatchContext, deps: HandlerDeps, what: 'store' | 'dead_letter', step: () => Promise<void>): Promise<boolean> {
  const sleep = deps.sleep ?? defaultSleep;
  let wait = deps.retry.initialMs;
  for (let attempt = 0; ; attempt++) {
    if (!ctx.isActive()) return false;
    try {
      await step();
      if (attempt > 0) deps.metrics.kafkaPaused.set({ topic: ctx.topic, partition: String(ctx.partition) }, 0);
      return true;
    } catch (err) {
      deps.metrics.kafkaRetries.inc({ what });
      deps.metrics.kafkaPaused.set({ topic: ctx.topic, partition: String(ctx.partition) }, 1);
      if (attempt === 0 || attempt % 10 === 0) {
        deps.log.warn({ err, topic: ctx.topic, partition: ctx.partition, attempt }, `${what} write failed; partition paused, retrying`);
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
 * One partition's batch: plan it, insert its rows, then commit the offset
 * after the batch, together with its dead letters when it has any. If the
 * partition is revoked on the way, the batch is dropped uncommitted (its new
 * owner re-reads it; rows already inserted are deduplicated by event id).
 */
export async function handleBatch(ctx: BatchContext, deps: HandlerDeps): Promise<BatchOutcome> {
  if (ctx.messages.length === 0) return 'committed';
  const stream = deps.streamOf(ctx.topic);
  const plan = await deps.preparer.planKafka(stream, ctx.messages, deps.limits(), deps.maxMessageBytes);
  const labels = { topic: ctx.topic };
  deps.metrics.kafkaMessages.inc(labels, plan.messages);

  // Rows first: inserting them twice is harmless (they fold by event id).
  if (plan.rows > 0) {
    const started = performance.now();
    const stored = await untilDone(ctx, deps, 'store', () => deps.writers[stream].add(plan.encoded, plan.rows));
    if (!stored) return 'abandoned';
    deps.metrics.kafkaInsertSeconds.observe(labels, (performance.now() - started) / 1000);
    deps.metrics.kafkaRows.inc(labels, plan.rows);
    deps.metrics.ingestItems.inc({ stream, source: 'kafka', outcome: 'accepted' }, plan.rows);
  }

  // Still ours (even while shutting down): commit, so a stop leaves nothing to re-read.
  if (!ctx.isAssigned()) return 'abandoned';
  if (plan.dead.length > 0) {
    // Dead letters and the offset together, or neither.
    const source = { topic: ctx.topic, partition: ctx.partition };
    const done = await untilDone(ctx, deps, 'dead_letter', () => deps.deadLetters.sendAndCommit(source, plan.dead, plan.commitOffset));
    if (!done) return 'abandoned';
    for (const d of plan.dead) deps.metrics.kafkaDeadLetters.inc({ topic: ctx.topic, reason: d.code });
  } else {
    try {
      await ctx.commit(plan.commitOffset);
    } catch (err) {
      deps.log.warn({ err, topic: ctx.topic, partition: ctx.partition }, 'commit failed; the batch will be re-read and deduplicated');
      return 'abandoned';
    }
  }
  deps.metrics.kafkaLastCommit.set(Date.now() / 1000);
  return 'committed';
}
