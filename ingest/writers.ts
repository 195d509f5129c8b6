import { EVENT_COLUMNS, LABEL_COLUMNS } from '../store/events.ts';
import type { Sql } from '../store/sql.ts';
import { InsertBatcher, type BatcherOptions } from './batcher.ts';
import type { Stream } from './ingest.ts';

export type Writers = Record<Stream, InsertBatcher>;

/** One group-commit writer per table. */
export function createWriters(sql: Sql, options: BatcherOptions): Writers {
  return {
    events: new InsertBatcher((text) => sql.insertCompact('events', EVENT_COLUMNS, Buffer.from(text)), options),
    labels: new InsertBatcher((text) => sql.insertCompact('labels', LABEL_COLUMNS, Buffer.from(text)), options),
  };
}

export async function flushWriters(writers: Writers): Promise<void> {
  await Promise.all(Object.values(writers).map((w) => w.flush()));
}
