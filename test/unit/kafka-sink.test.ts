import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../core/metrics.ts';
import { flushDue } from '../../ingest/flusher.ts';
import { commitsFor, KafkaSink, type SinkEntry, type TopicPartitionOffset } from '../../ingest/kafka/sink.ts';
import { rowText as text } from './row-text.ts';

/** A stand-in store and broker: inserts finish when the test says so, commits are recorded. */
function harness(options: { flushRows?: number; flushIntervalMs?: number } = {}) {
  const log: string[] = [];
  const gates: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const metrics = createMetrics();
  const sink = new KafkaSink(
    { flushRows: options.flushRows ?? 100, flushIntervalMs: options.flushIntervalMs ?? 60_000, retry: { initialMs: 1, maxMs: 2 } },
    {
      insert: (_stream, bytes) =>
        new Promise<void>((resolve, reject) => {
          log.push(`insert ${text(bytes)}`);
          gates.push({ resolve, reject });
        }),
      commit: async (offsets: TopicPartitionOffset[]) => void log.push(`commit ${offsets.map((o) => `${o.partition}@${o.offset}`).join(' ')}`),
      metrics,
      log: { warn: () => {} },
      sleep: async () => {},
    },
  );
  const until = async (check: () => boolean) => {
    const deadline = performance.now() + 2_000;
    while (!check() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    expect(check()).toBe(true);
  };
  return {
    sink,
    log,
    metrics,
    until,
    release: () => gates.shift()!.resolve(),
    fail: () => gates.shift()!.reject(new Error('store down')),
    get inFlight() {
      return gates.length;
    },
  };
}

const entry = (partition: number, text: string, rows: number, commitOffset: string | null): SinkEntry => ({
  topic: 't',
  partition,
  encoded: Buffer.from(text),
  rows,
  commitOffset,
});

describe('KafkaSink', () => {
  it('stores batches of several partitions in one insert, then commits the last offset of each', async () => {
    const h = harness({ flushRows: 100 });
    const outcomes = [
      h.sink.submit('events', entry(0, 'a', 40, '11')),
      h.sink.submit('events', entry(1, 'b', 30, '21')),
      h.sink.submit('events', entry(0, 'c', 30, '15')), // 100 rows waiting: a flush is due
    ];
    await h.until(() => h.inFlight === 1);
    expect(h.log).toEqual(['insert abc']);
    expect(h.sink.queuedRows('events')).toBe(0);
    h.release();
    expect(await Promise.all(outcomes)).toEqual(['stored', 'stored', 'stored']);
    expect(h.log).toEqual(['insert abc', 'commit 0@15 1@21']);
    expect(await h.metrics.kafkaRows.get()).toMatchObject({ values: [{ value: 100 }] });
  });

  it('waits for rows or time: under flushRows it flushes once the oldest row has waited the interval', async () => {
    const h = harness({ flushRows: 1000, flushIntervalMs: 30 });
    const started = performance.now();
    const stored = h.sink.submit('events', entry(0, 'a', 5, '1'));
    await new Promise((r) => setTimeout(r, 10));
    expect(h.log).toEqual([]); // neither enough rows nor old enough yet
    await h.until(() => h.inFlight === 1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
    h.release();
    expect(await stored).toBe('stored');
  });

  it('takes what waited during an insert into the next one, and never inserts past a failed one', async () => {
    const h = harness({ flushRows: 10 });
    const first = h.sink.submit('events', entry(0, 'a', 10, '1'));
    await h.until(() => h.inFlight === 1);
    const later = [h.sink.submit('events', entry(0, 'b', 6, '2')), h.sink.submit('events', entry(1, 'c', 4, '7'))];
    expect(h.sink.queuedRows('events')).toBe(10);
    h.fail(); // the store is away: the same rows again, before anything after them
    await h.until(() => h.inFlight === 1);
    expect(h.log).toEqual(['insert a', 'insert a']);
    expect(await h.metrics.kafkaPaused.get()).toMatchObject({ values: [{ labels: { topic: 't', partition: '0' }, value: 1 }] });
    h.release();
    expect(await first).toBe('stored');
    expect((await h.metrics.kafkaPaused.get()).values[0].value).toBe(0);
    // b and c waited meanwhile, enough rows for the next insert together.
    await h.until(() => h.inFlight === 1);
    h.release();
    expect(await Promise.all(later)).toEqual(['stored', 'stored']);
    expect(h.log).toEqual(['insert a', 'insert a', 'commit 0@1', 'insert bc', 'commit 0@2 1@7']);
  });

  it('on revoke drops the rows not yet inserted and commits nothing for the insert in flight', async () => {
    const h = harness({ flushRows: 10 });
    const inFlight = h.sink.submit('events', entry(0, 'a', 10, '1'));
    await h.until(() => h.inFlight === 1);
    const queued = h.sink.submit('events', entry(0, 'b', 3, '2'));
    h.sink.revoke();
    expect(await queued).toBe('dropped');
    expect(h.sink.queuedRows('events')).toBe(0);
    h.release();
    expect(await inFlight).toBe('dropped');
    // A new generation starts clean: its rows are stored and committed as usual.
    const next = h.sink.submit('events', entry(0, 'c', 10, '1'));
    await h.until(() => h.inFlight === 1);
    h.release();
    expect(await next).toBe('stored');
    expect(h.log).toEqual(['insert a', 'insert c', 'commit 0@1']);
  });

  it('stops retrying rows that were revoked while the store was away', async () => {
    const h = harness({ flushRows: 1 });
    const stored = h.sink.submit('events', entry(0, 'a', 1, '1'));
    await h.until(() => h.inFlight === 1);
    h.fail();
    await h.until(() => h.inFlight === 1);
    h.sink.revoke();
    h.fail();
    expect(await stored).toBe('dropped');
    expect(h.log).toEqual(['insert a', 'insert a']);
    expect((await h.metrics.kafkaPaused.get()).values[0].value).toBe(0);
  });

  it('settles an urgent entry (its caller commits it) after the commits queued before it, and does not commit it', async () => {
    const h = harness({ flushRows: 1000 });
    void h.sink.submit('events', entry(0, 'a', 5, '3'));
    const urgent = h.sink.submit('events', entry(0, 'b', 2, null), true);
    await h.until(() => h.inFlight === 1);
    h.release();
    expect(await urgent).toBe('stored');
    expect(h.log).toEqual(['insert ab', 'commit 0@3']);
  });

  it('drain stores and commits everything waiting, however few rows', async () => {
    const h = harness({ flushRows: 1000 });
    void h.sink.submit('events', entry(2, 'a', 1, '9'));
    void h.sink.submit('labels', entry(3, 'b', 0, '4')); // nothing to store, an offset to move
    const drained = h.sink.drain();
    await h.until(() => h.inFlight === 1);
    h.release();
    await drained;
    expect(h.log).toEqual(['insert a', 'commit 3@4', 'commit 2@9']);
  });
});

describe('stop', () => {
  it('waits for a stuck insert only as long as it is given, then drops what it holds and commits nothing', async () => {
    const h = harness({ flushRows: 1 });
    const inFlight = h.sink.submit('events', entry(0, 'a', 1, '1'));
    const queued = h.sink.submit('events', entry(0, 'b', 1, '2'));
    await h.until(() => h.inFlight === 1);
    const started = performance.now();
    await h.sink.stop(30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
    expect(await queued).toBe('dropped');
    h.release(); // the store answers at last: too late to commit
    expect(await inFlight).toBe('dropped');
    expect(h.log).toEqual(['insert a']);
  });
});

describe('commitsFor', () => {
  it('takes the highest offset per partition, beyond 2^53, skipping entries committed elsewhere', () => {
    expect(
      commitsFor([entry(0, '', 1, '9007199254740993'), entry(0, '', 1, '9007199254740995'), entry(1, '', 1, '10'), entry(1, '', 1, '9'), entry(2, '', 1, null)]),
    ).toEqual([
      { topic: 't', partition: 0, offset: '9007199254740995' },
      { topic: 't', partition: 1, offset: '10' },
    ]);
  });
});

describe('flushDue', () => {
  const options = { flushRows: 100, flushIntervalMs: 500 };
  it('flushes on rows, age, an urgent entry or a drain, and not before', () => {
    expect(flushDue({ rows: 99, urgent: 0, oldestAgeMs: 499 }, options, false)).toBe(false);
    expect(flushDue({ rows: 100, urgent: 0, oldestAgeMs: 0 }, options, false)).toBe(true);
    expect(flushDue({ rows: 1, urgent: 0, oldestAgeMs: 500 }, options, false)).toBe(true);
    expect(flushDue({ rows: 1, urgent: 1, oldestAgeMs: 0 }, options, false)).toBe(true);
    expect(flushDue({ rows: 1, urgent: 0, oldestAgeMs: 0 }, options, true)).toBe(true);
  });
});

describe('KafkaSink under random failures and rebalances', () => {
  /** A small deterministic generator, so a failing seed can be replayed. */
  const rng = (seed: number) => () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);

  it('never commits an offset before every row under it in its partition is stored', async () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const random = rng(seed);
      const partitions = 3;
      const messages = 60;
      const stored = new Set<string>();
      const committed = new Map<number, number>();
      const violations: string[] = [];
      let failing = true;
      const sink = new KafkaSink(
        { flushRows: 1 + Math.floor(random() * 8), flushIntervalMs: 1, retry: { initialMs: 1, maxMs: 1 } },
        {
          insert: async (_stream, bytes) => {
            await new Promise((r) => setImmediate(r));
            if (failing && random() < 0.3) throw new Error('store down');
            for (const id of text(bytes).split(',').filter(Boolean)) stored.add(id);
          },
          commit: async (offsets) => {
            for (const { partition, offset } of offsets) {
              for (let o = 0; o < Number(offset); o++) if (!stored.has(`${partition}:${o}`)) violations.push(`seed ${seed}: ${partition}@${offset} committed before ${partition}:${o} was stored`);
              committed.set(partition, Number(offset));
            }
          },
          metrics: createMetrics(),
          log: { warn: () => {} },
          sleep: async () => {},
        },
      );
      // The client: reads each partition on from where it is, and after a rebalance from the committed offsets.
      const position = new Map<number, number>();
      const readSome = () => {
        const open = [...Array(partitions).keys()].filter((p) => (position.get(p) ?? 0) < messages);
        if (open.length === 0) return false;
        const p = open[Math.floor(random() * open.length)];
        const from = position.get(p) ?? 0;
        const to = Math.min(messages, from + 1 + Math.floor(random() * 5));
        const ids = Array.from({ length: to - from }, (_, i) => `${p}:${from + i},`).join('');
        void sink.submit('events', { topic: 't', partition: p, encoded: Buffer.from(ids), rows: to - from, commitOffset: String(to) });
        position.set(p, to);
        return true;
      };
      for (let step = 0; step < 400; step++) {
        if (random() < 0.03) {
          sink.revoke();
          for (let p = 0; p < partitions; p++) position.set(p, committed.get(p) ?? 0);
        } else if (!readSome() || random() < 0.3) {
          await new Promise((r) => setTimeout(r, random() * 3));
        }
      }
      failing = false;
      // The rest of every partition, then a stop.
      for (let p = 0; p < partitions; p++) position.set(p, Math.min(position.get(p) ?? 0, committed.get(p) ?? 0));
      while (readSome());
      await sink.drain();
      expect(violations).toEqual([]);
      for (let p = 0; p < partitions; p++) {
        expect(committed.get(p)).toBe(messages);
        for (let o = 0; o < messages; o++) expect(stored.has(`${p}:${o}`)).toBe(true);
      }
    }
  });
});
