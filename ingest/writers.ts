import { EVENT_COLUMNS, LABEL_COLUMNS } from '../store/events.ts';
import type { Metrics } from '../core/metrics.ts';
import type { RowBytes, Sql } from '../store/sql.ts';
import { InsertBatcher, type BatcherOptions } from './batcher.ts';
import type { Stream } from './ingest.ts';

/** Where a stream's encoded rows go: the store's group commit, or the journal in front of it (ingest/journaled.ts). */
export interface RowWriter {
  /** Resolves once the rows are stored (or journaled); BusyError when too many wait. */
  add(bytes: RowBytes, rows: number): Promise<void>;
}

export type Writers = Record<Stream, RowWriter>;
export type StoreWriters = Record<Stream, InsertBatcher>;

/** One group-commit writer per table, each insert measured. */
export function createWriters(sql: Sql, options: BatcherOptions, metrics: Metrics): StoreWriters {
  const writer = (table: Stream, columns: readonly string[]) =>
    new InsertBatcher(async (bytes, rows) => {
      const started = performance.now();
      await sql.insertRowBinary(table, columns, bytes);
      metrics.storeInsertSeconds.observe({ table }, (performance.now() - started) / 1000);
      metrics.storeInsertRows.observe({ table }, rows);
    }, options);
  return { events: writer('events', EVENT_COLUMNS), labels: writer('labels', LABEL_COLUMNS) };
}

export async function flushWriters(writers: StoreWriters): Promise<void> {
  await Promise.all(Object.values(writers).map((w) => w.flush()));
}
