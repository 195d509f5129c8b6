import type { Sql } from './sql.ts';

/**
 * Reads of the pre-aggregates of migration 9 over a range cut into equal
 * steps, each row tagged with its step's index i (0 for the step starting at
 * `from`). Minute rows everywhere, or hourly rows where every hour lies in
 * one step (`hourly`: the caller checked that from and the step are whole
 * hours) and minute rows for the part of the last hour that is cut off.
 */
export interface StepQuery {
  model: string;
  baselineId: string;
  /** Epoch ms, whole minutes; to - from a multiple of stepMs. */
  from: number;
  to: number;
  stepMs: number;
  hourly: boolean;
}

const HOUR = 3_600_000;

function params(q: StepQuery) {
  const hourlyTo = q.hourly ? Math.floor(q.to / HOUR) * HOUR : q.from;
  return {
    model: q.model,
    id: q.baselineId,
    from_s: q.from / 1000,
    hto_s: Math.max(q.from, hourlyTo) / 1000,
    to_s: q.to / 1000,
    step_s: q.stepMs / 1000,
  };
}

/** The rows of one pre-aggregate family (`num`, `cat`, `presence`) in the range, with their step index i. */
const rows = (family: 'num' | 'cat' | 'presence', columns: string) => `
  SELECT toUInt32(intDiv(toUInt32(t) - {from_s:UInt32}, {step_s:UInt32})) AS i, ${columns} FROM (
    SELECT t, ${columns} FROM preagg_${family}_1h
    WHERE model = {model:String} AND baseline_id = {id:UUID} AND t >= toDateTime({from_s:UInt32}, 'UTC') AND t < toDateTime({hto_s:UInt32}, 'UTC')
    UNION ALL
    SELECT t, ${columns} FROM preagg_${family}_1m
    WHERE model = {model:String} AND baseline_id = {id:UUID} AND t >= toDateTime({hto_s:UInt32}, 'UTC') AND t < toDateTime({to_s:UInt32}, 'UTC'))`;

/** One numeric feature's counts on the registered edges: n[k] values in bin bin[k] of step i[k]. */
export interface StepBins {
  feature: string;
  i: number[];
  bin: number[];
  n: number[];
}

/**
 * Counts per (step, numeric feature, bin), a row per feature with the
 * (step, bin, count) triples as three arrays: 30 days at 1 h x 80 features
 * x 12 bins are 691,200 triples, and as one JSON row each their parse alone
 * took 1.6-1.9 s of a 4.1 s series.
 */
export async function stepHistograms(sql: Sql, q: StepQuery, features: string[]): Promise<StepBins[]> {
  if (features.length === 0) return [];
  const out = await sql.query<StepBins>(
    `SELECT feature, groupArray(i) AS i, groupArray(bin) AS bin, groupArray(n) AS n FROM (
       SELECT i, feature, bin, sum(n) AS n FROM (${rows('num', 'feature, bin, n')})
       WHERE feature IN (SELECT arrayJoin({features:Array(String)})) GROUP BY i, feature, bin)
     GROUP BY feature`,
    { ...params(q), features },
  );
  return out.map((r) => ({ feature: r.feature, i: r.i.map(Number), bin: r.bin.map(Number), n: r.n.map(Number) }));
}

/** One categorical feature's `cap` most frequent values per step: n[k] events of step i[k] had value[k]; by step, then count (descending), then value. */
export interface StepValues {
  feature: string;
  i: number[];
  value: string[];
  n: number[];
}

/**
 * The `cap` most frequent categories per (step, feature), ordered as
 * store/aggregates.ts categoryCounts orders them, a row per feature (in
 * name order) as stepHistograms gives its bins. The order is made by
 * arraySort, not left to groupArray, which keeps no order of its input.
 */
export async function stepCategories(sql: Sql, q: StepQuery, features: string[], cap: number): Promise<StepValues[]> {
  if (features.length === 0) return [];
  const out = await sql.query<StepValues>(
    `SELECT feature, arrayMap(x -> x.1, s) AS i, arrayMap(x -> x.2, s) AS value, arrayMap(x -> x.3, s) AS n FROM (
       SELECT feature, arraySort(x -> (x.1, -toInt64(x.3), x.2), groupArray((i, value, n))) AS s FROM (
         SELECT i, feature, value, sum(n) AS n FROM (${rows('cat', 'feature, value, n')})
         WHERE feature IN (SELECT arrayJoin({features:Array(String)}))
         GROUP BY i, feature, value ORDER BY i, feature, n DESC, value LIMIT {cap:UInt64} BY i, feature)
       GROUP BY feature)
     ORDER BY feature`,
    { ...params(q), features, cap },
  );
  return out.map((r) => ({ feature: r.feature, i: r.i.map(Number), value: r.value, n: r.n.map(Number) }));
}

/** How often, per step, each feature was present as numeric, categorical or missing (kind[k], feature[k], n[k] of step i[k]); kind 'events' with feature '': the events. */
export interface StepPresence {
  i: number[];
  kind: string[];
  feature: string[];
  n: number[];
}

/** Per step: events and feature presence, as one row of four arrays (73,000 rows for 30 days x 100 features by the hour). */
export async function stepPresence(sql: Sql, q: StepQuery): Promise<StepPresence> {
  const [out] = await sql.query<StepPresence>(
    `SELECT groupArray(i) AS i, groupArray(kind) AS kind, groupArray(feature) AS feature, groupArray(n) AS n FROM (
       SELECT i, kind, feature, sum(n) AS n FROM (${rows('presence', 'kind, feature, n')}) GROUP BY i, kind, feature)`,
    params(q),
  );
  return { i: (out?.i ?? []).map(Number), kind: out?.kind ?? [], feature: out?.feature ?? [], n: (out?.n ?? []).map(Number) };
}

/**
 * Per step, the stored events that did not fail, deduplicated (FINAL): what
 * the pre-aggregates' event counts must equal for their numbers to be the
 * raw path's. Reads only the sorting key, the version and the status.
 */
export async function stepEventCounts(sql: Sql, q: Omit<StepQuery, 'baselineId' | 'hourly'>): Promise<Map<number, number>> {
  const out = await sql.query<{ i: number; n: number }>(
    `SELECT toUInt32(intDiv(toUInt32(toUnixTimestamp(ts)) - {from_s:UInt32}, {step_s:UInt32})) AS i, count() AS n
     FROM events FINAL
     WHERE model = {model:String} AND ts >= toDateTime64({from_s:UInt32}, 3, 'UTC') AND ts < toDateTime64({to_s:UInt32}, 3, 'UTC') AND status != 'error'
     GROUP BY i`,
    { model: q.model, from_s: q.from / 1000, to_s: q.to / 1000, step_s: q.stepMs / 1000 },
  );
  return new Map(out.map((r) => [Number(r.i), Number(r.n)]));
}
