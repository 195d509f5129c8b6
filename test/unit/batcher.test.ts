import { describe, expect, it } from 'vitest';
import { BusyError, InsertBatcher, planBatch } from '../../ingest/batcher.ts';
import type { RowBytes } from '../../store/sql.ts';
import { rowText as text } from './row-text.ts';

/** A stand-in store whose inserts finish when the test says so. */
function gatedStore() {
  const inserts: string[] = [];
  const gates: (() => void)[] = [];
  const failures: ((e: Error) => void)[] = [];
  return {
    inserts,
    insert: (rows: RowBytes) =>
      new Promise<void>((resolve, reject) => {
        inserts.push(text(rows));
        gates.push(resolve);
        failures.push(reject);
      }),
    release: () => gates.shift()!(),
    fail: (e: Error) => {
      gates.shift();
      failures.shift()!(e);
    },
    get waiting() {
      return gates.length;
    },
  };
}

// Rows are opaque bytes to the batcher; text keeps these tests readable.
const bytes = (text: string) => Buffer.from(text);
const tick = () => new Promise((r) => setImmediate(r));

describe('planBatch', () => {
  it('takes at least one entry and stops before exceeding the cap', () => {
    expect(planBatch([], 10)).toBe(0);
    expect(planBatch([50], 10)).toBe(1);
    expect(planBatch([3, 3, 3, 3], 10)).toBe(3);
    expect(planBatch([3, 7, 1], 10)).toBe(2);
  });
});

describe('InsertBatcher', () => {
  it('inserts at once when idle, and coalesces what arrives during an insert', async () => {
    const store = gatedStore();
    const batcher = new InsertBatcher(store.insert, { maxBatchRows: 1000, maxPendingRows: 1000 });
    const done: string[] = [];
    const first = batcher.add(bytes('a\n'), 1).then(() => done.push('a'));
    await tick();
    expect(store.inserts).toEqual(['a\n']);
    const rest = ['b', 'c', 'd'].map((x) => batcher.add(bytes(`${x}\n`), 1).then(() => done.push(x)));
    await tick();
    expect(store.inserts).toHaveLength(1); // b, c, d wait for a's insert
    expect(batcher.waitingRows).toBe(3);
    store.release();
    await first;
    await tick();
    expect(store.inserts).toEqual(['a\n', 'b\nc\nd\n']);
    expect(done).toEqual(['a']); // b, c, d are not acknowledged before they are stored
    store.release();
    await Promise.all(rest);
    expect(done).toEqual(['a', 'b', 'c', 'd']);
  });

  it('fails exactly the requests whose insert failed', async () => {
    const store = gatedStore();
    const batcher = new InsertBatcher(store.insert, { maxBatchRows: 1000, maxPendingRows: 1000 });
    const a = batcher.add(bytes('a\n'), 1);
    await tick();
    const b = batcher.add(bytes('b\n'), 1);
    store.fail(new Error('store down'));
    await expect(a).rejects.toThrow('store down');
    await tick();
    store.release();
    await expect(b).resolves.toBeUndefined();
  });

  it('refuses new rows with BusyError once the queue is full, and recovers', async () => {
    const store = gatedStore();
    const batcher = new InsertBatcher(store.insert, { maxBatchRows: 1000, maxPendingRows: 10 });
    const inFlight = batcher.add(bytes('x\n'), 5);
    await tick();
    const queued = batcher.add(bytes('y\n'), 8);
    await expect(batcher.add(bytes('z\n'), 5)).rejects.toBeInstanceOf(BusyError);
    store.release();
    await inFlight;
    await tick();
    store.release();
    await queued;
    await expect(Promise.race([batcher.add(bytes('z\n'), 5), tick().then(() => store.release())])).resolves.toBeUndefined();
  });

  it('splits a long queue into inserts of at most maxBatchRows', async () => {
    const store = gatedStore();
    const batcher = new InsertBatcher(store.insert, { maxBatchRows: 4, maxPendingRows: 100 });
    const all = [batcher.add(bytes('0\n'), 2)];
    await tick();
    for (let i = 1; i <= 4; i++) all.push(batcher.add(bytes(`${i}\n`), 2));
    while (store.waiting > 0 || batcher.waitingRows > 0) {
      store.release();
      await tick();
    }
    await Promise.all(all);
    await batcher.flush();
    expect(store.inserts).toEqual(['0\n', '1\n2\n', '3\n4\n']);
  });
});
