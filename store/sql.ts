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

/**
 * Bounds on one statement, set by whoever answers for it (store/bounded.ts
 * for the API's analysis routes); the scheduler and ingest give none.
 */
export interface QueryOptions {
  /**
   * When the statement must be done (epoch ms): it runs with the time left
   * as its engine-side limit (ClickHouse max_execution_time, throwing on
   * overflow), which the engine checks while it runs, and does not start
   * once it has passed. The limit applies to statements that read rows
   * (SELECT, INSERT ... SELECT); DDL and INSERT ... VALUES take none.
   */
  deadline?: number;
  /**
   * Cancels the statement: one that has not started yet never starts. A
   * running one is stopped in the engine where the backend can (server: the
   * HTTP request is dropped and the query killed by its id); chDB cannot
   * interrupt a running query, so there it runs on, bounded by `deadline`.
   */
  signal?: AbortSignal;
  /**
   * The engine's memory ceiling for the statement (ClickHouse
   * max_memory_usage): past it the engine stops the statement with
   * MEMORY_LIMIT_EXCEEDED instead of growing until the process is killed.
   * Set by store/memory-ceiling.ts for analysis statements.
   */
  maxMemoryBytes?: number;
}

/** A bounded statement that never started: cancelled, or its deadline passed while it waited. */
export class StatementSkipped extends Error {
  override name = 'StatementSkipped';
  constructor(readonly reason: 'cancelled' | 'deadline') {
    super(reason === 'cancelled' ? 'cancelled before it started' : 'its deadline passed before it started');
  }
}

/** Why a bounded statement must not start now, if it must not. */
export const mustSkip = (options: QueryOptions | undefined, now = Date.now()): StatementSkipped | null =>
  options?.signal?.aborted ? new StatementSkipped('cancelled') : options?.deadline !== undefined && options.deadline <= now ? new StatementSkipped('deadline') : null;

export interface Sql {
  readonly backend: 'embedded' | 'server';
  /** Runs a SELECT and returns its rows (JSONEachRow, 64-bit integers as numbers). */
  query<T>(sql: string, params?: Params, options?: QueryOptions): Promise<T[]>;
  /** Runs a statement that returns nothing useful (DDL, INSERT ... SELECT). */
  command(sql: string, params?: Params, options?: QueryOptions): Promise<void>;
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

/** Whether a statement reads rows, so that an engine time limit means something for it (see QueryOptions). */
export const readsRows = (sql: string): boolean =>
  /^\s*(SELECT|WITH)\b/i.test(sql) || (/^\s*INSERT\b/i.test(sql) && /\bSELECT\b/i.test(sql) && !/\bVALUES\s*\(/i.test(sql));

/** The engine settings one statement runs with under `options` (none for one that reads no rows). */
export function statementSettings(sql: string, options: QueryOptions | undefined, now = Date.now()): Record<string, number | string> {
  if (!options || !readsRows(sql)) return {};
  return {
    ...(options.deadline !== undefined ? timeLimitSettings(options.deadline - now) : {}),
    ...(options.maxMemoryBytes !== undefined ? { max_memory_usage: Math.floor(options.maxMemoryBytes) } : {}),
  };
}

/** The engine settings that enforce `timeoutMs`: throw rather than return a partial answer. */
export const timeLimitSettings = (timeoutMs: number) => ({
  max_execution_time: Math.max(timeoutMs, 1) / 1000,
  timeout_overflow_mode: 'throw',
}) as const;
