import type { Sql } from './sql.ts';
import { WINDOW_SQL, windowParams, type Window } from './window.ts';

/**
 * The store side of drift impact (analyzers/impact/): a bounded sample of a
 * baseline range's events, the associations of features with the logged
 * prediction computed in the engine over that sample, and writing the
 * frozen impacts into the baseline's spec.
 */

/**
 * A fair, repeatable sample of the range: the `limit` events first in hash
 * order, so the same stored events give the same sample every time (the
 * seeded permutation then gives the same impacts).
 */
const sampleSql = (columns: string, where = '1') => `
  SELECT ${columns} FROM events FINAL
  WHERE ${WINDOW_SQL} AND ${where}
  ORDER BY cityHash64(event_id), event_id
  LIMIT {limit:UInt32}`;

export interface SampledEvent {
  num: Record<string, number>;
  cat: Record<string, string>;
}

/** The sample's events with only the features asked for: what the permutation feeds the model. */
export async function impactSample(sql: Sql, w: Window, features: readonly string[], limit: number): Promise<SampledEvent[]> {
  return sql.query<SampledEvent>(
    sampleSql(`mapFilter((k, v) -> has({features:Array(String)}, k), num) AS num,
               mapFilter((k, v) -> has({features:Array(String)}, k), cat) AS cat`),
    { ...windowParams(w), features, limit },
  );
}

export interface RankCorrelation {
  feature: string;
  n: number;
  /** Spearman's rank correlation with the numeric prediction; null where it is undefined (a constant column). */
  rho: number | null;
}

/** Spearman's rho of each numeric feature with the logged numeric prediction, over the sample. */
export async function rankCorrelations(sql: Sql, w: Window, features: readonly string[], limit: number): Promise<RankCorrelation[]> {
  if (features.length === 0) return [];
  const rows = await sql.query<{ feature: string; n: number; rho: number | null }>(
    `SELECT f AS feature, count() AS n, if(isFinite(rankCorr(v, p)), rankCorr(v, p), NULL) AS rho
     FROM (${sampleSql('num, assumeNotNull(prediction_num) AS p', 'prediction_num IS NOT NULL')})
     ARRAY JOIN mapKeys(num) AS f, mapValues(num) AS v
     WHERE f IN (SELECT arrayJoin({features:Array(String)}))
     GROUP BY f`,
    { ...windowParams(w), features, limit },
  );
  return rows.map((r) => ({ feature: r.feature, n: Number(r.n), rho: r.rho === null ? null : Number(r.rho) }));
}

export interface JointCount {
  feature: string;
  /** The feature's category, or its numeric bin (its value against the baseline's edges) as text. */
  x: string;
  /** The prediction's class, or its numeric prediction's decile as text. */
  y: string;
  n: number;
}

/**
 * Counts of (feature value, prediction) pairs over the sample, from which
 * mutual information is computed: categorical features by category, numeric
 * ones by their bin on the baseline's edges; the prediction by class, or, when
 * numeric, by its decile in the sample.
 */
export async function jointCounts(
  sql: Sql,
  w: Window,
  spec: { categorical: readonly string[]; numeric: ReadonlyMap<string, readonly number[]>; target: 'numeric' | 'categorical' },
  limit: number,
): Promise<JointCount[]> {
  const numericNames = [...spec.numeric.keys()];
  if (spec.categorical.length === 0 && numericNames.length === 0) return [];
  const present = spec.target === 'categorical' ? 'prediction_cat IS NOT NULL' : 'prediction_num IS NOT NULL';
  const sample = sampleSql('num, cat, prediction_num, prediction_cat', present);
  // Deciles of the sample's own predictions: a numeric prediction has no frozen edges to bin it on here.
  const target =
    spec.target === 'categorical'
      ? 'assumeNotNull(prediction_cat)'
      : `toString(arrayCount(q -> q <= assumeNotNull(prediction_num), (SELECT quantilesExact(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)(assumeNotNull(prediction_num)) FROM (${sample}))))`;
  const rows = await sql.query<JointCount>(
    `WITH sample AS (SELECT num, cat, ${target} AS y FROM (${sample}))
     SELECT f AS feature, x, y, count() AS n FROM (
       SELECT f, v AS x, y FROM sample ARRAY JOIN mapKeys(cat) AS f, mapValues(cat) AS v
       WHERE f IN (SELECT arrayJoin({categorical:Array(String)}))
       UNION ALL
       SELECT f, toString(arrayCount(e -> e <= v, {edges:Map(String, Array(Float64))}[f])) AS x, y
       FROM sample ARRAY JOIN mapKeys(num) AS f, mapValues(num) AS v
       WHERE f IN (SELECT arrayJoin({numeric:Array(String)}))
     )
     GROUP BY feature, x, y`,
    {
      ...windowParams(w),
      limit,
      categorical: spec.categorical,
      numeric: numericNames,
      edges: Object.fromEntries(spec.numeric),
    },
  );
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/**
 * Writes the frozen impacts into the stored baseline's spec, keeping every
 * other field of the spec as it is (other parts freeze their own things
 * there). A rare, small write, so a synchronous mutation of the one row.
 */
export async function saveBaselineImpact(sql: Sql, model: string, baselineId: string, impact: unknown): Promise<void> {
  const rows = await sql.query<{ spec: string }>(
    `SELECT spec FROM baselines FINAL WHERE model = {model:String} AND baseline_id = {id:UUID}`,
    { model, id: baselineId },
  );
  if (rows.length === 0) return;
  const spec = { ...JSON.parse(rows[0].spec), impact };
  await sql.command(
    `ALTER TABLE baselines UPDATE spec = {spec:String} WHERE model = {model:String} AND baseline_id = {id:UUID} SETTINGS mutations_sync = 2`,
    { model, id: baselineId, spec: JSON.stringify(spec) },
  );
}
