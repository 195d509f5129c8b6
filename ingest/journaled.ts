import { unlink } from 'node:fs/promises';
import { isDiskFull } from '../core/disk.ts';
import type { Metrics } from '../core/metrics.ts';
import { settleWithin } from '../core/within.ts';
import { BusyError } from './batcher.ts';
import { Flusher, type FlushEntry, type FlusherOptions } from './flusher.ts';
import { Journal, JOURNAL_LAYOUT, leftoverSegments, lockJournal, readSegment } from './journal.ts';
import type { Stream } from './prepare.ts';
import type { RowWriter, Writers } from './writers.ts';

/**
 * INGEST_ACK=journaled: a request's rows are acknowledged once they are in
 * the local journal (on disk), and stored by a flusher in inserts of up to
 * INGEST_FLUSH_ROWS rows, whatever the senders' concurrency. Acknowledging
 * on store would cap an insert at the rows of the requests in flight (8,000
 * with 16 requests of 500), and inserts that small cost the engine about
 * twice the CPU an event. The journal keeps "acknowledged" meaning "will be
 * stored, even across a crash": what a crash leaves in it is stored at the
 * next start, before the service listens.
 */
interface JournalEntry extends FlushEntry {
  segment: number;
}

export interface JournaledOptions extends FlusherOptions {
  dir: string;
  segmentBytes: number;
  /** Rows acknowledged but not yet stored, per stream, beyond which requests get 503 (bounded memory). */
  maxUnstoredRows: number;
  /**
   * Stores the rows of a segment an older version wrote in an older column
   * layout (JOURNAL_LAYOUT); throws for a layout it does not know, which
   * stops the start with the segment kept.
   */
  storeOlderLayout?: (stream: Stream, layout: number, bytes: Buffer, rows: number) => Promise<void>;
}

export interface JournaledWriters {
  writers: Writers;
  /** Settles once every row acknowledged before the call is stored: what reads wait for. */
  settled(): Promise<void>;
  /** Ingest entries handed to the store so far (Flusher.submitted): where a read stands in ingest's order. */
  submitted(): number;
  /** Why acknowledged rows cannot be stored now (inserts failing), or null: a readiness check. */
  problem(): string | null;
  /**
   * Stores what waits and closes the journal; what cannot be stored in
   * `timeoutMs` (1 s while inserts fail) stays for the next start, said in
   * one error line.
   */
  close(timeoutMs?: number): Promise<void>;
}

const STREAMS: Stream[] = ['events', 'labels'];

export async function openJournaled(store: Writers, options: JournaledOptions, deps: { metrics: Metrics; log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void } }): Promise<JournaledWriters> {
  const unlock = await lockJournal(options.dir);
  for (const stream of STREAMS) {
    for (const segment of await leftoverSegments(options.dir, stream)) {
      const { bytes, rows } = await readSegment(segment.path);
      if (rows > 0 && segment.layout === JOURNAL_LAYOUT[stream]) await store[stream].add(bytes, rows);
      else if (rows > 0) {
        if (!options.storeOlderLayout) throw new Error(`journal segment ${segment.path} holds ${stream} rows in layout ${segment.layout}, which this version cannot store`);
        await options.storeOlderLayout(stream, segment.layout, bytes, rows);
      }
      // Stored (or empty): only now may the segment go.
      await unlink(segment.path);
    }
  }
  const journals = {
    events: await Journal.open(options.dir, 'events', options.segmentBytes),
    labels: await Journal.open(options.dir, 'labels', options.segmentBytes),
  };
  const unstored = deps.metrics.ingestUnstoredRows;
  /** The last insert failure, while the flusher retries it. */
  let failing: { stream: Stream; since: number; err: unknown } | null = null;
  const flusher = new Flusher<JournalEntry>(options, {
    insert: (stream, bytes, rows) => store[stream].add(bytes, rows),
    async afterStored(stream, entries) {
      for (const e of entries) journals[stream].release(e.segment);
      unstored.set({ stream }, flusher.unstoredRows(stream));
    },
    failed(stream, _entries, err, attempt) {
      failing = { stream, since: failing?.since ?? Date.now(), err };
      if (attempt === 0 || attempt % 10 === 0) deps.log.warn({ err, stream, attempt }, 'store write failed; journaled rows wait and are retried');
    },
    recovered(stream) {
      if (failing?.stream === stream) failing = null;
    },
  });

  const writer = (stream: Stream): RowWriter => ({
    async add(bytes, rows) {
      if (rows === 0) return;
      const waiting = flusher.unstoredRows(stream);
      if (waiting > 0 && waiting + rows > options.maxUnstoredRows) throw new BusyError(waiting);
      const segment = await journals[stream].append(bytes, rows);
      void flusher.submit(stream, { encoded: bytes, rows, segment });
      unstored.set({ stream }, flusher.unstoredRows(stream));
    },
  });

  const cause = (err: unknown) => (isDiskFull(err) ? 'the disk is full' : (err as Error).message.split('\n')[0].slice(0, 200));
  const problem = (): string | null =>
    failing && `store: ${failing.stream} inserts failing for ${Math.round((Date.now() - failing.since) / 1000)}s (${cause(failing.err)}); acknowledged rows wait in the journal`;

  return {
    writers: { events: writer('events'), labels: writer('labels') },
    settled: () => flusher.settled(),
    submitted: () => flusher.submitted(),
    problem,
    async close(timeoutMs = 10_000) {
      // What cannot be stored in time stays in the journal for the next start;
      // with inserts failing there is no point waiting for them.
      await settleWithin(flusher.drain(), failing ? Math.min(timeoutMs, 1_000) : timeoutMs);
      const why = failing ? cause(failing.err) : 'the store did not take them in time';
      const left = STREAMS.reduce((n, s) => n + flusher.unstoredRows(s), 0);
      flusher.revoke();
      await Promise.all(STREAMS.map((s) => journals[s].close()));
      await unlock();
      if (left > 0) deps.log.error({ rows: left, dir: options.dir }, `stopped with ${left} acknowledged rows not yet stored (${why}): they are kept in the journal in ${options.dir} and stored at the next start`);
    },
  };
}
