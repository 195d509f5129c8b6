/**
 * The one seam between driftwatch and ClickHouse. Two backends implement it:
 * the embedded engine (chDB, in-process) and a ClickHouse server. Everything
 * above this file speaks SQL with `{name:Type}` placeholders; values always
 * travel separately as bound parameters, never spliced into the text.
 */
export type Params = Record<string, unknown>;

/**
 * Encoded rows as they are handed on: one buffer, or pieces to be written
 * one after another. A flush of a few hundred request batches stays in its
 * pieces down to the write into the engine: joining them first cost the
 * event loop a copy of every row (0.15 µs an event) and a fresh 30 MB buffer
 * per flush for the collector.
 */
export type RowBytes = Uint8Array | readonly Uint8Array[];

export const rowPieces = (bytes: RowBytes): readonly Uint8Array[] => (bytes instanceof Uint8Array ? [bytes] : bytes);

export interface Sql {
  readonly backend: 'embedded' | 'server';
  /** Runs a SELECT and returns its rows (JSONEachRow, 64-bit integers as numbers). */
  query<T>(sql: string, params?: Params): Promise<T[]>;
  /** Runs a statement that returns nothing useful (DDL, INSERT ... SELECT). */
  command(sql: string, params?: Params): Promise<void>;
  /**
   * Inserts rows already encoded as JSONCompactEachRow (one JSON array per
   * line, values in the order of `columns`): the cheapest text format for the
   * engine to parse, and JSON.stringify writes it natively.
   */
  insertCompact(table: string, columns: readonly string[], rows: Buffer): Promise<void>;
  /**
   * Inserts rows encoded as RowBinary (store/rowbinary.ts), values in the
   * order of `columns`: the ingest path, where the engine's parse cost counts.
   */
  insertRowBinary(table: string, columns: readonly string[], rows: RowBytes): Promise<void>;
  close(): Promise<void>;
}

/** Millisecond timestamps bind as Int64 and become DateTime64 inside SQL. */
export const msParam = (name: string) => `fromUnixTimestamp64Milli({${name}:Int64}, 'UTC')`;
