import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { DriftwatchClient } from '../clients/js/src/index.ts';
import { tempDir, testConfig } from './helpers.ts';
import { createTopics, messagesIn, unique, useBroker, waitFor, type Broker } from './kafka-helpers.ts';

// The TypeScript client's Kafka mode: the same interface, produced to
// driftwatch's topics on a real broker, consumed by the real service.

const theBroker = useBroker();

describe('the TypeScript client in Kafka mode', () => {
  let broker: Broker;
  let service: Service;
  const dir = tempDir();
  const topics = { events: unique('events'), labels: unique('labels'), dlq: unique('dlq') };
  beforeAll(async () => {
    broker = theBroker();
    await createTopics(broker.admin, [topics.events, topics.labels, topics.dlq], 3);
    service = await startService(
      testConfig({
        DATA_DIR: dir.path,
        KAFKA_BROKERS: broker.brokers.join(','),
        KAFKA_EVENTS_TOPIC: topics.events,
        KAFKA_LABELS_TOPIC: topics.labels,
        KAFKA_DLQ_TOPIC: topics.dlq,
        KAFKA_GROUP_ID: unique('group'),
      }),
      { logger: false },
    );
  });
  afterAll(async () => {
    await service?.close();
    dir.remove();
  });

  it('produces batches of events and labels that the service stores once each', async () => {
    const client = new DriftwatchClient({ kafka: { brokers: broker.brokers, eventsTopic: topics.events, labelsTopic: topics.labels }, maxBatchItems: 250 });
    const ids: string[] = [];
    for (let i = 0; i < 5_000; i++) ids.push(client.log({ model: 'js-kafka', features: { x: i % 13, c: i % 2 ? 'a' : 'b' }, prediction: i % 2 }));
    for (const id of ids.slice(0, 1_000)) client.label(id, 'js-kafka', 1);
    expect(await client.close(120_000)).toBe(true);
    expect(client.stats()).toMatchObject({ events: { sent: 5_000, rejected: 0 }, labels: { sent: 1_000 } });
    // Batches of 250 travel as one message each (a JSON array), not one message per event
    // (a produce retried by kafkajs after a lost answer may append a batch twice: the store keeps it once).
    const messages = await messagesIn(broker, topics.events);
    expect(messages).toBeGreaterThanOrEqual(20);
    expect(messages).toBeLessThanOrEqual(40);
    const count = async (table: string) =>
      Number((await service.sql.query<{ n: number }>(`SELECT count() AS n FROM ${table} FINAL WHERE model = 'js-kafka'`))[0].n);
    await waitFor(async () => (await count('events')) === 5_000 && (await count('labels')) === 1_000, 120_000, 'the events and labels in the store');
    expect(await messagesIn(broker, topics.dlq)).toBe(0);
  });
});
