import type { Sql } from './sql.ts';

/** How long each kind of row is kept (ms); undefined keeps it forever. */
export interface Retention {
  events?: number;
  results?: number;
  alerts?: number;
}

/**
 * Which tables each retention setting covers, and the column whose age
 * counts: per-event data by the event's time, results and alert history by
 * the end of the window they describe (a backfilled old window is as old as
 * its window, not as its computation). Baselines are never expired: they are
 * references meant to outlive the events they were frozen from (rolling
 * policies delete their own old ones). alert_states is the current state of
 * each alert, not history.
 */
export const RETAINED: readonly { table: string; column: string; kind: keyof Retention }[] = [
  { table: 'events', column: 'ts', kind: 'events' },
  { table: 'events_sample', column: 'ts', kind: 'events' },
  { table: 'labels', column: 'ts', kind: 'events' },
  { table: 'shadow_predictions', column: 'ts', kind: 'events' },
  // Pre-aggregates (migration 9) live as long as the events they count.
  ...['num', 'cat', 'presence'].flatMap((f) => ['1m', '1h'].map((g) => ({ table: `preagg_${f}_${g}`, column: 't', kind: 'events' as const }))),
  { table: 'drift_results', column: 'window_end', kind: 'results' },
  { table: 'drift_windows', column: 'window_end', kind: 'results' },
  { table: 'performance_results', column: 'window_end', kind: 'results' },
  { table: 'shadow_results', column: 'window_end', kind: 'results' },
  { table: 'alert_events', column: 'window_end', kind: 'alerts' },
];

/** The TTL expression for `seconds`, written as the engine prints it back, so an unchanged one is recognised. */
export const ttlExpression = (column: string, seconds: number) => `toDateTime(${column}) + toIntervalSecond(${seconds})`;

/** A table's TTL as the engine holds it ('' without one), read from its engine_full. */
export function currentTtl(engineFull: string): string {
  return / TTL (.+?)(?: SETTINGS |$)/.exec(engineFull)?.[1].trim() ?? '';
}

/**
 * Brings every covered table's TTL in line with `retention`: MODIFY TTL where
 * it differs, REMOVE TTL where retention is unset and a TTL is there, nothing
 * where it already matches (an ALTER rewrites the table's metadata, and a
 * changed TTL is materialised over every part in the background). So a
 * running store changes without a rebuild, at the next start. The engine
 * removes expired rows at its merges (a part is checked for them at least
 * every merge_with_ttl_timeout, 4 hours by default), not at the second they
 * expire. Returns the tables it changed.
 */
export async function applyRetention(sql: Sql, retention: Retention): Promise<string[]> {
  const tables = await sql.query<{ name: string; engine_full: string }>(
    "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree'",
  );
  const engines = new Map(tables.map((t) => [t.name, t.engine_full]));
  const changed: string[] = [];
  for (const { table, column, kind } of RETAINED) {
    const engineFull = engines.get(table);
    if (engineFull === undefined) continue;
    const ms = retention[kind];
    const want = ms === undefined ? '' : ttlExpression(column, Math.max(1, Math.round(ms / 1000)));
    const have = currentTtl(engineFull);
    if (have === want) continue;
    // Table and column names are the constants above; the number comes from the parsed config.
    await sql.command(want ? `ALTER TABLE ${table} MODIFY TTL ${want}` : `ALTER TABLE ${table} REMOVE TTL`);
    changed.push(table);
  }
  return changed;
}
