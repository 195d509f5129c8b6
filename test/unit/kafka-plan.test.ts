import { describe, expect, it } from 'vitest';
import { validateEvent } from '../../core/event.ts';
import { createMetrics } from '../../core/metrics.ts';
import { encodeEvents } from '../../store/events.ts';
import { inlinePreparer } from '../../ingest/preparer.ts';
import { handleBatch, type BatchContext, type HandlerDeps } from '../../ingest/kafka/handler.ts';
import { KafkaSink } from '../../ingest/kafka/sink.ts';
import { packMessages, unpackMessages } from '../../ingest/kafka/pack.ts';
import { planFlush, type MessageIn } from '../../ingest/kafka/plan.ts';
import { makeEvents } from '../../bench/workload.ts';
import { event } from '../helpers.ts';
import type { RowBytes } from '../../store/sql.ts';
import { rowText } from './row-text.ts';

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
  it('plans label messages the same way: good labels stored, bad ones dead-lettered one by one', () => {
    const plan = planFlush(
      'labels',
      [
        msg(5, JSON.stringify({ event_id: 'a', model: 'm', label: 1 })),
        msg(6, JSON.stringify([{ event_id: 'b', model: 'm', label: 'fraud' }, { event_id: 'c', model: 'm' }])),
        msg(7, '{"event_id": "d", "model": "m", "label": '),
        msg(8, JSON.stringify({ event_id: 'e', model: "m'; DROP TABLE labels; --", label: 0 })),
      ],
      limits,
      10_000,
    );
    expect(plan.rows).toBe(2);
    expect(plan.commitOffset).toBe('9');
    expect(plan.dead.map((d) => [d.offset, d.code, d.index])).toEqual([
      ['6', 'missing_field', 1],
      ['7', 'invalid_json', undefined],
      ['8', 'invalid_name', undefined],
    ]);
    expect(JSON.parse(plan.dead[0].value!.toString())).toEqual({ event_id: 'c', model: 'm' });
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
  const deps = (
    insert: (rows: RowBytes) => Promise<void>,
    sendAndCommit: HandlerDeps['deadLetters']['sendAndCommit'] = async () => {},
    commits: string[] = [],
    sinkOptions: { flushRows?: number; maxQueuedRows?: number } = {},
  ): HandlerDeps => {
    const metrics = createMetrics();
    const sink = new KafkaSink(
      { flushRows: sinkOptions.flushRows ?? 1, flushIntervalMs: 1, retry: { initialMs: 1, maxMs: 4 } },
      {
        insert: (_stream, rows) => insert(rows),
        commit: async (offsets) => void commits.push(...offsets.map((o) => o.offset)),
        metrics,
        log: { warn: () => {} },
        sleep: async () => {},
      },
    );
    return {
      streamOf: () => 'events',
      sink,
      deadLetters: { sendAndCommit },
      preparer: inlinePreparer(),
      metrics,
      limits: () => limits,
      maxMessageBytes: 10_000,
      maxQueuedRows: sinkOptions.maxQueuedRows ?? 1000,
      heartbeatMs: 5,
      retry: { initialMs: 1, maxMs: 4 },
      log: { warn: () => {} },
      sleep: async () => {},
    };
  };
  const ctx = (messages: MessageIn[], active = () => true, heartbeats: string[] = []): BatchContext => ({
    topic: 't',
    partition: 0,
    messages,
    isActive: active,
    isAssigned: active,
    heartbeat: async () => void heartbeats.push('beat'),
  });
  const good = (offset: number, id: string) => msg(offset, JSON.stringify(event({ event_id: id })));

  it('hands a clean batch to the sink and returns before the store answers; the offset follows the rows', async () => {
    let release!: () => void;
    const inserted: RowBytes[] = [];
    const commits: string[] = [];
    const d = deps((rows) => new Promise<void>((r) => {
      inserted.push(rows);
      release = r;
    }), undefined, commits);
    expect(await handleBatch(ctx([good(0, 'a')]), d)).toBe('handed-off');
    await new Promise((r) => setTimeout(r, 10));
    expect(inserted).toHaveLength(1);
    expect(commits).toEqual([]); // not stored yet, so not committed
    release();
    await d.sink.drain();
    expect(inserted).toHaveLength(1);
    expect(commits).toEqual(['1']);
  });

  it('waits, with heartbeats, while the sink holds as many rows as it may', async () => {
    const gates: (() => void)[] = [];
    const heartbeats: string[] = [];
    const d = deps(() => new Promise<void>((r) => gates.push(r)), undefined, [], { flushRows: 1, maxQueuedRows: 1 });
    // The first batch is being inserted; the second then fills the sink, and its handler waits.
    expect(await handleBatch(ctx([good(0, 'a')]), d)).toBe('handed-off');
    let second: string | null = null;
    void handleBatch(ctx([good(1, 'b')], () => true, heartbeats), d).then((o) => (second = o));
    await new Promise((r) => setTimeout(r, 30));
    expect(second).toBe(null);
    expect(heartbeats.length).toBeGreaterThan(0);
    gates.shift()!(); // the first is stored: the second moves into the next insert, and the sink has room
    for (let i = 0; i < 200 && second === null; i++) await new Promise((r) => setTimeout(r, 1));
    expect(second).toBe('handed-off');
    const drained = d.sink.drain();
    gates.shift()!();
    await drained;
  });

  it('gives a batch back when the consumer stops while it is being planned', async () => {
    const inserted: RowBytes[] = [];
    const d = deps(async (rows) => void inserted.push(rows));
    expect(await handleBatch(ctx([good(5, 'a')], () => false), d)).toBe('abandoned');
    await d.sink.drain();
    expect(inserted).toHaveLength(0);
  });

  it('does not commit past a message whose dead letter could not be written', async () => {
    let active = true;
    const commits: string[] = [];
    const outcome = await handleBatch(ctx([msg(7, '{bad')], () => active), deps(async () => {}, async () => {
      active = false;
      throw new Error('dlq down');
    }, commits));
    expect(outcome).toBe('abandoned');
    expect(commits).toEqual([]);
  });

  it('commits a batch with dead letters only together with them, after its rows and every earlier batch', async () => {
    const order: string[] = [];
    const commits: string[] = [];
    const d = deps(
      async (rows) => void order.push(`rows ${rowText(rows).length > 0}`),
      async (_source, letters, offset) => void order.push(`letters ${letters.length} + offset ${offset} after commits ${commits.join(',')}`),
      commits,
      { flushRows: 1000 },
    );
    expect(await handleBatch(ctx([good(1, 'a'), good(2, 'b')]), d)).toBe('handed-off');
    expect(await handleBatch(ctx([good(3, 'c'), msg(4, '{bad')]), d)).toBe('committed');
    expect(order).toEqual(['rows true', 'letters 1 + offset 5 after commits 3']);
    expect(commits).toEqual(['3']); // the batch's own offset went with the letters, not through a plain commit
  });
});

describe('planFlush against a plain oracle', () => {
  /**
   * What a plan must hold, worked out message by message with JSON.parse and
   * validateEvent alone: the fast path, array walking and rollback in
   * EventBatch must not change a single row or dead letter.
   */
  function oracle(messages: readonly MessageIn[], max: number) {
    const rows: ReturnType<typeof validateEvent>[] = [];
    const dead: [string, string, number | undefined][] = [];
    for (const m of messages) {
      if (m.value === null) dead.push([m.offset, 'null_value', undefined]);
      else if (m.value.length > max) dead.push([m.offset, 'too_large', undefined]);
      else {
        let parsed: unknown;
        try {
          parsed = JSON.parse(m.value.toString('utf8'));
        } catch {
          dead.push([m.offset, 'invalid_json', undefined]);
          continue;
        }
        const items = Array.isArray(parsed) ? parsed : [parsed];
        items.forEach((item, i) => {
          const index = Array.isArray(parsed) ? i : undefined;
          if (item === null || typeof item !== 'object') {
            dead.push([m.offset, 'not_an_object', index]);
            return;
          }
          const checked = validateEvent(item, limits);
          if (checked.ok) rows.push(checked);
          else dead.push([m.offset, checked.code, index]);
        });
      }
    }
    return { rows: rows.map((r) => (r.ok ? r.value : null)!), dead };
  }

  it('matches it on thousands of random batches of good, bad, array and broken messages', () => {
    let seed = 11;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
    const ts = Date.now() - 60_000;
    const good = makeEvents(40, { start: ts - 1000 }).map((e) => JSON.stringify(e));
    const bad = [
      JSON.stringify(event({ timestamp: Math.floor(ts / 1000) })),
      JSON.stringify(event({ model: 'bad model' })),
      JSON.stringify({ event_id: 'x', model: 'm' }),
      JSON.stringify(event({ features: { nested: { a: 1 } } })),
      JSON.stringify(event({ latency_ms: -1 })),
      '{"event_id":"e","model":"m","timestamp":' + ts + ',"features":{"__proto__":1},"prediction":1}',
      JSON.stringify(event({ features: { city: 'Zürich', 'quote"d': 2 } })),
      '"just a string"',
      '42',
      'null',
    ];
    const noise = ['{', '}', '[', ']', ',', ':', '"', '\\', ' ', '\n', '0', '-', 'e', 'x', '\u00e9'];
    let rows = 0;
    const codes = new Set<string>();
    let elementLetters = 0;
    for (let round = 0; round < 3_000; round++) {
      const messages: MessageIn[] = [];
      const n = 1 + Math.floor(random() * 8);
      for (let i = 0; i < n; i++) {
        const offset = String(1000 + round * 10 + i);
        const kind = random();
        let text: string;
        if (kind < 0.05) {
          messages.push({ offset, key: null, value: null });
          continue;
        } else if (kind < 0.45) {
          text = random() < 0.8 ? pick(good) : pick(bad);
        } else {
          const items = Array.from({ length: Math.floor(random() * 5) }, () => (random() < 0.7 ? pick(good) : pick(bad)));
          text = `[${items.join(random() < 0.5 ? ',' : ' , ')}]`;
        }
        for (let edits = random() < 0.3 ? 1 + Math.floor(random() * 2) : 0; edits > 0; edits--) {
          const at = Math.floor(random() * text.length);
          text = random() < 0.5 ? text.slice(0, at) + text.slice(at + 1) : text.slice(0, at) + pick(noise) + text.slice(at);
        }
        messages.push({ offset, key: null, value: Buffer.from(text) });
      }
      const max = random() < 0.1 ? 400 : 100_000;
      const plan = planFlush('events', messages, limits, max);
      const expected = oracle(messages, max);
      const context = messages.map((m) => m.value?.toString() ?? null).join(' | ');
      expect(plan.rows, context).toBe(expected.rows.length);
      expect(Buffer.from(plan.encoded).equals(Buffer.from(encodeEvents(expected.rows))), context).toBe(true);
      expect(plan.dead.map((d) => [d.offset, d.code, d.index]), context).toEqual(expected.dead);
      expect(plan.commitOffset).toBe(String(BigInt(messages[messages.length - 1].offset) + 1n));
      rows += plan.rows;
      for (const d of plan.dead) {
        codes.add(d.code);
        if (d.index !== undefined) elementLetters++;
      }
    }
    // The batches did reach every kind of outcome.
    expect(rows).toBeGreaterThan(5_000);
    expect(elementLetters).toBeGreaterThan(500);
    expect([...codes].sort()).toEqual(
      ['invalid_json', 'invalid_name', 'invalid_value', 'missing_field', 'not_an_object', 'null_value', 'timestamp_out_of_range', 'too_large', 'wrong_type'].sort(),
    );
  });
});
