import type { Baseline } from '../analyzers/baseline.ts';
import { deleteRows, SAMPLE_TABLES } from './delete.ts';
import { msParam, type Sql } from './sql.ts';

interface BaselineRow {
  segment_tag: string;
  segment_value: string;
  parent_id: string;
  id: string;
  model: string;
  created_ms: number;
  from_ms: number;
  to_ms: number;
  n_events: number;
  spec: string;
  name: string;
  rolled: number;
}

// Output names differ from column names: an alias named like its column would shadow it in WHERE.
const COLUMNS = `toString(baseline_id) AS id, model, toUnixTimestamp64Milli(created_at) AS created_ms,
  toUnixTimestamp64Milli(from_ts) AS from_ms, toUnixTimestamp64Milli(to_ts) AS to_ms, n_events, spec,
  segment_tag, segment_value, parent_id, name, rolled`;

export type BaselineSummary = Omit<Baseline, 'features' | 'performance' | 'reference_sample' | 'impact' | 'estimator'>;

const summaryOf = (r: Omit<BaselineRow, 'spec'>): BaselineSummary => ({
  baseline_id: r.id,
  model: r.model,
  name: r.name || null,
  created_at: Number(r.created_ms),
  from: Number(r.from_ms),
  to: Number(r.to_ms),
  n_events: Number(r.n_events),
  rolled: Number(r.rolled) === 1,
  segment: r.segment_tag ? { tag: r.segment_tag, value: r.segment_value } : null,
  parent_baseline_id: r.parent_id || null,
});

const fromRow = (r: BaselineRow): Baseline => {
  const spec = JSON.parse(r.spec);
  return { ...summaryOf(r), features: spec.features, performance: spec.performance ?? null, multivariate: spec.multivariate ?? null, quality: spec.quality, impact: spec.impact ?? null, estimator: spec.estimator ?? null };
};

export async function saveBaseline(sql: Sql, b: Baseline): Promise<void> {
  await sql.command(
    `INSERT INTO baselines (baseline_id, model, created_at, from_ts, to_ts, n_events, spec, segment_tag, segment_value, parent_id, name, rolled)
     VALUES ({id:UUID}, {model:String}, ${msParam('created')}, ${msParam('from')}, ${msParam('to')}, {n:UInt64}, {spec:String},
             {segment_tag:String}, {segment_value:String}, {parent:String}, {name:String}, {rolled:UInt8})`,
    {
      id: b.baseline_id,
      model: b.model,
      created: b.created_at,
      from: b.from,
      to: b.to,
      n: b.n_events,
      spec: JSON.stringify({ features: b.features, performance: b.performance ?? null, multivariate: b.multivariate ?? null, quality: b.quality, estimator: b.estimator ?? null }),
      segment_tag: b.segment?.tag ?? '',
      segment_value: b.segment?.value ?? '',
      parent: b.parent_baseline_id ?? '',
      name: b.name ?? '',
      rolled: b.rolled ? 1 : 0,
    },
  );
}

export async function getBaseline(sql: Sql, model: string, baselineId: string): Promise<Baseline | null> {
  const rows = await sql.query<BaselineRow>(
    `SELECT ${COLUMNS} FROM baselines FINAL WHERE model = {model:String} AND baseline_id = {id:UUID}`,
    { model, id: baselineId },
  );
  return rows.length > 0 ? fromRow(rows[0]) : null;
}

// The chosen baseline's id, or '' when none was chosen (a scalar subquery: one read with the baselines).
const CHOSEN = `(SELECT ifNull(toString(argMax(baseline_id, chosen_at)), '') FROM baseline_active WHERE model = {model:String})`;

/**
 * The baseline a model is analysed against, everywhere (the scheduler,
 * GET drift and performance, shadow challengers, and through them alerts):
 * the one chosen with setActiveBaseline, else the newest model-wide one.
 */
export async function activeBaseline(sql: Sql, model: string): Promise<Baseline | null> {
  const rows = await sql.query<BaselineRow>(
    `SELECT ${COLUMNS} FROM baselines FINAL WHERE model = {model:String} AND segment_tag = ''
     ORDER BY id = ${CHOSEN} DESC, created_ms DESC LIMIT 1`,
    { model },
  );
  return rows.length > 0 ? fromRow(rows[0]) : null;
}

/** The model-wide baselines of a model, newest first, the active one marked. */
export async function listBaselines(sql: Sql, model: string): Promise<(BaselineSummary & { active: boolean })[]> {
  const rows = await sql.query<BaselineRow & { chosen: string }>(
    `SELECT ${COLUMNS}, ${CHOSEN} AS chosen FROM baselines FINAL WHERE model = {model:String} AND segment_tag = '' ORDER BY created_ms DESC`,
    { model },
  );
  const chosen = rows.find((r) => r.id === r.chosen);
  const active = chosen ?? rows[0];
  return rows.map((r) => ({ ...summaryOf(r), active: r === active }));
}

/** Makes a model-wide baseline the model's active one, until another is chosen. */
export async function setActiveBaseline(sql: Sql, model: string, baselineId: string, at: number): Promise<void> {
  await sql.command(`INSERT INTO baseline_active (model, baseline_id, chosen_at) VALUES ({model:String}, {id:UUID}, ${msParam('at')})`, {
    model,
    id: baselineId,
    at,
  });
}

/** Names (or with '' un-names) a baseline; a rare, small write, so a synchronous mutation of its one row. */
export async function renameBaseline(sql: Sql, model: string, baselineId: string, name: string): Promise<void> {
  await sql.command(
    `ALTER TABLE baselines UPDATE name = {name:String} WHERE model = {model:String} AND baseline_id = {id:UUID} SETTINGS mutations_sync = 2`,
    { model, id: baselineId, name },
  );
}

/**
 * Deletes a model-wide baseline with the segment baselines frozen with it,
 * their KS samples, and the choice of it as active (if it was the active
 * one, the model's newest remaining baseline is active after that).
 */
export async function deleteBaseline(sql: Sql, model: string, baselineId: string): Promise<void> {
  const params = { model, id: baselineId };
  const ids = `(SELECT baseline_id FROM baselines WHERE model = {model:String} AND (baseline_id = {id:UUID} OR parent_id = {id:String}))`;
  // Samples first: they are found through the baselines being deleted.
  for (const table of SAMPLE_TABLES) await deleteRows(sql, table, `baseline_id IN ${ids}`, params);
  await deleteRows(sql, 'baselines', 'model = {model:String} AND (baseline_id = {id:UUID} OR parent_id = {id:String})', params);
  // Its choice and every earlier one: choices replace each other at merges, so what is left must
  // not depend on whether one ran (the current choice deleted: the newest baseline is active).
  await deleteRows(
    sql,
    'baseline_active',
    'model = {model:String} AND chosen_at <= (SELECT max(chosen_at) FROM baseline_active WHERE model = {model:String} AND baseline_id = {id:UUID})',
    params,
  );
}

/** Models that have at least one baseline: the ones the scheduler analyses. */
export async function modelsWithBaselines(sql: Sql): Promise<string[]> {
  const rows = await sql.query<{ model: string }>('SELECT DISTINCT model FROM baselines ORDER BY model');
  return rows.map((r) => r.model);
}

/** The segment baselines frozen with a model-wide baseline: for one tag, or for every tag. */
export async function segmentBaselines(sql: Sql, model: string, parentId: string, tag?: string): Promise<Baseline[]> {
  const rows = await sql.query<BaselineRow>(
    `SELECT ${COLUMNS} FROM baselines FINAL
     WHERE model = {model:String} AND parent_id = {parent:String} AND segment_tag != ''
       AND ({tag:String} = '' OR segment_tag = {tag:String})
     ORDER BY segment_tag, n_events DESC, segment_value`,
    { model, parent: parentId, tag: tag ?? '' },
  );
  return rows.map(fromRow);
}
