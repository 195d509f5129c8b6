import type { Params, Sql } from './sql.ts';

/**
 * Removes rows with the engine's lightweight DELETE: they are masked at
 * once, so no read (FINAL or not) returns them after this resolves, and are
 * dropped from disk at the next merge of their part. lightweight_deletes_sync
 * = 2 waits until the mask is applied everywhere before answering.
 * `table` and `where` are the store's own text, values travel bound.
 */
export async function deleteRows(sql: Sql, table: string, where: string, params: Params): Promise<void> {
  await sql.command(`DELETE FROM \`${table.replace(/`/g, '')}\` WHERE ${where} SETTINGS lightweight_deletes_sync = 2`, params);
}

/** The service's MergeTree tables that have every one of `columns`, from the engine's catalogue, and whether they replace rows (FINAL). */
export async function tablesWithColumns(sql: Sql, columns: readonly string[]): Promise<{ table: string; replacing: boolean }[]> {
  const rows = await sql.query<{ table: string; engine: string }>(
    `SELECT c.table AS table, any(t.engine) AS engine FROM system.columns AS c
     INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
     WHERE c.database = currentDatabase() AND t.engine LIKE '%MergeTree' AND c.name IN {columns:Array(String)}
     GROUP BY c.table HAVING count() = {n:UInt32} ORDER BY c.table`,
    { columns, n: columns.length },
  );
  // FINAL is refused by a plain MergeTree, and needed by the ones that replace or collapse rows.
  return rows.map((r) => ({ table: r.table, replacing: r.engine !== 'MergeTree' }));
}

/** The tables holding baselines' KS samples (keyed by baseline, no model column): chunks, and rows from before schema version 10. */
export const SAMPLE_TABLES = ['baseline_sample_chunks', 'baseline_samples'] as const;
