import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Consumer, type ISocketFactory, type Producer, type SASLOptions } from 'kafkajs';
import type { Metrics } from '../../core/metrics.ts';
import { settleWithin } from '../../core/within.ts';
import type { Writers } from '../writers.ts';
import { registerKafkaCodecs } from './codecs.ts';
import { handleBatch, type DeadLetterSink, type HandlerDeps } from './handler.ts';
import { KafkaSink } from './sink.ts';

/**
 * The kafkajs adapter: everything kafkajs-specific lives here. The delivery
 * rules (handler.ts, plan.ts) see only a batch and a few callbacks, so another
 * client library would replace this file alone.
 */
export interface KafkaIngestOptions {
  brokers: string[];
  clientId: string;
  groupId: string;
  eventsTopics: readonly string[];
  labelsTopics: readonly string[];
  dlqTopic: string;
  partitionsConsumedConcurrently: number;
  maxBytesPerPartition: number;
  /** Partitions for topics driftwatch creates because they are missing. */
  topicPartitions: number;
  sessionTimeoutMs: number;
  /** A flush of buffered rows starts at this many rows or when the oldest has waited this long. */
  flushRows: number;
  flushIntervalMs: number;
  security: KafkaSecurity;
  /** Opens kafkajs' connections instead of its own factory (plain TCP only), e.g. to inject faults in tests. */
  socketFactory?: ISocketFactory;
}

/** How to reach secured brokers: TLS (verified against `ca`, PEM, or the system's CAs; with a client certificate when `cert` and `key` are given) and SASL. */
export interface KafkaSecurity {
  tls: false | { ca?: string; cert?: string; key?: string };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export type ConsumerState = 'starting' | 'running' | 'restarting' | 'stopped';

export interface KafkaIngest {
  state(): ConsumerState;
  stop(timeoutMs?: number): Promise<void>;
}

type Log = HandlerDeps['log'] & { info: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };

export async function startKafkaIngest(
  options: KafkaIngestOptions,
  deps: Omit<HandlerDeps, 'deadLetters' | 'streamOf' | 'log' | 'sink' | 'maxQueuedRows' | 'heartbeatMs'> & { writers: Writers; metrics: Metrics; log: Log },
): Promise<KafkaIngest> {
  registerKafkaCodecs();
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.NOTHING,
    ssl: options.security.tls === false ? false : Object.keys(options.security.tls).length > 0 ? options.security.tls : true,
    // kafkajs types SASL options as a union per mechanism; ours is one shape with the same fields.
    sasl: options.security.sasl as SASLOptions | undefined,
    // Keep trying to reach brokers for a long while before kafkajs gives up (and CRASH restarts it).
    retry: { initialRetryTime: 300, maxRetryTime: 5_000, retries: 12 },
    ...(options.socketFactory ? { socketFactory: options.socketFactory } : {}),
  });
  const admin: Admin = kafka.admin();
  // Transactional, so dead letters and offsets commit together. A fresh id per
  // process: a SIGKILLed process's open transaction then simply times out
  // (after transactionTimeout) instead of fencing its successor.
  const transactionalId = `${options.clientId}-${randomUUID()}`;
  const createProducer = () =>
    kafka.producer({ allowAutoTopicCreation: false, transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 10_000 });
  let producer: Producer = createProducer();
  let producerConnected = false;
  const connectedProducer = async (): Promise<Producer> => {
    if (!producerConnected) {
      await producer.connect();
      producerConnected = true;
    }
    return producer;
  };
  let transactions: Promise<unknown> = Promise.resolve();
  let consumer: Consumer | null = null;
  let state: ConsumerState = 'starting';
  let stopping = false;
  let restartTimer: NodeJS.Timeout | null = null;
  let lagTimer: NodeJS.Timeout | null = null;
  let restartDelay = 1_000;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  /**
   * Dead letters are written once (docs/kafka.md): each transaction first adds
   * the source offset, and only then asks whether that offset is committed
   * already. The coordinator accepts the offset only once this producer's
   * previous transaction is complete, offsets included, so the answer counts
   * every transaction before it: a batch re-read after a rebalance, or a
   * retry after a commit whose answer was lost, finds its letters out and
   * sends none.
   */
  const deadLetters: DeadLetterSink = {
    sendAndCommit(source, letters, offset) {
      // One transaction at a time per producer: partitions take turns.
      const run = transactions.then(async () => {
        const txn = await (await connectedProducer()).transaction();
        let committing = false;
        try {
          const offsets = { consumerGroupId: options.groupId, topics: [{ topic: source.topic, partitions: [{ partition: source.partition, offset }] }] };
          await whenPreviousComplete(() => txn.sendOffsets(offsets));
          if (await committedBeyond(source, offset)) {
            await txn.abort();
            return;
          }
          await txn.send({
            topic: options.dlqTopic,
            acks: -1,
            messages: letters.map((d) => ({
              key: d.key,
              value: d.value,
              headers: {
                'driftwatch-reason': d.reason,
                'driftwatch-reason-code': d.code,
                'driftwatch-source-topic': source.topic,
                'driftwatch-source-partition': String(source.partition),
                'driftwatch-source-offset': d.offset,
                ...(d.index !== undefined ? { 'driftwatch-source-index': String(d.index) } : {}),
              },
            })),
          });
          committing = true;
          await txn.commit();
        } catch (err) {
          const ended = !committing && (await txn.abort().then(() => true, () => false));
          // The outcome is in doubt (a commit whose answer never came may
          // have gone through), and kafkajs' transaction state is stuck
          // after a failed EndTxn: a new producer with the same transactional
          // id, whose InitProducerId waits for that transaction to complete
          // (or aborts it), so the retry's check sees how it ended.
          if (!ended) await renewProducer();
          throw err;
        }
      });
      transactions = run.catch(() => {});
      return run;
    },
  };
  async function renewProducer(): Promise<void> {
    const old = producer;
    producer = createProducer();
    producerConnected = false;
    await old.disconnect().catch(() => {});
  }
  /** Runs `step` again while the coordinator says this producer's previous transaction is still completing. */
  async function whenPreviousComplete(step: () => Promise<void>): Promise<void> {
    for (let wait = 10, attempt = 0; ; wait = Math.min(500, wait * 2), attempt++) {
      try {
        return await step();
      } catch (err) {
        if ((err as { type?: string }).type !== 'CONCURRENT_TRANSACTIONS' || attempt >= 30) throw err;
        await sleep(wait);
      }
    }
  }
  /** Whether the group's committed offset for the partition has reached `offset`. */
  async function committedBeyond(source: { topic: string; partition: number }, offset: string): Promise<boolean> {
    const [topic] = await admin.fetchOffsets({ groupId: options.groupId, topics: [source.topic] });
    const committed = topic?.partitions.find((p) => p.partition === source.partition)?.offset ?? '-1';
    return BigInt(committed) >= BigInt(offset);
  }

  const sink = new KafkaSink(
    { flushRows: options.flushRows, flushIntervalMs: options.flushIntervalMs, retry: deps.retry },
    {
      insert: (stream, bytes, rows) => deps.writers[stream].add(bytes, rows),
      // Always through the consumer of the moment; the sink never commits for an earlier group generation.
      commit: async (offsets) => {
        await consumer?.commitOffsets(offsets);
      },
      metrics: deps.metrics,
      log: deps.log,
      sleep: deps.sleep,
    },
  );
  const labelsTopics = new Set(options.labelsTopics);
  const consumed = [...options.eventsTopics, ...options.labelsTopics];
  const handlerDeps: HandlerDeps = {
    ...deps,
    sink,
    deadLetters,
    streamOf: (topic) => (labelsTopics.has(topic) ? 'labels' : 'events'),
    // Room for a flush being filled while one is inserted; beyond it batch handlers wait.
    maxQueuedRows: 2 * options.flushRows,
    heartbeatMs: Math.max(500, Math.floor(options.sessionTimeoutMs / 10)),
  };

  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const missing = [...consumed, options.dlqTopic].filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: options.topicPartitions })) });
    }
    await connectedProducer();
  } catch (err) {
    // Refused credentials, an untrusted certificate, no broker: start-up fails
    // with kafkajs' reason, and leaves no connection behind.
    await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
    throw err;
  }

  const run = async (): Promise<void> => {
    const c = kafka.consumer({
      groupId: options.groupId,
      maxBytesPerPartition: options.maxBytesPerPartition,
      maxBytes: options.maxBytesPerPartition * Math.max(1, options.partitionsConsumedConcurrently),
      // How long the broker holds a fetch open when it has nothing new (the
      // answer comes as soon as it has). disconnect() waits for the fetch in
      // flight, so kafkajs' 5 s default made every stop take 4.4-4.9 s, close
      // to the 5 s stop() allows for leaving the group. Idle, this is two
      // empty fetches a second per broker.
      maxWaitTimeInMs: 500,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(options.sessionTimeoutMs / 10)),
      allowAutoTopicCreation: false,
    });
    consumer = c;
    c.on(c.events.CRASH, (event) => {
      // kafkajs restarts by itself after retriable errors; after the others it
      // would sit connected but idle, so driftwatch restarts it.
      deps.log.error({ err: event.payload.error, restart: event.payload.restart }, 'kafka consumer crashed');
      if (!event.payload.restart) scheduleRestart();
    });
    // kafkajs has no per-partition revocation callback. After any rejoin it
    // fetches every assigned partition again from its committed offset, so
    // whatever the sink holds is dropped then, assigned or not.
    c.on(c.events.REBALANCING, () => sink.revoke());
    c.on(c.events.GROUP_JOIN, () => {
      sink.revoke();
      state = 'running';
      restartDelay = 1_000;
    });
    await c.connect();
    await c.subscribe({ topics: consumed, fromBeginning: true });
    await c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        const outcome = await handleBatch(
          {
            topic: batch.topic,
            partition: batch.partition,
            messages: batch.messages,
            isActive: () => isRunning() && !isStale() && !stopping,
            isAssigned: () => !isStale(),
            heartbeat,
          },
          handlerDeps,
        );
        // Fetch on past a handed-off batch: the sink commits it once stored.
        if (outcome !== 'abandoned') resolveOffset(batch.lastOffset());
      },
    });
  };

  const scheduleRestart = () => {
    if (stopping || restartTimer) return;
    state = 'restarting';
    deps.metrics.kafkaConsumerRestarts.inc();
    restartTimer = setTimeout(async () => {
      restartTimer = null;
      sink.revoke();
      try {
        await consumer?.disconnect();
      } catch {
        // It is being replaced anyway.
      }
      try {
        await run();
      } catch (err) {
        deps.log.error({ err }, 'kafka consumer restart failed');
        restartDelay = Math.min(30_000, restartDelay * 2);
        scheduleRestart();
      }
    }, restartDelay);
  };

  const updateLag = async () => {
    try {
      for (const topic of consumed) {
        const [ends, committed] = await Promise.all([
          admin.fetchTopicOffsets(topic),
          admin.fetchOffsets({ groupId: options.groupId, topics: [topic] }),
        ]);
        const done = new Map(committed[0]?.partitions.map((p) => [p.partition, BigInt(p.offset)]) ?? []);
        for (const p of ends) {
          const end = BigInt(p.high);
          const at = done.get(p.partition) ?? -1n;
          const lag = at < 0n ? end - BigInt(p.low) : end - at;
          deps.metrics.kafkaLag.set({ topic, partition: String(p.partition) }, Number(lag > 0n ? lag : 0n));
        }
      }
    } catch {
      // Lag is best effort: the broker may be away, which other metrics show.
    }
  };

  await run();
  lagTimer = setInterval(() => void updateLag(), 10_000);
  lagTimer.unref();

  return {
    state: () => state,
    async stop(timeoutMs = 10_000) {
      stopping = true;
      state = 'stopped';
      if (restartTimer) clearTimeout(restartTimer);
      if (lagTimer) clearInterval(lagTimer);
      // Stop fetching, store and commit what the sink holds (kafkajs drops
      // commits once it is stopping), then leave the group; disconnect() lets
      // the batch in hand finish, which finds `stopping` and gives it back.
      // Half the time for each: leaving matters even when the store is away.
      try {
        consumer?.pause(consumed.map((topic) => ({ topic })));
      } catch {
        // Not running (between restarts): nothing is being fetched.
      }
      // Whatever could not be stored in time is re-read by the next owner.
      await sink.stop(timeoutMs / 2);
      await settleWithin(
        (async () => {
          await consumer?.disconnect();
          await producer.disconnect();
          await admin.disconnect();
        })(),
        timeoutMs / 2,
      );
    },
  };
}
