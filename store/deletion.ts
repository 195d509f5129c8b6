import { deleteRows, SAMPLE_TABLES, tablesWithColumns } from './delete.ts';
import type { Sql } from './sql.ts';

/** Rows deleted, per table (as counted just before the delete, through FINAL where a table replaces rows). */
export type Deleted = Record<string, number>;

export interface DeleteOptions {
  /**
   * Also rewrite the parts that held the rows without them (APPLY DELETED
   * MASK), waiting for it: a lightweight delete only masks rows, which stay
   * in the part's files until its next merge. The replaced parts are removed
   * by the engine after old_parts_lifetime (store/durability.ts).
   */
  purge?: boolean;
}

async function purge(sql: Sql, deleted: Deleted): Promise<void> {
  for (const [table, n] of Object.entries(deleted)) {
    // Names come from the engine's catalogue, never from input.
    if (n > 0) await sql.command(`ALTER TABLE \`${table.replace(/`/g, '')}\` APPLY DELETED MASK SETTINGS mutations_sync = 2`);
  }
}

/** Tables that copy rows of another (events_sample: a sixteenth of events): deleted with them, not counted apart in the answer. */
const COPIES = new Set(['events_sample']);

function answered(deleted: Deleted): Deleted {
  return Object.fromEntries(Object.entries(deleted).filter(([table]) => !COPIES.has(table)));
}

async function countRows(sql: Sql, t: { table: string; replacing: boolean }, where: string, params: Record<string, unknown>): Promise<number> {
  const [row] = await sql.query<{ n: number }>(`SELECT count() AS n FROM \`${t.table.replace(/`/g, '')}\`${t.replacing ? ' FINAL' : ''} WHERE ${where}`, params);
  return Number(row?.n ?? 0);
}

/**
 * Deletes everything stored about a model: every table with a `model`
 * column (events, labels, baselines and the active choice, rolling
 * policies and refreezes, drift, performance and shadow results, shadow
 * registrations with their ONNX bytes and predictions, alert states and
 * history), found in the engine's catalogue so a table added later is
 * covered too, and the KS samples of its baselines (which carry no model
 * column). Other models' rows are untouched.
 */
export async function deleteModel(sql: Sql, model: string, options: DeleteOptions = {}): Promise<Deleted> {
  const params = { model };
  const deleted: Deleted = {};
  const ids = '(SELECT baseline_id FROM baselines WHERE model = {model:String})';
  // First, while the baselines that name them are still there.
  for (const table of SAMPLE_TABLES) {
    deleted[table] = await countRows(sql, { table, replacing: false }, `baseline_id IN ${ids}`, params);
    if (deleted[table] > 0) await deleteRows(sql, table, `baseline_id IN ${ids}`, params);
  }
  for (const t of await tablesWithColumns(sql, ['model'])) {
    const n = await countRows(sql, t, 'model = {model:String}', params);
    deleted[t.table] = n;
    if (n > 0) await deleteRows(sql, t.table, 'model = {model:String}', params);
  }
  if (options.purge) await purge(sql, deleted);
  return answered(deleted);
}

/**
 * Deletes individual events of a model and what is keyed by them: their
 * labels and shadow predictions (every table with `model` and `event_id`
 * columns). Aggregates already computed from them (baselines, window
 * results) stay: see docs/operations.md, "Data lifetime".
 */
export async function deleteEvents(sql: Sql, model: string, eventIds: readonly string[], options: DeleteOptions = {}): Promise<Deleted> {
  const params = { model, ids: eventIds };
  const where = 'model = {model:String} AND event_id IN {ids:Array(String)}';
  const deleted: Deleted = {};
  for (const t of await tablesWithColumns(sql, ['model', 'event_id'])) {
    const n = await countRows(sql, t, where, params);
    deleted[t.table] = n;
    if (n > 0) await deleteRows(sql, t.table, where, params);
  }
  if (options.purge) await purge(sql, deleted);
  return answered(deleted);
}
