import { msParam, type Sql } from './sql.ts';

/** What a model's values are binned on at insert: one baseline's numeric edges and categorical feature names. */
export interface PreaggTarget {
  model: string;
  baselineId: string;
  numeric: { feature: string; edges: number[] }[];
  categorical: string[];
}

/**
 * Makes `target` the baseline the materialized views of migration 9 bin the
 * model's new events on, from the next insert on. Features of the baseline
 * registered before that the new one lacks are switched off in the same
 * insert (one block: a concurrent insert sees either registration whole).
 */
export async function registerTarget(sql: Sql, target: PreaggTarget, at: number): Promise<void> {
  const rows: { kind: string; feature: string; edges: number[]; active: number }[] = [
    { kind: 'model', feature: '', edges: [], active: 1 },
    ...target.numeric.map((f) => ({ kind: 'numeric', feature: f.feature, edges: f.edges, active: 1 })),
    ...target.categorical.map((feature) => ({ kind: 'categorical', feature, edges: [], active: 1 })),
  ];
  const fresh = new Set(rows.map((r) => `${r.kind}\u0000${r.feature}`));
  const old = await sql.query<{ kind: string; feature: string }>(
    'SELECT kind, feature FROM preagg_edges FINAL WHERE model = {model:String} AND active = 1',
    { model: target.model },
  );
  for (const r of old) if (!fresh.has(`${r.kind}\u0000${r.feature}`)) rows.push({ kind: r.kind, feature: r.feature, edges: [], active: 0 });
  await sql.command(
    `INSERT INTO preagg_edges (model, kind, feature, baseline_id, edges, active, registered_at)
     SELECT {model:String}, z.1, z.2, {id:UUID}, z.3, z.4, ${msParam('at')}
     FROM (SELECT arrayJoin(arrayZip({kinds:Array(String)}, {features:Array(String)}, {edges:Array(Array(Float64))}, {active:Array(UInt8)})) AS z)`,
    {
      model: target.model,
      id: target.baselineId,
      at,
      kinds: rows.map((r) => r.kind),
      features: rows.map((r) => r.feature),
      edges: rows.map((r) => r.edges),
      active: rows.map((r) => r.active),
    },
  );
}

/** The baseline a model's events are binned on now, and since when; null when none is registered. */
export async function registeredTarget(sql: Sql, model: string): Promise<{ baselineId: string; registeredAt: number } | null> {
  const rows = await sql.query<{ id: string; at: number }>(
    `SELECT toString(baseline_id) AS id, toUnixTimestamp64Milli(registered_at) AS at FROM preagg_edges FINAL
     WHERE model = {model:String} AND kind = 'model' AND active = 1`,
    { model },
  );
  return rows.length > 0 ? { baselineId: rows[0].id, registeredAt: Number(rows[0].at) } : null;
}

/** Stops binning a model's events (pre-aggregates switched off): every registered row of it becomes inactive. */
export async function unregisterModel(sql: Sql, model: string, at: number): Promise<void> {
  await sql.command(
    `INSERT INTO preagg_edges (model, kind, feature, baseline_id, edges, active, registered_at)
     SELECT model, kind, feature, baseline_id, [], 0, ${msParam('at')} FROM preagg_edges FINAL WHERE model = {model:String} AND active = 1`,
    { model, at },
  );
}
