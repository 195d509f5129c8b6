import type { Params, QueryOptions, RowBytes, Sql } from './sql.ts';

/** An analysis statement needed more memory than ANALYSIS_MAX_MEMORY_BYTES allows; the engine stopped it. */
export class AnalysisMemoryError extends Error {
  override name = 'AnalysisMemoryError';
  constructor(readonly maxMemoryBytes: number, options?: ErrorOptions) {
    super(`the analysis needed more memory than its ceiling of ${maxMemoryBytes} bytes`, options);
  }
}

// ClickHouse's MEMORY_LIMIT_EXCEEDED, as chDB words it and as the server client codes it.
const isMemoryLimit = (err: unknown) =>
  /\bMEMORY_LIMIT_EXCEEDED\b|Code: 241\b/.test(String((err as Error)?.message)) || (err as { code?: string })?.code === '241';

/**
 * The store as analysis sees it: every statement that reads rows runs with
 * the engine's max_memory_usage at `maxMemoryBytes`, so a window too large
 * for the machine fails that one statement with AnalysisMemoryError (the
 * engine frees what it held) instead of the kernel killing the process and
 * ingest with it. Inserts of rows pass through untouched: they are bounded
 * by their batch size, and a refused insert would lose acknowledged events.
 */
export function withMemoryCeiling(sql: Sql, maxMemoryBytes: number): Sql {
  const capped = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw isMemoryLimit(err) ? new AnalysisMemoryError(maxMemoryBytes, { cause: err }) : err;
    }
  };
  const options = (given?: QueryOptions): QueryOptions => ({ ...given, maxMemoryBytes: Math.min(given?.maxMemoryBytes ?? Infinity, maxMemoryBytes) });
  return {
    backend: sql.backend,
    query: <T>(text: string, params?: Params, given?: QueryOptions) => capped(() => sql.query<T>(text, params, options(given))),
    command: (text: string, params?: Params, given?: QueryOptions) => capped(() => sql.command(text, params, options(given))),
    insertCompact: (table: string, columns: readonly string[], rows: Buffer) => sql.insertCompact(table, columns, rows),
    insertRowBinary: (table: string, columns: readonly string[], rows: RowBytes) => sql.insertRowBinary(table, columns, rows),
    // The store is the service's; this view of it has nothing to close.
    close: async () => {},
  };
}
