import type { Metrics } from '../../core/metrics.ts';
import { Flusher, type FlushEntry, type FlusherOptions } from '../flusher.ts';
import type { Stream } from '../prepare.ts';
import type { RowBytes } from '../../store/sql.ts';

/**
 * The Kafka sink: partition batches hand their rows to a flusher
 * (ingest/flusher.ts) and the client fetches on; once a flush is stored, the
 * offsets its batches came from are committed. A partition's offset is thus
 * committed only when every row before it is stored. On a rebalance
 * `revoke()` drops what is not inserted yet and lets no pending commit reach
 * the broker; the client re-reads from the committed offsets, and rows
 * inserted but not committed fold by event id.
 */
export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: string;
}

export interface SinkEntry extends FlushEntry {
  topic: string;
  partition: number;
  /** Committed once the rows are stored; null when the caller commits it itself (with dead letters). */
  commitOffset: string | null;
}

export type SinkOptions = FlusherOptions;

export interface SinkDeps {
  insert(stream: Stream, bytes: RowBytes, rows: number): Promise<void>;
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  metrics: Metrics;
  log: { warn: (obj: object, msg: string) => void };
  sleep?: (ms: number) => Promise<void>;
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

const partitionsOf = (entries: readonly SinkEntry[]) =>
  [...new Map(entries.map((e) => [`${e.topic}\u0000${e.partition}`, { topic: e.topic, partition: String(e.partition) }])).values()];

export class KafkaSink extends Flusher<SinkEntry> {
  constructor(options: SinkOptions, deps: SinkDeps) {
    const { metrics, log } = deps;
    super(options, {
      insert: deps.insert,
      sleep: deps.sleep,
      async afterStored(_stream, entries) {
        const offsets = commitsFor(entries);
        if (offsets.length === 0) return;
        try {
          await deps.commit(offsets);
          metrics.kafkaLastCommit.set(Date.now() / 1000);
        } catch (err) {
          // Not fatal: the rows are stored, and a re-read folds them by event id.
          log.warn({ err, offsets }, 'commit failed; those messages will be re-read and deduplicated');
        }
      },
      inserted(stream, entries, rows, seconds) {
        const topic = entries[0].topic;
        metrics.kafkaRows.inc({ topic }, rows);
        metrics.ingestItems.inc({ stream, source: 'kafka', outcome: 'accepted' }, rows);
        metrics.kafkaInsertSeconds.observe({ topic }, seconds);
      },
      failed(_stream, entries, err, attempt) {
        metrics.kafkaRetries.inc({ what: 'store' });
        const partitions = partitionsOf(entries);
        for (const p of partitions) metrics.kafkaPaused.set(p, 1);
        if (attempt === 0 || attempt % 10 === 0) log.warn({ err, partitions, attempt }, 'store write failed; partitions paused, retrying');
      },
      recovered(_stream, entries) {
        for (const p of partitionsOf(entries)) metrics.kafkaPaused.set(p, 0);
      },
    });
  }
}
