import { describe, expect, it } from 'vitest';
import { settleWithin } from '../../core/within.ts';
import { Flusher, type FlushEntry } from '../../ingest/flusher.ts';
import { rowText as text } from './row-text.ts';

/** Inserts finish when the test says so; what was inserted and acknowledged is recorded. */
function harness() {
  const log: string[] = [];
  const gates: (() => void)[] = [];
  const flusher = new Flusher<FlushEntry>(
    { flushRows: 1_000, flushIntervalMs: 60_000, retry: { initialMs: 1, maxMs: 2 } },
    {
      insert: (_stream, bytes) =>
        new Promise<void>((resolve) => {
          log.push(`insert ${text(bytes)}`);
          gates.push(resolve);
        }),
      afterStored: async (_stream, entries) => void log.push(`stored ${entries.map((e) => text(e.encoded)).join('')}`),
    },
  );
  const entry = (text: string): FlushEntry => ({ encoded: Buffer.from(text), rows: 1 });
  const tick = () => new Promise((r) => setTimeout(r, 5));
  return { flusher, log, entry, tick, release: () => gates.shift()!() };
}

describe('Flusher.settled (what reads of acknowledged rows wait for)', () => {
  it('stores what waits now instead of at the interval, and settles only once it is stored', async () => {
    const h = harness();
    void h.flusher.submit('events', h.entry('a'));
    void h.flusher.submit('labels', h.entry('b'));
    await h.tick();
    expect(h.log).toEqual([]); // 2 rows of 1,000, a minute to wait
    let settled = false;
    const done = h.flusher.settled().then(() => (settled = true));
    await h.tick();
    expect(h.log.sort()).toEqual(['insert a', 'insert b']);
    h.release();
    await h.tick();
    expect(settled).toBe(false); // one stream stored, the other not yet
    h.release();
    await done;
    expect(h.log.filter((l) => l.startsWith('stored')).sort()).toEqual(['stored a', 'stored b']);
  });

  it('waits for the insert in flight, and does not hurry what comes after it', async () => {
    const h = harness();
    void h.flusher.submit('events', h.entry('a'));
    const first = h.flusher.settled();
    await h.tick();
    void h.flusher.submit('events', h.entry('c')); // after the call: not waited for, not hurried
    let settled = false;
    const second = h.flusher.settled().then(() => (settled = true));
    await h.tick();
    expect(h.log).toEqual(['insert a']);
    h.release();
    await first;
    await h.tick();
    // The second call hurried 'c' (it was waiting when it was made) once 'a' was stored.
    expect(h.log).toEqual(['insert a', 'stored a', 'insert c']);
    expect(settled).toBe(false);
    h.release();
    await second;
    void h.flusher.submit('events', h.entry('d'));
    await h.tick();
    expect(h.log).toEqual(['insert a', 'stored a', 'insert c', 'stored c']); // 'd' waits for its interval
    await h.flusher.stop(10);
  });

  it('settles at once when nothing was submitted', async () => {
    await harness().flusher.settled();
  });
});

describe("Flusher.submitted (a read's place in ingest's order)", () => {
  it('counts every entry of every stream, stored or not, and never goes back', async () => {
    const h = harness();
    expect(h.flusher.submitted()).toBe(0);
    void h.flusher.submit('events', h.entry('a'));
    void h.flusher.submit('labels', h.entry('b'));
    const mark = h.flusher.submitted();
    expect(mark).toBe(2);
    const settled = h.flusher.settled();
    await h.tick();
    h.release();
    h.release();
    await settled;
    // Once what was submitted before `mark` is stored, a read with a mark no larger finds its rows.
    expect(h.log.filter((l) => l.startsWith('stored')).sort()).toEqual(['stored a', 'stored b']);
    expect(h.flusher.submitted()).toBe(mark);
    void h.flusher.submit('events', h.entry('c'));
    expect(h.flusher.submitted()).toBe(mark + 1);
  });
});

describe('settleWithin', () => {
  it('answers whether the work finished in time', async () => {
    expect(await settleWithin(new Promise((r) => setTimeout(r, 5)), 1_000)).toBe(true);
    expect(await settleWithin(new Promise(() => {}), 20)).toBe(false);
  });
});
