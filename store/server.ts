import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { mustSkip, rowPieces, statementSettings, type Params, type QueryOptions, type RowBytes, type Sql } from './sql.ts';

export interface ServerOptions {
  url: string;
  username: string;
  password: string;
  database: string;
}

const SETTINGS = {
  output_format_json_quote_64bit_integers: 0,
} as const;

/** The server backend: a ClickHouse server (24.8 or newer) over HTTP. */
export async function openServer(options: ServerOptions): Promise<Sql> {
  // The database may not exist yet: create it through a client that names none.
  const bootstrap = createClient({ url: options.url, username: options.username, password: options.password });
  try {
    await bootstrap.command({
      query: 'CREATE DATABASE IF NOT EXISTS {db:Identifier}',
      query_params: { db: options.database },
    });
  } finally {
    await bootstrap.close();
  }
  const client: ClickHouseClient = createClient({
    url: options.url,
    username: options.username,
    password: options.password,
    database: options.database,
    clickhouse_settings: SETTINGS,
  });

  // A bounded statement carries its own id, so that a cancelled one can be
  // killed: dropping the HTTP request alone leaves the server computing.
  const bounded = (sql: string, options?: QueryOptions) => {
    if (!options?.signal && options?.deadline === undefined) return { request: { clickhouse_settings: statementSettings(sql, options) }, done: () => {} };
    const skip = mustSkip(options);
    if (skip) throw skip;
    const queryId = randomUUID();
    const kill = () => {
      client
        .command({ query: 'KILL QUERY WHERE query_id = {id:String} ASYNC', query_params: { id: queryId } })
        .catch(() => {}); // best effort: the time limit still bounds it
    };
    options.signal?.addEventListener('abort', kill, { once: true });
    return {
      request: {
        query_id: queryId,
        abort_signal: options.signal,
        clickhouse_settings: statementSettings(sql, options),
      },
      done: () => options.signal?.removeEventListener('abort', kill),
    };
  };

  return {
    backend: 'server',
    async query<T>(sql: string, params?: Params, options?: QueryOptions): Promise<T[]> {
      const call = bounded(sql, options);
      try {
        const result = await client.query({ query: sql, query_params: params, format: 'JSONEachRow', ...call.request });
        return (await result.json()) as T[];
      } finally {
        call.done();
      }
    },
    async command(sql: string, params?: Params, options?: QueryOptions): Promise<void> {
      const call = bounded(sql, options);
      try {
        await client.command({ query: sql, query_params: params, ...call.request });
      } finally {
        call.done();
      }
    },
    async insertCompact(table: string, columns: readonly string[], data: Buffer): Promise<void> {
      await client.insert({ table, columns: [...columns] as [string, ...string[]], values: Readable.from([data]), format: 'JSONCompactEachRow' });
    },
    async insertRowBinary(table: string, columns: readonly string[], data: RowBytes): Promise<void> {
      // Table and column names are the store's own constants, never input.
      const result = await client.exec({
        query: `INSERT INTO ${table} (${columns.join(', ')}) FORMAT RowBinary`,
        values: Readable.from(rowPieces(data).map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))),
      });
      result.stream.resume();
      await new Promise<void>((done, fail) => result.stream.once('end', done).once('error', fail));
    },
    async close(): Promise<void> {
      await client.close();
    },
  };
}
