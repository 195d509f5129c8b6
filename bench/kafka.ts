/**
 * Kafka ingest throughput: end to end from a pre-filled topic of N events
 * (20 features each) to rows stored in the embedded store, next to a consumer
 * that does nothing with the messages (the ceiling kafkajs allows here) and
 * the store's raw insert rate, all in the same run; once with one event per
 * message and once with 100-event array messages.
 *
 *   npm run bench:kafka -- [events=1000000]
 *   BENCH_COMPRESSION=lz4 npm run bench:kafka   # the topic's compression.type: gzip, snappy, lz4 or zstd
 *   BENCH_SECURITY=sasl_ssl npm run bench:kafka  # both consumers over TLS with SCRAM-SHA-512 (the topic is filled in plaintext)
 */
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { startService } from '../cli/service.ts';
import { registerKafkaCodecs } from '../ingest/kafka/codecs.ts';
import { encodeEvents, EVENT_COLUMNS } from '../store/events.ts';
import { openStore } from '../store/open.ts';
import { testConfig } from '../test/helpers.ts';
import { scratchDir } from './scratch.ts';
import { createTopics, startBroker, unique } from '../test/kafka-helpers.ts';
import { cpuPerEvent, machinePerEvent, machineTicks, threadTicks } from './threads.ts';
import { makeEvents, makeRows } from './workload.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const PARTITIONS = 6;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
// The sink's flush settings can be varied from the environment (defaults otherwise).
const tuning = Object.fromEntries(['KAFKA_FLUSH_ROWS', 'KAFKA_FLUSH_INTERVAL'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])));
// The broker recompresses every batch to the topic's compression.type (Java's codecs), as a producer would.
const compression = process.env.BENCH_COMPRESSION ?? 'uncompressed';
const secure = process.env.BENCH_SECURITY === 'sasl_ssl';
const USER = { name: 'bench', password: 'bench-secret' };
const broker = await startBroker(secure ? { secure: { users: { [USER.name]: USER.password } } } : {});
registerKafkaCodecs(); // the do-nothing consumer decodes the same batches
// Where the two consumers connect, and how.
const consumeFrom: { brokers: string[]; kafkajs: object; config: Record<string, string> } = secure
  ? {
      brokers: broker.secureBrokers,
      kafkajs: { ssl: { ca: [readFileSync(broker.caFile, 'utf8')] }, sasl: { mechanism: 'scram-sha-512' as const, username: USER.name, password: USER.password } },
      config: { KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: broker.caFile, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: USER.name, KAFKA_SASL_PASSWORD: USER.password },
    }
  : { brokers: broker.brokers, kafkajs: {}, config: {} };

async function fill(topic: string, perMessage: number): Promise<void> {
  const producer = broker.kafka.producer();
  await producer.connect();
  const chunk = 50_000;
  for (let offset = 0; offset < total; offset += chunk) {
    const events = makeEvents(Math.min(chunk, total - offset), { prefix: `${topic}-${offset}-`, start: Date.now() - 3_600_000 });
    const values: string[] = [];
    for (let i = 0; i < events.length; i += perMessage) {
      values.push(perMessage === 1 ? JSON.stringify(events[i]) : JSON.stringify(events.slice(i, i + perMessage)));
    }
    const send = 1000 / Math.max(1, perMessage / 10);
    for (let i = 0; i < values.length; i += send) {
      await producer.send({ topic, acks: 1, messages: values.slice(i, i + send).map((value, j) => ({ value, partition: (i + j) % PARTITIONS })) });
    }
  }
  await producer.disconnect();
}

/** The ceiling: a consumer group that only counts messages' events. */
async function doNothing(topic: string, perMessage: number): Promise<number> {
  const kafka = new Kafka({ clientId: 'bench', brokers: consumeFrom.brokers, logLevel: logLevel.NOTHING, ...consumeFrom.kafkajs });
  const consumer = kafka.consumer({ groupId: unique('noop'), maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024 });
  let events = 0;
  const started = performance.now();
  const machine = machineTicks();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let done: () => void;
  const finished = new Promise<void>((r) => (done = r));
  await consumer.run({
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch }) => {
      events += batch.messages.length * perMessage;
      if (events >= total) done();
    },
  });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  if (process.env.BENCH_BREAKDOWN) console.log(`  do-nothing consumer: ${machinePerEvent(machine, machineTicks(), total)}`);
  await consumer.disconnect();
  return total / seconds;
}

async function driftwatch(topic: string): Promise<number> {
  // The labels and dead-letter topics exist beforehand, as they do where
  // driftwatch is deployed: creating them at start is not consuming.
  const labels = unique('labels');
  const dlq = unique('dlq');
  await createTopics(broker.admin, [labels, dlq], PARTITIONS);
  const started = performance.now();
  const ticks = threadTicks();
  const machine = machineTicks();
  const service = await startService(
    testConfig({ DATA_DIR: scratchDir('driftwatch-bench-kafka-'), KAFKA_BROKERS: consumeFrom.brokers.join(','), ...consumeFrom.config, KAFKA_EVENTS_TOPIC: topic, KAFKA_LABELS_TOPIC: labels, KAFKA_DLQ_TOPIC: dlq, KAFKA_GROUP_ID: unique('dw'), ...tuning }),
    { logger: false },
  );
  try {
    // Progress from the service's own counter of rows whose insert the store
    // acknowledged: polling the table instead would scan it ten times a second
    // in the measured process. The table is counted once at the end.
    const inserted = async () => (await service.metrics.kafkaRows.get()).values.reduce((n, v) => n + v.value, 0);
    let firstRow = 0;
    for (;;) {
      const n = await inserted();
      if (!firstRow && n > 0) firstRow = performance.now();
      if (n >= total) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const ended = performance.now();
    const machineEnded = machineTicks();
    const [stored] = await service.sql.query<{ n: number; ids: number }>("SELECT count() AS n, uniqExact(event_id) AS ids FROM events FINAL WHERE model = 'bench'");
    if (Number(stored.n) !== total || Number(stored.ids) !== total) throw new Error(`stored ${stored.n} rows, ${stored.ids} ids; sent ${total}`);
    if (process.env.BENCH_BREAKDOWN) {
      const inserts = (await service.metrics.storeInsertRows.get()).values;
      const count = inserts.find((v) => v.metricName === 'driftwatch_store_insert_rows_count' && v.labels.table === 'events')?.value ?? 0;
      console.log(
        `  start-up and group join to the first stored row ${((firstRow - started) / 1000).toFixed(1)} s; ` +
          `then ${fmt(total / ((ended - firstRow) / 1000))} events/s; ${count} inserts of ${fmt(total / Math.max(1, count))} rows on average`,
      );
      console.log(`  ${cpuPerEvent(ticks, threadTicks(), total)} (this process, broker apart)`);
      console.log(`  driftwatch: ${machinePerEvent(machine, machineEnded, total)}`);
    }
    return total / ((ended - started) / 1000);
  } finally {
    await service.close();
  }
}

async function rawInsert(): Promise<number> {
  const sql = await openStore(testConfig({ DATA_DIR: scratchDir('driftwatch-bench-raw-') }));
  let seconds = 0;
  try {
    for (let offset = 0; offset < total; offset += 20_000) {
      const chunk = encodeEvents(makeRows(Math.min(20_000, total - offset), { prefix: `raw-${offset}-` }));
      const t0 = performance.now();
      await sql.insertRowBinary('events', EVENT_COLUMNS, chunk);
      seconds += (performance.now() - t0) / 1000;
    }
  } finally {
    await sql.close();
  }
  return total / seconds;
}

try {
  const raw = await rawInsert();
  console.log(`${fmt(total)} events x 20 features, ${PARTITIONS} partitions, ${compression} record batches${secure ? ', consumed over SASL_SSL (SCRAM-SHA-512)' : ''}`);
  console.log(`raw store insert (20,000-row inserts): ${fmt(raw)} events/s`);
  for (const perMessage of [1, 100]) {
    const topic = unique(`bench-${perMessage}`);
    const configEntries = compression === 'uncompressed' ? [] : [{ name: 'compression.type', value: compression }];
    await broker.admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: PARTITIONS, configEntries }] });
    await fill(topic, perMessage);
    const ceiling = await doNothing(topic, perMessage);
    const ours = await driftwatch(topic);
    console.log(
      `${perMessage === 1 ? 'one event per message' : '100-event array messages'}: do-nothing consumer ${fmt(ceiling)} events/s, ` +
        `driftwatch ${fmt(ours)} events/s stored (${((ours / ceiling) * 100).toFixed(0)}% of the do-nothing consumer)`,
    );
  }
} finally {
  await broker.close();
}
