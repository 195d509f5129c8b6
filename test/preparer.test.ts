import { afterAll, describe, expect, it } from 'vitest';
import { inlinePreparer, workerPreparer } from '../ingest/preparer.ts';
import { event } from './helpers.ts';

const limits = { now: Date.now(), maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 };
const worker = workerPreparer(2);
const inline = inlinePreparer();
afterAll(() => worker.close());

const body = (items: unknown[]) => Buffer.from(JSON.stringify(items));

describe('preparing bodies in worker threads', () => {
  it('gives exactly what preparing on the event loop gives', async () => {
    const items = [
      event({ event_id: 'a', features: { x: 1.25, c: 'zürich', b: false, n: null } }),
      event({ event_id: 'b', timestamp: 1 }),
      { not: 'an event' },
      event({ event_id: 'c', timestamp: new Date().toISOString(), prediction: 'yes' }),
    ];
    for (const [stream, payload, format] of [
      ['events', body(items), 'json'],
      ['events', Buffer.from(items.map((i) => JSON.stringify(i)).join('\n') + '\n{bad'), 'ndjson'],
      ['labels', body([{ event_id: 'a', model: 'm', label: 1 }, { event_id: 'b', model: 'm' }]), 'json'],
      ['events', Buffer.from('{"not": "an array"}'), 'json'],
    ] as const) {
      const fromWorker = await worker.prepare(stream, payload, format, limits);
      const fromLoop = await inline.prepare(stream, payload, format, limits);
      expect(fromWorker).toEqual(fromLoop);
    }
    const result = await worker.prepare('events', body(items), 'json', limits);
    expect(result.ok && result.prepared.accepted).toBe(2);
    expect(result.ok && result.prepared.codes).toEqual(['timestamp_out_of_range', 'missing_field']);
  });

  it('moves a body that owns its buffer to the worker and copies one that shares Node\'s pool', async () => {
    const items = Array.from({ length: 200 }, (_, i) => event({ event_id: `big-${i}` }));
    const big = Buffer.concat([body(items)]); // as fastify's body parser builds it: a buffer of its own
    const copy = Buffer.from(big);
    expect(big.byteLength).toBeGreaterThan(8192);
    const moved = await worker.prepare('events', big, 'json', limits);
    expect(big.byteLength).toBe(0); // handed over, not copied
    expect(moved).toEqual(await inline.prepare('events', copy, 'json', limits));
    expect(moved.ok && moved.prepared.accepted).toBe(200);

    const small = Buffer.from(JSON.stringify([event({ event_id: 'small' })]));
    const neighbour = Buffer.from('pool neighbour');
    expect(small.buffer).toBe(neighbour.buffer); // both views into the pool
    const kept = await worker.prepare('events', small, 'json', limits);
    expect(kept.ok && kept.prepared.accepted).toBe(1);
    expect(small.byteLength).toBeGreaterThan(0);
    expect(neighbour.toString()).toBe('pool neighbour');
  });

  it('plans Kafka batches exactly as on the event loop, dead letters and their bytes included', async () => {
    const messages = [
      { offset: '0', key: Buffer.from('k'), value: Buffer.from(JSON.stringify(event({ event_id: 'a' }))) },
      { offset: '1', key: null, value: Buffer.from('{nope') },
      { offset: '2', key: null, value: null },
      { offset: '3', key: null, value: Buffer.from(JSON.stringify([event({ event_id: 'b' }), { bad: 1 }])) },
    ];
    const fromWorker = await worker.planKafka('events', messages, limits, 10_000);
    const fromLoop = await inline.planKafka('events', messages, limits, 10_000);
    expect(fromWorker).toEqual(fromLoop);
    expect(Buffer.isBuffer(fromWorker.dead[0].value)).toBe(true);
    expect(fromWorker.dead.map((d) => d.code)).toEqual(['invalid_json', 'null_value', 'missing_field']);
  });

  it('keeps many concurrent requests apart', async () => {
    const bodies = Array.from({ length: 50 }, (_, i) => body(Array.from({ length: i + 1 }, (_, j) => event({ event_id: `${i}-${j}` }))));
    const copies = bodies.map((b) => Buffer.from(b)); // the large ones are handed over to the worker
    const results = await Promise.all(bodies.map((b) => worker.prepare('events', b, 'json', limits)));
    for (const [i, r] of results.entries()) {
      expect(r.ok && r.prepared.accepted).toBe(i + 1);
      // Each answer holds exactly its own request's rows, byte for byte.
      const alone = await inline.prepare('events', copies[i], 'json', limits);
      expect(r.ok && Buffer.from(r.prepared.encoded)).toEqual(alone.ok && Buffer.from(alone.prepared.encoded));
    }
  });
});
