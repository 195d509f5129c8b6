import { describe, expect, it } from 'vitest';
import { validateEvent } from '../../core/event.ts';
import { createMetrics } from '../../core/metrics.ts';
import { encodeEvents } from '../../store/events.ts';
import { InsertBatcher } from '../../ingest/batcher.ts';
import { inlinePreparer } from '../../ingest/preparer.ts';
import { handleBatch, type BatchContext, type HandlerDeps } from '../../ingest/kafka/handler.ts';
import { packMessages, unpackMessages } from '../../ingest/kafka/pack.ts';
import { planFlush, type MessageIn } from '../../ingest/kafka/plan.ts';
import { event } from '../helpers.ts';

const limits = { now: Date.now(), maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 };
const msg = (offset: number, value: string | null): MessageIn => ({ offset: String(offset), key: null, value: value === null ? null : Buffer.from(value) });

describe('planFlush', () => {
  it('stores good events, dead-letters bad messages with their own bytes, commits after the last offset', () => {
    const [a, b] = [event({ event_id: 'a' }), event({ event_id: 'b' })];
    const good = JSON.stringify(a);
    const plan = planFlush(
      'events',
      [msg(10, good), msg(11, '{oops'), msg(12, null), msg(13, 'x'.repeat(2000)), msg(14, '42'), msg(15, JSON.stringify([b, { bad: true }]))],
      limits,
      1000,
    );
    expect(plan.rows).toBe(2);
    const rows = [a, b].map((e) => {
      const checked = validateEvent(e, limits);
      if (!checked.ok) throw new Error(checked.reason);
      return checked.value;
    });
    expect(Buffer.from(plan.encoded)).toEqual(Buffer.from(encodeEvents(rows)));
    expect(plan.commitOffset).toBe('16');
    expect(plan.dead.map((d) => [d.offset, d.code, d.index])).toEqual([
      ['11', 'invalid_json', undefined],
      ['12', 'null_value', undefined],
      ['13', 'too_large', undefined],
      ['14', 'not_an_object', undefined],
      ['15', 'missing_field', 1],
    ]);
    expect(plan.dead[0].value?.toString()).toBe('{oops');
    expect(JSON.parse(plan.dead[4].value!.toString())).toEqual({ bad: true });
  });
  it('takes back the elements of an array message already encoded when its end turns out broken', () => {
    const [a, b, c] = [event({ event_id: 'a' }), event({ event_id: 'b' }), event({ event_id: 'c' })];
    const plan = planFlush(
      'events',
      [msg(1, JSON.stringify([a, { bad: 1 }, b]).slice(0, -1) + ',{oops]'), msg(2, ` ${JSON.stringify(c)}\n`), msg(3, `[${JSON.stringify(a)}] x`)],
      limits,
      10_000,
    );
    // Only c is stored: message 1 is not JSON although its first elements are, and message 3 has trailing bytes.
    const checked = validateEvent(c, limits);
    if (!checked.ok) throw new Error(checked.reason);
    expect(plan.rows).toBe(1);
    expect(Buffer.from(plan.encoded)).toEqual(Buffer.from(encodeEvents([checked.value])));
    expect(plan.dead.map((d) => [d.offset, d.code, d.index])).toEqual([
      ['1', 'invalid_json', undefined],
      ['3', 'invalid_json', undefined],
    ]);
  });
  it('handles offsets beyond 2^53', () => {
    const plan = planFlush('events', [msg(0, '{}')].map((m) => ({ ...m, offset: '9007199254740993' })), limits, 1000);
    expect(plan.commitOffset).toBe('9007199254740994');
  });
});

describe('packMessages', () => {
  it('moves exactly the batch\'s bytes, whatever larger buffer the client read them into', () => {
    const response = Buffer.from('....key-1....value one....value two....');
    const messages: MessageIn[] = [
      { offset: '5', key: response.subarray(4, 9), value: response.subarray(13, 22) },
      { offset: '6', key: null, value: response.subarray(26, 35) },
      { offset: '7', key: Buffer.alloc(0), value: null },
    ];
    const packed = packMessages(messages);
    expect(packed.bytes.buffer.byteLength).toBe(5 + 9 + 9);
    expect(unpackMessages(packed)).toEqual(messages);
  });
});

describe('handleBatch', () => {
  const deps = (insert: (rows: Uint8Array) => Promise<void>, sendAndCommit: HandlerDeps['deadLetters']['sendAndCommit'] = async () => {}): HandlerDeps => ({
    streamOf: () => 'events',
    writers: {
      events: new InsertBatcher(insert, { maxBatchRows: 1000, maxPendingRows: 1000 }),
      labels: new InsertBatcher(insert, { maxBatchRows: 1000, maxPendingRows: 1000 }),
    },
    deadLetters: { sendAndCommit },
    preparer: inlinePreparer(),
    metrics: createMetrics(),
    limits: () => limits,
    maxMessageBytes: 10_000,
    retry: { initialMs: 1, maxMs: 4 },
    log: { warn: () => {} },
    sleep: async () => {},
  });
  const ctx = (messages: MessageIn[], active = () => true) => {
    const commits: string[] = [];
    const c: BatchContext = {
      topic: 't',
      partition: 0,
      messages,
      isActive: active,
      isAssigned: active,
      heartbeat: async () => {},
      commit: async (o) => void commits.push(o),
    };
    return { c, commits };
  };

  it('retries a failing store, then stores and commits', async () => {
    let failures = 3;
    const inserted: Uint8Array[] = [];
    const { c, commits } = ctx([msg(0, JSON.stringify(event({ event_id: 'a' })))]);
    const outcome = await handleBatch(c, deps(async (rows) => {
      if (failures-- > 0) throw new Error('store down');
      inserted.push(rows);
    }));
    expect(outcome).toBe('committed');
    expect(inserted).toHaveLength(1);
    expect(commits).toEqual(['1']);
  });

  it('drops a revoked batch without committing', async () => {
    let active = true;
    const { c, commits } = ctx([msg(5, JSON.stringify(event({ event_id: 'a' })))], () => active);
    const outcome = await handleBatch(c, deps(async () => {
      active = false;
      throw new Error('store down');
    }));
    expect(outcome).toBe('abandoned');
    expect(commits).toEqual([]);
  });

  it('does not commit past a message whose dead letter could not be written', async () => {
    let active = true;
    const { c, commits } = ctx([msg(7, '{bad')], () => active);
    const outcome = await handleBatch(c, deps(async () => {}, async () => {
      active = false;
      throw new Error('dlq down');
    }));
    expect(outcome).toBe('abandoned');
    expect(commits).toEqual([]);
  });

  it('commits a batch with dead letters only together with them, after its rows', async () => {
    const order: string[] = [];
    const { c, commits } = ctx([msg(3, JSON.stringify(event({ event_id: 'a' }))), msg(4, '{bad')]);
    const outcome = await handleBatch(
      c,
      deps(
        async () => void order.push('rows'),
        async (_source, letters, offset) => void order.push(`letters ${letters.length} + offset ${offset}`),
      ),
    );
    expect(outcome).toBe('committed');
    expect(order).toEqual(['rows', 'letters 1 + offset 5']);
    expect(commits).toEqual([]); // the offset went with the letters, not through a plain commit
  });
});
