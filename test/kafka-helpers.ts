import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
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

/** Reads a topic from the beginning until `count` messages arrived (or the deadline passed). */
export async function readAll(broker: Broker, topic: string, count: number, timeoutMs = 60_000) {
  const consumer = broker.kafka.consumer({ groupId: unique('reader') });
  const messages: { value: Buffer | null; headers: Record<string, string> }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      messages.push({ value: message.value, headers });
    },
  });
  const deadline = Date.now() + timeoutMs;
  while (messages.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 500)); // anything beyond `count` would show up now
  await consumer.disconnect();
  return messages;
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
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
  const deadline = Date.now() + 60_000;
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
