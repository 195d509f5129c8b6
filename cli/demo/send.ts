import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';

/** Where the demo's traffic goes: the HTTP API, or the Kafka topics the service consumes. */
export interface Sender {
  /** For the progress line: "over HTTP", "through Kafka". */
  via: string;
  events(items: object[]): Promise<void>;
  labels(items: object[]): Promise<void>;
  close(): Promise<void>;
}

async function post(url: string, body: unknown[]): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${await response.text()}`);
  const result = (await response.json()) as { rejected: unknown[] };
  if (result.rejected.length > 0) throw new Error(`demo events rejected: ${JSON.stringify(result.rejected.slice(0, 3))}`);
}

export function httpSender(serviceUrl: string): Sender {
  return {
    via: 'over HTTP',
    events: (items) => post(`${serviceUrl}/v1/events`, items),
    labels: (items) => post(`${serviceUrl}/v1/labels`, items),
    close: async () => {},
  };
}

export interface DemoTopics {
  events: string;
  labels: string;
  dlq: string;
}

/**
 * Sends each tick's events (and labels) as one JSON-array message, the way a
 * batching producer would. `owned` topics were named for this run alone and
 * are deleted at the end, so a demo leaves nothing in the broker and never
 * reads an earlier run's traffic.
 */
export async function kafkaSender(brokers: string[], topics: DemoTopics, owned: boolean): Promise<Sender> {
  const kafka = new Kafka({ clientId: 'driftwatch-demo', brokers, logLevel: logLevel.NOTHING });
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const send = async (topic: string, items: object[]) => {
    if (items.length > 0) await producer.send({ topic, acks: -1, messages: [{ value: JSON.stringify(items) }] });
  };
  return {
    via: `through Kafka (${topics.events})`,
    events: (items) => send(topics.events, items),
    labels: (items) => send(topics.labels, items),
    async close() {
      await producer.disconnect();
      if (!owned) return;
      const admin: Admin = kafka.admin();
      await admin.connect();
      try {
        await admin.deleteTopics({ topics: [topics.events, topics.labels, topics.dlq] });
      } finally {
        await admin.disconnect();
      }
    },
  };
}
