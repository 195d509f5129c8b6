import { StatementSkipped, type Params, type QueryOptions, type RowBytes, type Sql } from './sql.ts';

/** The statements of a bounded piece of work ran out of its time. */
export class QueryTimeoutError extends Error {
  override name = 'QueryTimeoutError';
  constructor(readonly timeoutMs: number, options?: ErrorOptions) {
    super(`the analysis took longer than its limit of ${timeoutMs} ms`, options);
  }
}

/** The work was cancelled (its client went away, or the service is stopping). */
export class QueryCancelledError extends Error {
  override name = 'QueryCancelledError';
}

export interface Bounds {
  /** Fires when the answer is no longer wanted. */
  signal: AbortSignal;
  /** The time the work may take, all its statements together. */
  timeoutMs: number;
}

// ClickHouse's TIMEOUT_EXCEEDED, as chDB words it and as the server client codes it.
const isEngineTimeout = (err: unknown) =>
  /\bTIMEOUT_EXCEEDED\b|Code: 159\b/.test(String((err as Error)?.message)) || (err as { code?: string })?.code === '159';

/**
 * A store whose statements share one deadline and one signal: each runs
 * with the time left as its engine-side limit, and none starts once the
 * signal fired or the time is up (the backends check as each one's turn
 * comes). A request's many statements (a drift report runs several, one set
 * per segment) are bounded together, as the client sees them.
 *
 * Inserts are left alone: they are the request's own writes (a baseline),
 * small and not worth leaving half done.
 */
export function boundedSql(sql: Sql, bounds: Bounds): Sql {
  const deadline = Date.now() + bounds.timeoutMs;
  const bounded = async <T>(run: (options: QueryOptions) => Promise<T>): Promise<T> => {
    try {
      return await run({ signal: bounds.signal, deadline });
    } catch (err) {
      if (bounds.signal.aborted) throw new QueryCancelledError('cancelled', { cause: err });
      if (isEngineTimeout(err) || (err instanceof StatementSkipped && err.reason === 'deadline')) throw new QueryTimeoutError(bounds.timeoutMs, { cause: err });
      throw err;
    }
  };
  return {
    backend: sql.backend,
    query: <T>(text: string, params?: Params) => bounded((options) => sql.query<T>(text, params, options)),
    command: (text: string, params?: Params) => bounded((options) => sql.command(text, params, options)),
    insertCompact: (table: string, columns: readonly string[], rows: Buffer) => sql.insertCompact(table, columns, rows),
    insertRowBinary: (table: string, columns: readonly string[], rows: RowBytes) => sql.insertRowBinary(table, columns, rows),
    // The store is the service's; a request's view of it has nothing to close.
    close: async () => {},
  };
}
