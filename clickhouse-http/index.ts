import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { isIP } from 'node:net';
import type { ApiKey } from '../api/keys.ts';
import type { Config } from '../core/config.ts';
import type { Metrics } from '../core/metrics.ts';
import { lowersPriority, ReadonlyEngine } from './engine.ts';
import { createChHttpServer, listen } from './server.ts';

export interface ChHttp {
  /** Where it listens, e.g. http://127.0.0.1:8123. */
  url: string;
  /** False when CLICKHOUSE_HTTP_NICE asks for a lower priority the engine will not apply (no CAP_SYS_NICE). */
  lowPriority: boolean;
  close(): Promise<void>;
}

/** The database the embedded store keeps its tables in (store/migrations.ts names none). */
export const EMBEDDED_DATABASE = 'default';

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

/** Why the interface must not start on `host` without keys, if it must not. */
export function exposureProblem(host: string, keys: readonly ApiKey[]): string | null {
  if (keys.length > 0 || isLoopback(host)) return null;
  return `the ClickHouse HTTP interface would answer anyone on ${host} without a key: configure API keys (API_KEYS or API_KEYS_FILE), or listen on loopback (CLICKHOUSE_HTTP_HOST=127.0.0.1)`;
}

/**
 * Starts the read-only ClickHouse HTTP interface over the embedded store in
 * `config.DATA_DIR`, which must be open already (its connections join the store's).
 */
export async function startChHttp(config: Config, deps: { keys: readonly ApiKey[]; metrics: Metrics }): Promise<ChHttp> {
  const host = config.CLICKHOUSE_HTTP_HOST ?? config.HOST;
  const engine = await ReadonlyEngine.open(config.DATA_DIR, {
    connections: config.CLICKHOUSE_HTTP_CONNECTIONS,
    maxQueued: config.CLICKHOUSE_HTTP_MAX_QUEUED,
    limits: {
      timeoutMs: config.CLICKHOUSE_HTTP_TIMEOUT,
      maxResultRows: config.CLICKHOUSE_HTTP_MAX_RESULT_ROWS,
      maxResultBytes: config.CLICKHOUSE_HTTP_MAX_RESULT_BYTES,
      maxMemoryBytes: config.CLICKHOUSE_HTTP_MAX_MEMORY_BYTES,
      maxThreads: config.CLICKHOUSE_HTTP_MAX_THREADS,
      nice: config.CLICKHOUSE_HTTP_NICE,
    },
  });
  const server: Server = createChHttpServer(engine, deps.metrics, {
    database: EMBEDDED_DATABASE,
    keys: deps.keys.filter((k) => k.scopes.length > 0),
    bodyLimitBytes: config.CLICKHOUSE_HTTP_BODY_LIMIT_BYTES,
  });
  // A request may take the engine time limit plus its wait for a connection.
  server.requestTimeout = config.CLICKHOUSE_HTTP_TIMEOUT * 2 + 10_000;
  server.headersTimeout = config.HTTP_HEADERS_TIMEOUT;
  let url: string;
  try {
    url = await listen(server, config.CLICKHOUSE_HTTP_PORT ?? 8123, host);
  } catch (err) {
    engine.close();
    throw err;
  }
  let status = '';
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    // not Linux: the engine sets no thread priority there either
  }
  return {
    url,
    lowPriority: config.CLICKHOUSE_HTTP_NICE === 0 || lowersPriority(status),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      engine.close();
    },
  };
}
