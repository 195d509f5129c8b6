import { EVENT_COLUMNS, LABEL_COLUMNS } from '../store/events.ts';
import type { Metrics } from '../core/metrics.ts';
import type { Sql } from '../store/sql.ts';
import { InsertBatcher, type BatcherOptions } from './batcher.ts';
import type { Stream } from './ingest.ts';

export type Writers = Record<Stream, InsertBatcher>;

/** One group-commit writer per table, each insert measured. */
export function createWriters(sql: Sql, options: BatcherOptions, metrics: Metrics): Writers {
  const writer = (table: Stream, columns: readonly string[]) =>
    new InsertBatcher(async (bytes, rows) => {
      const started = performance.now();
      await sql.insertRowBinary(table, columns, bytes);
      metrics.storeInsertSeconds.observe({ table }, (performance.now() - started) / 1000);
      metrics.storeInsertRows.observe({ table }, rows);
    }, options);
  return { events: writer('events', EVENT_COLUMNS), labels: writer('labels', LABEL_COLUMNS) };
}

export async function flushWriters(writers: Writers): Promise<void> {
  await Promise.all(Object.values(writers).map((w) => w.flush()));
}
