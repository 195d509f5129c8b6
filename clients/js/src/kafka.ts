import type { SendResult, Transport } from './transport.js';
import type { KafkaOptions, Stream } from './types.js';

// The few kafkajs shapes used here, so that the package needs kafkajs (an
// optional peer) only when the Kafka mode is used, and not even for its types.
interface Producer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: { topic: string; acks: number; compression: number; messages: { value: string }[] }): Promise<unknown>;
}
interface KafkaJs {
  Kafka: new (config: object) => { producer(config: object): Producer };
  CompressionTypes: { GZIP: number };
  logLevel: { NOTHING: number };
}

/**
 * Produces each batch as one message (a JSON array of items, which
 * driftwatch's consumer takes as it takes one event), gzip-compressed by
 * kafkajs, acknowledged by all in-sync replicas. A failure after kafkajs'
 * own few retries goes back to the client's back-off like a 503 does.
 */
export class KafkaTransport implements Transport {
  private producer: Promise<{ producer: Producer; gzip: number }> | null = null;
  private readonly topics: Record<Stream, string>;

  constructor(private readonly options: KafkaOptions) {
    this.topics = { events: options.eventsTopic ?? 'driftwatch.events', labels: options.labelsTopic ?? 'driftwatch.labels' };
  }

  private connect(): Promise<{ producer: Producer; gzip: number }> {
    this.producer ??= (async () => {
      let kafkajs: KafkaJs;
      try {
        kafkajs = (await import('kafkajs')) as unknown as KafkaJs;
      } catch {
        throw new Error('the Kafka mode needs the kafkajs package: npm install kafkajs');
      }
      const kafka = new kafkajs.Kafka({
        clientId: this.options.clientId ?? 'driftwatch-client',
        brokers: this.options.brokers,
        logLevel: kafkajs.logLevel.NOTHING,
        retry: { retries: 3, initialRetryTime: 200 },
        ...(this.options.ssl !== undefined ? { ssl: this.options.ssl } : {}),
        ...(this.options.sasl !== undefined ? { sasl: this.options.sasl } : {}),
      });
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      return { producer, gzip: kafkajs.CompressionTypes.GZIP };
    })();
    // A failed connection is tried again at the next batch.
    this.producer.catch(() => (this.producer = null));
    return this.producer;
  }

  async send(stream: Stream, json: string[], signal: AbortSignal): Promise<SendResult> {
    try {
      const { producer, gzip } = await this.connect();
      if (signal.aborted) return { kind: 'retry', reason: 'aborted', retryAfterMs: null };
      await producer.send({ topic: this.topics[stream], acks: -1, compression: gzip, messages: [{ value: `[${json.join(',')}]` }] });
      return { kind: 'sent', rejected: [] };
    } catch (err) {
      // Without kafkajs nothing can ever be sent: said once per batch, not retried.
      if ((err as Error).message.startsWith('the Kafka mode needs')) return { kind: 'refused', status: 0, reason: (err as Error).message };
      return { kind: 'retry', reason: (err as Error).message, retryAfterMs: null };
    }
  }

  async close(): Promise<void> {
    const pending = this.producer;
    this.producer = null;
    if (pending) await (await pending.catch(() => null))?.producer.disconnect().catch(() => {});
  }
}
