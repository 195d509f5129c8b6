import { execFile } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel, type Admin, type ISocketFactory, type Producer } from 'kafkajs';
import { afterAll, beforeAll } from 'vitest';
import { tempDir } from './helpers.ts';

const run = promisify(execFile);
const SCRIPT = new URL('../scripts/kafka.sh', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A real single-node Apache Kafka broker on free loopback ports, through
 * scripts/kafka.sh. With `secure`, also a SASL_SSL listener (`secureBrokers`)
 * for the users given, its self-signed certificate's PEM at `caFile`, and a
 * TLS listener that requires a client certificate (`mtlsBrokers`).
 */
export async function startBroker(options: { secure?: { users: Record<string, string> } } = {}) {
  const dir = tempDir('driftwatch-kafka-');
  const port = await freePort();
  const securePort = options.secure ? await freePort() : 0;
  const mtlsPort = options.secure ? await freePort() : 0;
  const env = {
    ...process.env,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(await freePort()),
    KAFKA_DATA_DIR: dir.path,
    ...(options.secure
      ? { KAFKA_SECURE_PORT: String(securePort), KAFKA_MTLS_PORT: String(mtlsPort), KAFKA_SASL_USERS: Object.entries(options.secure.users).map(([u, p]) => `${u}:${p}`).join(',') }
      : {}),
  };
  const script = (command: string) => run('bash', [SCRIPT, command], { env, timeout: 300_000 });
  await script('start');
  const brokers = [`127.0.0.1:${port}`];
  const kafka = new Kafka({ clientId: 'driftwatch-test', brokers, logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 200 } });
  const admin = kafka.admin();
  await admin.connect();
  return {
    brokers,
    kafka,
    admin,
    /** Where the broker keeps its partitions' log segments. */
    logDir: join(dir.path, 'logs'),
    secureBrokers: options.secure ? [`127.0.0.1:${securePort}`] : [],
    /** A TLS listener that requires the client certificate at `clientCertFile` (key: `clientKeyFile`). */
    mtlsBrokers: options.secure ? [`127.0.0.1:${mtlsPort}`] : [],
    caFile: join(dir.path, 'tls', 'ca.pem'),
    clientCertFile: join(dir.path, 'tls', 'client.pem'),
    clientKeyFile: join(dir.path, 'tls', 'client-key.pem'),
    stopBroker: () => script('stop'),
    startBroker: () => script('start'),
    async close() {
      await admin.disconnect().catch(() => {});
      await script('stop');
      dir.remove();
    },
  };
}

export type Broker = Awaited<ReturnType<typeof startBroker>>;

/** Random names per test, as kafkajs' own integration tests do. */
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

export async function createTopics(admin: Admin, topics: string[], partitions: number): Promise<void> {
  await admin.createTopics({ waitForLeaders: true, topics: topics.map((topic) => ({ topic, numPartitions: partitions })) });
}

/**
 * A producer for a test's input that writes each message once. kafkajs'
 * default producer is not idempotent: when a produce request's answer is
 * late (a request timeout on a busy machine) it sends the request again and
 * the broker appends the messages twice, so a test reading "each bad message
 * dead-lettered once" finds some twice (issue 15: partitions 0 and 1 of the
 * dead-letter test held 3,701 messages for 3,367 sent). Idempotent, the
 * broker drops the retry by its sequence number.
 */
export function testProducer(kafka: Kafka): Producer {
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
}

/** Sends values round-robin over partitions in chunks; returns when the broker has acknowledged all. */
export async function produce(producer: Producer, topic: string, values: (string | Buffer | null)[], partitions: number): Promise<void> {
  const chunk = 2_000;
  for (let i = 0; i < values.length; i += chunk) {
    await producer.send({
      topic,
      acks: -1,
      messages: values.slice(i, i + chunk).map((value, j) => ({ value, partition: (i + j) % partitions })),
    });
  }
}

/**
 * Reads a topic from the beginning until `count` messages arrived (or the
 * deadline passed), each record once: a record delivered to this reader
 * twice (its own group rebalanced on a busy machine) is still one record,
 * while one written twice has two offsets and counts twice.
 */
export async function readAll(broker: Broker, topic: string, count: number, timeoutMs = 60_000) {
  const consumer = broker.kafka.consumer({ groupId: unique('reader') });
  const records = new Map<string, { value: Buffer | null; headers: Record<string, string> }>();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      records.set(`${partition}:${message.offset}`, { value: message.value, headers });
    },
  });
  const deadline = Date.now() + timeoutMs;
  while (records.size < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 1_000)); // anything beyond `count` would show up now
  await consumer.disconnect();
  return [...records.values()];
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Waits for `done` as long as `progress` keeps changing: on a busy machine a
 * long drain is slow but moves, and only one that stopped moving for
 * `stallMs` fails, not one slower than a guessed deadline.
 */
export async function waitWhileProgressing(done: () => Promise<boolean>, progress: () => Promise<number>, stallMs: number, what: string): Promise<void> {
  let last = await progress();
  let movedAt = Date.now();
  for (;;) {
    if (await done()) return;
    const now = await progress();
    if (now !== last) {
      last = now;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > stallMs) {
      throw new Error(`no progress for ${stallMs} ms (at ${now}) waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

const CLI = new URL('../cli/driftwatch.mjs', import.meta.url).pathname;

/** `driftwatch serve` as its own process, so it can be killed like a real one. */
export async function spawnService(env: Record<string, string>) {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, PORT: '0', ANALYSIS_ENABLED: 'false', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  // Generous: on a busy machine starting node, the store and the consumer takes a while.
  const deadline = Date.now() + 120_000;
  let url: string | undefined;
  while (!url && Date.now() < deadline) {
    url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    if (child.exitCode !== null) throw new Error(`service exited (${child.exitCode}): ${out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!url) {
    child.kill('SIGKILL');
    throw new Error(`service did not start: ${out.slice(-2000)}`);
  }
  return {
    url,
    child,
    exited,
    output: () => out,
    async events(model: string): Promise<number> {
      const body = (await (await fetch(`${url}/v1/models`)).json()) as { models: { model: string; events: number }[] };
      return body.models.find((m) => m.model === model)?.events ?? 0;
    },
  };
}

/** How many messages a topic holds, over all its partitions (from its end offsets: nothing is deleted in a test). */
export async function messagesIn(broker: Broker, topic: string): Promise<number> {
  const ends = await broker.admin.fetchTopicOffsets(topic);
  return ends.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
}

export async function groupCaughtUp(broker: Broker, groupId: string, topic: string): Promise<boolean> {
  const [ends, [committed]] = await Promise.all([broker.admin.fetchTopicOffsets(topic), broker.admin.fetchOffsets({ groupId, topics: [topic] })]);
  return ends.every((e) => committed.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
}

/** One broker for a test file: started before its tests, stopped after. */
export function useBroker(): () => Broker {
  let broker: Broker | undefined;
  beforeAll(async () => {
    broker = await startBroker();
  }, 300_000);
  afterAll(async () => {
    await broker?.close();
  });
  return () => broker!;
}

/** EndTxn (API key 26) asking to commit: the request a transaction's commit sends. */
export function isCommit(request: { apiKey: number; apiVersion: number; body: Buffer }): boolean {
  if (request.apiKey !== 26 || request.apiVersion > 2) return false;
  // transactional_id (int16 length + bytes), producer_id int64, producer_epoch int16, then the commit flag.
  return request.body[2 + request.body.readInt16BE(0) + 8 + 2] === 1;
}

/**
 * A kafkajs socket factory whose connections lose the broker's answers to the
 * first `count` requests `lose` picks: the broker does the work, the client
 * never hears of it and times out, as when the answer is lost on the way.
 */
export function losingAnswers(lose: (request: { apiKey: number; apiVersion: number; body: Buffer }) => boolean, count = 1) {
  let left = count;
  const factory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    const lost = new Set<number>();
    const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
    // kafkajs writes each request whole: size, api key, version, correlation id, client id, body.
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (left > 0 && Buffer.isBuffer(chunk) && chunk.length >= 14) {
        const clientIdLength = Math.max(0, chunk.readInt16BE(12));
        const request = { apiKey: chunk.readInt16BE(4), apiVersion: chunk.readInt16BE(6), body: chunk.subarray(14 + clientIdLength) };
        if (lose(request)) {
          left--;
          lost.add(chunk.readInt32BE(8));
        }
      }
      return write(chunk, ...rest);
    }) as typeof socket.write;
    // Answers are size-prefixed frames starting with the correlation id: keep whole frames, drop the lost ones.
    let pending = Buffer.alloc(0);
    const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
    socket.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event !== 'data' || (lost.size === 0 && pending.length === 0)) return emit(event, ...args);
      pending = Buffer.concat([pending, args[0] as Buffer]);
      const kept: Buffer[] = [];
      while (pending.length >= 8 && pending.length >= 4 + pending.readInt32BE(0)) {
        const frame = pending.subarray(0, 4 + pending.readInt32BE(0));
        pending = pending.subarray(frame.length);
        if (!lost.delete(frame.readInt32BE(4))) kept.push(frame);
      }
      return kept.length > 0 ? emit('data', Buffer.concat(kept)) : true;
    }) as typeof socket.emit;
    return socket;
  };
  return { factory, lost: () => count - left };
}
