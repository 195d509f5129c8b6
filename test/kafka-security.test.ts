import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../cli/service.ts';
import { event, tempDir, testConfig } from './helpers.ts';
import { createTopics, groupCaughtUp, produce, readAll, spawnService, startBroker, testProducer, unique, waitFor, type Broker } from './kafka-helpers.ts';

/**
 * Secured brokers, as production clusters are: the broker's SASL_SSL listener
 * has a self-signed certificate, so every connection here also proves the CA
 * file is what verifies it, and each SASL mechanism is checked by the broker
 * itself (PLAIN from its JAAS users, SCRAM from credentials in its metadata).
 */
let broker: Broker;
const users = { driftwatch: 'dw-secret' };
beforeAll(async () => {
  broker = await startBroker({ secure: { users } });
}, 300_000);
afterAll(async () => {
  await broker?.close();
});

const secured = (dataDir: string, topics: { events: string; labels: string; dlq: string }, extra: Record<string, string>) =>
  testConfig({
    DATA_DIR: dataDir,
    KAFKA_BROKERS: broker.secureBrokers.join(','),
    KAFKA_EVENTS_TOPIC: topics.events,
    KAFKA_LABELS_TOPIC: topics.labels,
    KAFKA_DLQ_TOPIC: topics.dlq,
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: broker.caFile,
    ...extra,
  });

describe('Kafka ingest from a broker that requires TLS and SASL', () => {
  it.each(['plain', 'scram-sha-256', 'scram-sha-512'])('consumes, dead-letters and commits over SASL_SSL with %s', async (mechanism) => {
    const topics = { events: unique('events'), labels: unique('labels'), dlq: unique('dlq') };
    await createTopics(broker.admin, [topics.events, topics.labels, topics.dlq], 3);
    const producer = testProducer(broker.kafka);
    await producer.connect();
    const now = Date.now();
    const good = Array.from({ length: 3000 }, (_, i) => JSON.stringify(event({ model: 'secure', event_id: `${mechanism}-${i}`, timestamp: now - 1000, features: { x: i } })));
    await produce(producer, topics.events, [...good, '{"not": "an event"'], 3);
    await producer.disconnect();

    const groupId = unique('group');
    const dir = tempDir();
    const service = await startService(
      secured(dir.path, topics, { KAFKA_GROUP_ID: groupId, KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: 'driftwatch', KAFKA_SASL_PASSWORD: users.driftwatch }),
      { logger: false },
    );
    try {
      const stored = async () => Number((await service.sql.query<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE model = 'secure'"))[0].n);
      await waitFor(async () => (await stored()) >= 3000, 60_000, 'rows over SASL_SSL');
      expect(await stored()).toBe(3000);
      // The dead letter went out through the same authenticated, encrypted producer.
      const dead = await readAll(broker, topics.dlq, 1);
      expect(dead.map((d) => d.headers['driftwatch-reason-code'])).toEqual(['invalid_json']);
      await waitFor(() => groupCaughtUp(broker, groupId, topics.events), 30_000, 'offsets committed over SASL_SSL');
      expect((await (await fetch(`${service.url}/readyz`)).json()).status).toBe('ready');
    } finally {
      await service.close();
      dir.remove();
    }
  }, 120_000);

  it('consumes from a listener that requires a client certificate (mutual TLS)', async () => {
    // The listener really refuses a client without one.
    const anonymous = new Kafka({ clientId: 'anonymous', brokers: broker.mtlsBrokers, logLevel: logLevel.NOTHING, ssl: { ca: [readFileSync(broker.caFile, 'utf8')] }, retry: { retries: 0 } }).admin();
    await expect(anonymous.connect()).rejects.toThrow();
    await anonymous.disconnect();

    const topics = { events: unique('events'), labels: unique('labels'), dlq: unique('dlq') };
    await createTopics(broker.admin, [topics.events, topics.labels, topics.dlq], 3);
    const producer = testProducer(broker.kafka);
    await producer.connect();
    const now = Date.now();
    await produce(producer, topics.events, Array.from({ length: 2000 }, (_, i) => JSON.stringify(event({ model: 'mtls', event_id: `m${i}`, timestamp: now - 1000 }))), 3);
    await producer.disconnect();
    const dir = tempDir();
    const service = await startService(
      testConfig({
        DATA_DIR: dir.path,
        KAFKA_BROKERS: broker.mtlsBrokers.join(','),
        KAFKA_EVENTS_TOPIC: topics.events,
        KAFKA_LABELS_TOPIC: topics.labels,
        KAFKA_DLQ_TOPIC: topics.dlq,
        KAFKA_GROUP_ID: unique('group'),
        KAFKA_SSL: 'true',
        KAFKA_SSL_CA_FILE: broker.caFile,
        KAFKA_SSL_CERT_FILE: broker.clientCertFile,
        KAFKA_SSL_KEY_FILE: broker.clientKeyFile,
      }),
      { logger: false },
    );
    try {
      const stored = async () => Number((await service.sql.query<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE model = 'mtls'"))[0].n);
      await waitFor(async () => (await stored()) >= 2000, 60_000, 'rows over mutual TLS');
      expect(await stored()).toBe(2000);
    } finally {
      await service.close();
      dir.remove();
    }
  }, 120_000);

  it('refuses to start with a wrong password, saying authentication failed; and with a missing CA file before opening anything', async () => {
    const topics = { events: unique('events'), labels: unique('labels'), dlq: unique('dlq') };
    await createTopics(broker.admin, [topics.events, topics.labels, topics.dlq], 1);
    const dir = tempDir();
    const start = startService(
      secured(dir.path, topics, { KAFKA_GROUP_ID: unique('group'), KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'driftwatch', KAFKA_SASL_PASSWORD: 'not-the-password' }),
      { logger: false },
    );
    await expect(start).rejects.toThrow(/authentication failed/i);
    // The command says so in one line and exits 1, for a supervisor to see.
    const serve = spawnService({
      DATA_DIR: dir.path,
      KAFKA_BROKERS: broker.secureBrokers.join(','),
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: broker.caFile,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'driftwatch',
      KAFKA_SASL_PASSWORD: 'not-the-password',
    });
    await expect(serve).rejects.toThrow(/service exited \(1\):[\s\S]*\ndriftwatch: cannot start Kafka ingest from 127\.0\.0\.1:\d+: SASL SCRAM SHA512 authentication failed/);
    await expect(serve).rejects.not.toThrow(/\n\s+at /);
    // A CA file that is not there is a configuration error, found before anything opens (exit 2).
    const missingCa = spawnService({ DATA_DIR: dir.path, KAFKA_BROKERS: broker.secureBrokers.join(','), KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: `${dir.path}/nope.pem` });
    await expect(missingCa).rejects.toThrow(/service exited \(2\):[\s\S]*KAFKA_SSL_CA_FILE: cannot read .*nope\.pem \(ENOENT\)/);
    dir.remove();
  }, 60_000);
});
