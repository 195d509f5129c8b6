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

/** Counts per (step, numeric feature, bin) on the registered edges. */
export async function stepHistograms(sql: Sql, q: StepQuery, features: string[]): Promise<{ i: number; feature: string; bin: number; n: number }[]> {
  if (features.length === 0) return [];
  const out = await sql.query<{ i: number; feature: string; bin: number; n: number }>(
    `SELECT i, feature, bin, sum(n) AS n FROM (${rows('num', 'feature, bin, n')})
     WHERE feature IN (SELECT arrayJoin({features:Array(String)})) GROUP BY i, feature, bin`,
    { ...params(q), features },
  );
  return out.map((r) => ({ i: Number(r.i), feature: r.feature, bin: Number(r.bin), n: Number(r.n) }));
}

/** The `cap` most frequent categories per (step, feature), ordered as store/aggregates.ts categoryCounts orders them. */
export async function stepCategories(sql: Sql, q: StepQuery, features: string[], cap: number): Promise<{ i: number; feature: string; value: string; n: number }[]> {
  if (features.length === 0) return [];
  const out = await sql.query<{ i: number; feature: string; value: string; n: number }>(
    `SELECT i, feature, value, sum(n) AS n FROM (${rows('cat', 'feature, value, n')})
     WHERE feature IN (SELECT arrayJoin({features:Array(String)}))
     GROUP BY i, feature, value ORDER BY i, feature, n DESC, value LIMIT {cap:UInt64} BY i, feature`,
    { ...params(q), features, cap },
  );
  return out.map((r) => ({ i: Number(r.i), feature: r.feature, value: r.value, n: Number(r.n) }));
}

/** Per step: events (kind 'events', feature '') and how often each feature was present as numeric, categorical or missing. */
export async function stepPresence(sql: Sql, q: StepQuery): Promise<{ i: number; kind: string; feature: string; n: number }[]> {
  const out = await sql.query<{ i: number; kind: string; feature: string; n: number }>(
    `SELECT i, kind, feature, sum(n) AS n FROM (${rows('presence', 'kind, feature, n')}) GROUP BY i, kind, feature`,
    params(q),
  );
  return out.map((r) => ({ i: Number(r.i), kind: r.kind, feature: r.feature, n: Number(r.n) }));
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
