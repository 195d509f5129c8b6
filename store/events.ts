import type { EventRow, LabelRow } from '../core/event.ts';
import { RowBinaryWriter } from './rowbinary.ts';
import { msParam, type Sql } from './sql.ts';

export const EVENT_COLUMNS = [
  'model', 'event_id', 'model_version', 'ts', 'num', 'cat', 'missing',
  'prediction_num', 'prediction_cat', 'scores', 'latency_ms', 'tags', 'status', 'error_type',
] as const satisfies readonly (keyof EventRow)[];

/**
 * The events columns of each journal layout (ingest/journal.ts): rows a
 * crashed older version journaled are stored in the columns it encoded.
 * Layout 1 predates status and error_type (migration 8); they take their defaults.
 */
export const EVENT_COLUMN_LAYOUTS: Readonly<Record<number, readonly string[]>> = {
  1: EVENT_COLUMNS.filter((c) => c !== 'status' && c !== 'error_type'),
  2: EVENT_COLUMNS,
};

export const LABEL_COLUMNS = ['model', 'event_id', 'label_num', 'label_cat', 'ts'] as const satisfies readonly (keyof LabelRow)[];

/** Encodes rows as JSONCompactEachRow text, one line per row, values in `columns` order. */
export function encodeCompact<Row>(rows: readonly Row[], columns: readonly (keyof Row)[]): string {
  const lines = new Array<string>(rows.length);
  const values = new Array<unknown>(columns.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    for (let c = 0; c < columns.length; c++) values[c] = row[columns[c]];
    lines[r] = JSON.stringify(values);
  }
  return lines.length > 0 ? lines.join('\n') + '\n' : '';
}

// One writer per thread, reused: its buffer grows to the largest batch once.
const writer = new RowBinaryWriter();

/** Appends one event row to `w` as RowBinary in EVENT_COLUMNS order: what the events table takes. */
export function writeEventRow(w: RowBinaryWriter, r: EventRow): void {
  w.string(r.model);
  w.string(r.event_id);
  w.string(r.model_version);
  w.int64(r.ts);
  w.floatMap(r.num);
  w.stringMap(r.cat);
  w.stringArray(r.missing);
  w.nullableFloat64(r.prediction_num);
  w.nullableString(r.prediction_cat);
  w.floatMap(r.scores);
  w.nullableFloat64(r.latency_ms);
  w.stringMap(r.tags);
  w.string(r.status ?? 'ok');
  w.string(r.error_type ?? '');
}

/** Encodes event rows as RowBinary in EVENT_COLUMNS order. */
export function encodeEvents(rows: readonly EventRow[]): Uint8Array {
  for (const r of rows) writeEventRow(writer, r);
  return writer.take();
}

/** Encodes label rows as RowBinary in LABEL_COLUMNS order. */
export function encodeLabels(rows: readonly LabelRow[]): Uint8Array {
  for (const r of rows) {
    writer.string(r.model);
    writer.string(r.event_id);
    writer.nullableFloat64(r.label_num);
    writer.nullableString(r.label_cat);
    writer.int64(r.ts);
  }
  return writer.take();
}

export async function insertEvents(sql: Sql, rows: readonly EventRow[]): Promise<void> {
  if (rows.length > 0) await sql.insertRowBinary('events', EVENT_COLUMNS, encodeEvents(rows));
}

export async function insertLabels(sql: Sql, rows: readonly LabelRow[]): Promise<void> {
  if (rows.length > 0) await sql.insertRowBinary('labels', LABEL_COLUMNS, encodeLabels(rows));
}

export interface ModelSummary {
  model: string;
  events: number;
  labels: number;
  first_event: string;
  last_event: string;
  versions: string[];
}

export async function listModels(sql: Sql): Promise<ModelSummary[]> {
  const rows = await sql.query<ModelSummary & { first_ms: number; last_ms: number }>(
    `SELECT e.model AS model, e.events AS events, ifNull(l.labels, 0) AS labels,
            toUnixTimestamp64Milli(e.first_event) AS first_ms,
            toUnixTimestamp64Milli(e.last_event) AS last_ms, e.versions AS versions
     FROM (SELECT model, count() AS events, min(ts) AS first_event, max(ts) AS last_event,
                  arraySort(groupUniqArray(100)(model_version)) AS versions
           FROM events FINAL GROUP BY model) AS e
     LEFT JOIN (SELECT model, count() AS labels FROM labels FINAL GROUP BY model) AS l USING (model)
     ORDER BY model`,
  );
  return rows.map(({ first_ms, last_ms, ...r }) => ({
    ...r,
    events: Number(r.events),
    labels: Number(r.labels),
    first_event: new Date(Number(first_ms)).toISOString(),
    last_event: new Date(Number(last_ms)).toISOString(),
  }));
}

export async function countEvents(sql: Sql, model: string, from: number, to: number): Promise<number> {
  const [row] = await sql.query<{ n: number }>(
    `SELECT count() AS n FROM events FINAL
     WHERE model = {model:String} AND ts >= ${msParam('from')} AND ts < ${msParam('to')}`,
    { model, from, to },
  );
  return Number(row?.n ?? 0);
}
