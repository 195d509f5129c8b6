import type { Sql } from './sql.ts';

/**
 * MergeTree settings that make a stored row stay stored on the embedded
 * engine, set on every table of the service (at each start, so tables that
 * later migrations add get them too).
 *
 * - old_parts_lifetime: chDB sets it to 0, so the parts a merge replaced are
 *   deleted within a second. A merged part found damaged at the next start
 *   (the engine detaches it as broken-on-start) can then be replaced by
 *   nothing, and its rows are gone. With the ClickHouse server's default of
 *   480 s the engine puts the replaced parts back in its place.
 * - fsync_after_insert, fsync_part_directory: an insert returns once its part
 *   and the directory entries naming it are on disk, which is what lets the
 *   journal delete a segment once its rows are inserted.
 * - min_compressed_bytes_to_fsync_after_merge = 1: a merged part is on disk
 *   before the parts it replaces may go.
 *
 * A ClickHouse server keeps its operator's settings: durability there is the
 * server's (and its replication's) business.
 */
export const DURABLE_MERGE_TREE: Readonly<Record<string, number>> = {
  old_parts_lifetime: 480,
  fsync_after_insert: 1,
  fsync_part_directory: 1,
  min_compressed_bytes_to_fsync_after_merge: 1,
};

const settingsClause = Object.entries(DURABLE_MERGE_TREE)
  .map(([k, v]) => `${k} = ${v}`)
  .join(', ');

/** Sets DURABLE_MERGE_TREE on every MergeTree table of the current database that lacks it. */
export async function makeTablesDurable(sql: Sql): Promise<void> {
  const tables = await sql.query<{ name: string; engine_full: string }>(
    "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree'",
  );
  for (const t of tables) {
    // Only tables that lack a setting are altered: an ALTER rewrites the table's metadata file.
    if (Object.entries(DURABLE_MERGE_TREE).every(([k, v]) => t.engine_full.includes(`${k} = ${v}`))) continue;
    // Names come from the engine's own catalogue, never from input.
    await sql.command(`ALTER TABLE \`${t.name.replace(/`/g, '')}\` MODIFY SETTING ${settingsClause}`);
  }
}
