import type { SkipReason } from '../analyzers/shadow/encode.ts';
import { msParam, type Sql } from './sql.ts';
import { WINDOW_SQL, windowParams } from './window.ts';

/** One shadow revision of one model: the key its predictions are stored under. */
export interface ShadowKey {
  model: string;
  shadow: string;
  revision: string;
}

export interface Range {
  from: number;
  to: number;
}

export interface UnscoredEvent {
  event_id: string;
  ts_ms: number;
  num: Record<string, number>;
  cat: Record<string, string>;
}

/**
 * Which events are re-scored is decided by a hash of the event id, not by a
 * coin flip: a replayed or resent event is in or out of the sample the same
 * way every time, and so is its label when it arrives.
 */
export const SAMPLE_SQL = `cityHash64(event_id) % 1000000 < {sample_ppm:UInt32}`;
export const samplePpm = (share: number) => Math.round(Math.min(1, Math.max(0, share)) * 1_000_000);

const KEY_SQL = `model = {model:String} AND shadow = {shadow:String} AND revision = {revision:String}`;
const RANGE_SQL = `ts >= ${msParam('from')} AND ts < ${msParam('to')}`;

/**
 * Sampled events in the range with no prediction from this revision yet,
 * only the features asked for. In hash order, so a capped read (the
 * baseline period a challenger is compared with) is a fair sample of the
 * whole range rather than its first minutes.
 */
export async function unscoredEvents(
  sql: Sql,
  key: ShadowKey,
  range: Range & { ingestedSince?: number },
  sampleShare: number,
  features: readonly string[],
  limit: number,
): Promise<UnscoredEvent[]> {
  // No FINAL: an event stored twice and not merged yet may be scored twice,
  // which shadow_predictions (ReplacingMergeTree, read with FINAL) absorbs;
  // FINAL here would cost a merge on every live pass. One thread: this is
  // background work and must not take the cores ingest is using.
  const rows = await sql.query<UnscoredEvent>(
    `SELECT event_id, toUnixTimestamp64Milli(ts) AS ts_ms,
            mapFilter((k, v) -> has({features:Array(String)}, k), num) AS num,
            mapFilter((k, v) -> has({features:Array(String)}, k), cat) AS cat
     FROM events
     WHERE model = {model:String} AND ${RANGE_SQL} AND ${SAMPLE_SQL}
       AND ingested_at >= ${msParam('since')}
       AND event_id NOT IN (SELECT event_id FROM shadow_predictions WHERE ${KEY_SQL} AND ${RANGE_SQL})
     ORDER BY cityHash64(event_id), event_id
     LIMIT {limit:UInt32}
     SETTINGS max_threads = 1`,
    { ...key, from: range.from, to: range.to, since: range.ingestedSince ?? 0, sample_ppm: samplePpm(sampleShare), features, limit },
  );
  return rows.map((r) => ({ ...r, ts_ms: Number(r.ts_ms) }));
}

export interface ShadowPredictionRow {
  event_id: string;
  ts: number;
  status: 'ok' | SkipReason;
  score: number | null;
  class: string | null;
}

const COLUMNS = ['model', 'shadow', 'revision', 'event_id', 'ts', 'status', 'score', 'class'];

export async function insertShadowPredictions(sql: Sql, key: ShadowKey, rows: readonly ShadowPredictionRow[]): Promise<void> {
  if (rows.length === 0) return;
  const lines = rows.map((r) => JSON.stringify([key.model, key.shadow, key.revision, r.event_id, r.ts, r.status, r.score, r.class]));
  await sql.insertCompact('shadow_predictions', COLUMNS, Buffer.from(lines.join('\n') + '\n'));
}

/** How the logged side of a comparison is read from the events table. */
export interface Compared {
  /** Logged number: the prediction, or one class's score; null when nothing numeric is compared. */
  logged: { kind: 'prediction' } | { kind: 'score'; cls: string } | null;
  tolerance: number;
}

const loggedNumber = (c: Compared) =>
  c.logged === null
    ? 'CAST(NULL AS Nullable(Float64))'
    : c.logged.kind === 'prediction'
      ? 'e.prediction_num'
      : 'if(mapContains(e.scores, {cls:String}), e.scores[{cls:String}], NULL)';

/** A window's shadow predictions joined to what was logged for the same events. */
const joined = (c: Compared, withLabels: boolean) => `
  SELECT s.status AS status, s.score AS shadow_score, s.class AS shadow_class,
         ${loggedNumber(c)} AS logged_num,
         ifNull(e.prediction_cat, toString(e.prediction_num)) AS logged_class
         ${withLabels ? ', l.label_num AS label_num, ifNull(l.label_cat, toString(l.label_num)) AS label_str' : ''}
  FROM (SELECT event_id, status, score, class FROM shadow_predictions FINAL WHERE ${KEY_SQL} AND ${RANGE_SQL}) AS s
  INNER JOIN (SELECT event_id, prediction_num, prediction_cat, scores FROM events FINAL WHERE ${WINDOW_SQL}) AS e USING (event_id)
  ${withLabels ? 'INNER JOIN (SELECT event_id, label_num, label_cat FROM labels FINAL WHERE model = {model:String}) AS l USING (event_id)' : ''}
  WHERE s.status = 'ok'`;

const params = (key: ShadowKey, w: Range, c: Compared) => ({
  ...windowParams({ model: key.model, from: w.from, to: w.to }),
  ...key,
  cls: c.logged?.kind === 'score' ? c.logged.cls : '',
  tolerance: c.tolerance,
});

export interface ParityCounts {
  n_scored: number;
  /** Scored events whose logged number could be compared. */
  n_compared: number;
  mean_abs_diff: number | null;
  max_abs_diff: number | null;
  n_class: number;
  n_class_agree: number;
  /** Compared events that differ: beyond the tolerance, or in the predicted class. */
  n_mismatch: number;
  n_checked: number;
}

export async function parityCounts(sql: Sql, key: ShadowKey, w: Range, c: Compared): Promise<ParityCounts> {
  const numeric = `(shadow_score IS NOT NULL AND logged_num IS NOT NULL)`;
  const classed = `(shadow_class IS NOT NULL)`;
  const [row] = await sql.query<Record<keyof ParityCounts, number | null>>(
    `SELECT count() AS n_scored,
            countIf(${numeric}) AS n_compared,
            if(n_compared > 0, avgIf(abs(shadow_score - logged_num), ${numeric}), NULL) AS mean_abs_diff,
            if(n_compared > 0, maxIf(abs(shadow_score - logged_num), ${numeric}), NULL) AS max_abs_diff,
            countIf(${classed}) AS n_class,
            countIf(${classed} AND shadow_class = logged_class) AS n_class_agree,
            countIf((${numeric} AND abs(shadow_score - logged_num) > {tolerance:Float64})
                    OR (${classed} AND shadow_class != logged_class)) AS n_mismatch,
            countIf(${numeric} OR ${classed}) AS n_checked
     FROM (${joined(c, false)})`,
    params(key, w, c),
  );
  const n = (v: number | null | undefined) => Number(v ?? 0);
  return {
    n_scored: n(row?.n_scored),
    n_compared: n(row?.n_compared),
    mean_abs_diff: row?.mean_abs_diff ?? null,
    max_abs_diff: row?.max_abs_diff ?? null,
    n_class: n(row?.n_class),
    n_class_agree: n(row?.n_class_agree),
    n_mismatch: n(row?.n_mismatch),
    n_checked: n(row?.n_checked),
  };
}

/** Predictions (skips included) this revision stored for the range. */
export async function storedCount(sql: Sql, key: ShadowKey, range: Range): Promise<number> {
  const [row] = await sql.query<{ n: number }>(
    `SELECT count() AS n FROM shadow_predictions FINAL WHERE ${KEY_SQL} AND ${RANGE_SQL}`,
    { ...key, ...range },
  );
  return Number(row?.n ?? 0);
}

/** Skipped events of the range by reason. */
export async function skipCounts(sql: Sql, key: ShadowKey, range: Range): Promise<Record<string, number>> {
  const rows = await sql.query<{ status: string; n: number }>(
    `SELECT status, count() AS n FROM shadow_predictions FINAL
     WHERE ${KEY_SQL} AND ${RANGE_SQL} AND status != 'ok' GROUP BY status ORDER BY status`,
    { ...key, ...range },
  );
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** Sampled events of the range (what the shadow should have scored). */
export async function sampledCount(sql: Sql, model: string, range: Range, sampleShare: number): Promise<number> {
  const [row] = await sql.query<{ n: number }>(
    `SELECT count() AS n FROM events FINAL WHERE model = {model:String} AND ${RANGE_SQL} AND ${SAMPLE_SQL}`,
    { model, ...range, sample_ppm: samplePpm(sampleShare) },
  );
  return Number(row?.n ?? 0);
}

/** Deciles of the shadow's scores over a range: the bin edges its prediction drift is measured with. */
export async function scoreEdges(sql: Sql, key: ShadowKey, range: Range): Promise<{ n: number; edges: number[] }> {
  const [row] = await sql.query<{ n: number; edges: number[] }>(
    `SELECT count() AS n, quantilesExact(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)(score) AS edges
     FROM shadow_predictions FINAL WHERE ${KEY_SQL} AND ${RANGE_SQL} AND status = 'ok' AND score IS NOT NULL`,
    { ...key, ...range },
  );
  return { n: Number(row?.n ?? 0), edges: [...new Set(row?.edges ?? [])].sort((a, b) => a - b) };
}

/** Counts of the shadow's scores per bin (bin i holds edges[i-1] < score <= edges[i]), or of its classes. */
export async function shadowDistribution(
  sql: Sql,
  key: ShadowKey,
  range: Range,
  by: { edges: number[] } | 'class',
): Promise<Map<string, number>> {
  const bucket = by === 'class' ? 'assumeNotNull(class)' : 'toString(arrayCount(x -> x < assumeNotNull(score), {edges:Array(Float64)}))';
  const present = by === 'class' ? 'class IS NOT NULL' : 'score IS NOT NULL';
  const rows = await sql.query<{ bucket: string; n: number }>(
    `SELECT ${bucket} AS bucket, count() AS n FROM shadow_predictions FINAL
     WHERE ${KEY_SQL} AND ${RANGE_SQL} AND status = 'ok' AND ${present} GROUP BY bucket`,
    { ...key, ...range, edges: by === 'class' ? [] : by.edges },
  );
  return new Map(rows.map((r) => [r.bucket, Number(r.n)]));
}

export interface SideBySideCell {
  who: 'champion' | 'shadow';
  predicted: string;
  actual: string;
  n: number;
}

/** Confusion tables of the logged prediction and of the shadow's class against the labels that arrived. */
export async function labelledConfusion(sql: Sql, key: ShadowKey, w: Range, c: Compared): Promise<SideBySideCell[]> {
  const rows = await sql.query<SideBySideCell>(
    `SELECT who, predicted, actual, count() AS n FROM (
       SELECT arrayJoin([('champion', logged_class), ('shadow', assumeNotNull(shadow_class))]) AS pair,
              pair.1 AS who, pair.2 AS predicted, label_str AS actual
       FROM (${joined(c, true)}) WHERE shadow_class IS NOT NULL)
     GROUP BY who, predicted, actual`,
    params(key, w, c),
  );
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/**
 * Confusion tables of the logged number and of the shadow's score, each cut
 * into class "1" at or above `threshold` and "0" below, against 0/1 labels.
 */
export async function labelledThresholdConfusion(sql: Sql, key: ShadowKey, w: Range, c: Compared, threshold: number): Promise<SideBySideCell[]> {
  const rows = await sql.query<SideBySideCell>(
    `SELECT who, predicted, actual, count() AS n FROM (
       SELECT arrayJoin([('champion', if(logged_num >= {threshold:Float64}, '1', '0')), ('shadow', if(shadow_score >= {threshold:Float64}, '1', '0'))]) AS pair,
              pair.1 AS who, pair.2 AS predicted, toString(toUInt8(assumeNotNull(label_num))) AS actual
       FROM (${joined(c, true)}) WHERE shadow_score IS NOT NULL AND logged_num IS NOT NULL AND label_num IN (0, 1))
     GROUP BY who, predicted, actual`,
    { ...params(key, w, c), threshold },
  );
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

export interface ScoreSums {
  n: number;
  champion_mae: number;
  shadow_mae: number;
  champion_rmse: number;
  shadow_rmse: number;
  label_variance: number;
  /** ROC AUC of both scores when the labels are 0/1 of two classes. */
  champion_auc: number | null;
  shadow_auc: number | null;
}

/** Errors of the logged number and of the shadow's score against numeric labels. */
export async function labelledScoreSums(sql: Sql, key: ShadowKey, w: Range, c: Compared): Promise<ScoreSums> {
  const [row] = await sql.query<ScoreSums & { binary: number }>(
    `SELECT count() AS n,
            avg(abs(logged_num - label_num)) AS champion_mae, avg(abs(shadow_score - label_num)) AS shadow_mae,
            sqrt(avg(pow(logged_num - label_num, 2))) AS champion_rmse, sqrt(avg(pow(shadow_score - label_num, 2))) AS shadow_rmse,
            varPop(label_num) AS label_variance,
            countIf(label_num IN (0, 1)) = n AND uniqExact(label_num) = 2 AS binary,
            if(binary, arrayAUC(groupArray(assumeNotNull(logged_num)), groupArray(toUInt8(assumeNotNull(label_num)))), NULL) AS champion_auc,
            if(binary, arrayAUC(groupArray(assumeNotNull(shadow_score)), groupArray(toUInt8(assumeNotNull(label_num)))), NULL) AS shadow_auc
     FROM (${joined(c, true)}) WHERE shadow_score IS NOT NULL AND logged_num IS NOT NULL AND label_num IS NOT NULL`,
    params(key, w, c),
  );
  return { ...(row as ScoreSums), n: Number(row?.n ?? 0) };
}
