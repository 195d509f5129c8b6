import { msParam, type Sql } from './sql.ts';

/**
 * Fills a registered baseline's minute pre-aggregates (and through their
 * views the hourly ones) from stored events of [from, to) that were ingested
 * before the registration: the ones the insert-time views never saw. The
 * same binning as the views of migration 9, written again here because a
 * migration is frozen text. Deduplicated (FINAL), so a backfilled minute is
 * exact even where retries stored an event twice.
 */
const EVENTS = `SELECT model, ts, num, cat, missing, prediction_num, prediction_cat FROM events FINAL
  WHERE model = {model:String} AND ts >= ${msParam('from')} AND ts < ${msParam('to')}
    AND ingested_at < ${msParam('before')} AND status != 'error'`;

const NUM_KEYS = `arrayConcat(mapKeys(num), if(prediction_num IS NULL, [], ['@prediction']))`;
const NUM_VALUES = `arrayConcat(mapValues(num), if(prediction_num IS NULL, [], [assumeNotNull(prediction_num)]))`;
const CAT_KEYS = `arrayConcat(mapKeys(cat), if(prediction_cat IS NULL, [], ['@prediction']))`;
const CAT_VALUES = `arrayConcat(mapValues(cat), if(prediction_cat IS NULL, [], [assumeNotNull(prediction_cat)]))`;

const STATEMENTS = [
  `INSERT INTO preagg_num_1m (model, baseline_id, t, feature, bin, n)
   SELECT e.model, {id:UUID}, toStartOfMinute(e.ts) AS t, e.f AS feature,
          toUInt16(if(e.v > r.last, r.k + 1, least(arrayCount(x -> x <= e.v, r.edges), r.k))) AS bin, count()
   FROM (SELECT model, ts, f, v FROM (${EVENTS}) ARRAY JOIN ${NUM_KEYS} AS f, ${NUM_VALUES} AS v) AS e
   INNER JOIN (SELECT feature, edges, toUInt32(greatest(length(edges), 1) - 1) AS k, if(empty(edges), 0., edges[-1]) AS last
               FROM preagg_edges FINAL WHERE model = {model:String} AND baseline_id = {id:UUID} AND kind = 'numeric' AND active = 1) AS r
   ON e.f = r.feature
   GROUP BY e.model, t, feature, bin`,
  `INSERT INTO preagg_cat_1m (model, baseline_id, t, feature, value, n)
   SELECT e.model, {id:UUID}, toStartOfMinute(e.ts) AS t, e.f AS feature, e.v AS value, count()
   FROM (SELECT model, ts, f, v FROM (${EVENTS}) ARRAY JOIN ${CAT_KEYS} AS f, ${CAT_VALUES} AS v) AS e
   INNER JOIN (SELECT feature FROM preagg_edges FINAL
               WHERE model = {model:String} AND baseline_id = {id:UUID} AND kind = 'categorical' AND active = 1) AS r
   ON e.f = r.feature
   GROUP BY e.model, t, feature, value`,
  `INSERT INTO preagg_presence_1m (model, baseline_id, t, kind, feature, n)
   SELECT model, {id:UUID}, toStartOfMinute(ts) AS t, p.1 AS kind, p.2 AS feature, count()
   FROM (${EVENTS})
   ARRAY JOIN arrayConcat([('events', '')], arrayMap(x -> ('numeric', x), ${NUM_KEYS}),
                          arrayMap(x -> ('categorical', x), ${CAT_KEYS}), arrayMap(x -> ('missing', x), missing)) AS p
   GROUP BY model, t, kind, feature`,
];

export async function fillPreaggregates(
  sql: Sql,
  q: { model: string; baselineId: string; from: number; to: number; before: number },
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const params = { model: q.model, id: q.baselineId, from: q.from, to: q.to, before: q.before };
  for (const statement of STATEMENTS) await sql.command(statement, params, { signal: options.signal });
}

/** The event times of a model's events stored before `before` (epoch ms), or null without any: what a backfill has to cover. */
export async function storedRange(sql: Sql, model: string, before: number): Promise<{ from: number; to: number } | null> {
  const [row] = await sql.query<{ n: number; lo: number; hi: number }>(
    `SELECT count() AS n, toUnixTimestamp64Milli(min(ts)) AS lo, toUnixTimestamp64Milli(max(ts)) AS hi
     FROM events WHERE model = {model:String} AND ingested_at < ${msParam('before')}`,
    { model, before },
  );
  return row && Number(row.n) > 0 ? { from: Number(row.lo), to: Number(row.hi) + 1 } : null;
}
