import type { Config } from '../core/config.ts';
import { makeTablesDurable } from './durability.ts';
import { openEmbedded } from './embedded.ts';
import { migrate } from './migrations.ts';
import { applyRetention } from './retention.ts';
import { openServer } from './server.ts';
import type { Sql } from './sql.ts';

/** Opens the backend the config names (a server when CLICKHOUSE_URL is set) and brings its schema up to date. */
export async function openStore(
  config: Pick<Config, 'CLICKHOUSE_URL' | 'CLICKHOUSE_USER' | 'CLICKHOUSE_PASSWORD' | 'CLICKHOUSE_DATABASE' | 'DATA_DIR' | 'DISK_MIN_FREE_BYTES'> &
    Partial<Pick<Config, 'RETENTION_EVENTS' | 'RETENTION_RESULTS' | 'RETENTION_ALERTS'>>,
): Promise<Sql> {
  const sql = config.CLICKHOUSE_URL
    ? await openServer({
        url: config.CLICKHOUSE_URL,
        username: config.CLICKHOUSE_USER,
        password: config.CLICKHOUSE_PASSWORD,
        database: config.CLICKHOUSE_DATABASE,
      })
    : // Half the guard's reserve (core/disk.ts): rows acknowledged before the guard refused writes still go in.
      openEmbedded(config.DATA_DIR, { minFreeBytesToInsert: Math.floor(config.DISK_MIN_FREE_BYTES / 2) });
  try {
    await migrate(sql);
    if (sql.backend === 'embedded') await makeTablesDurable(sql);
    // Data lifetime (docs/operations.md): at every start, so a changed setting reaches a running store.
    await applyRetention(sql, { events: config.RETENTION_EVENTS, results: config.RETENTION_RESULTS, alerts: config.RETENTION_ALERTS });
  } catch (err) {
    await sql.close();
    throw err;
  }
  return sql;
}
