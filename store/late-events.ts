import { msParam, type Sql } from './sql.ts';
import { WINDOW_SQL, windowParams } from './window.ts';

/**
 * Windows of `model` in `range` (aligned to `windowMs`) that were analysed
 * and have since gained more than `share` of their events: the share is
 * (events now - events the stored report counted) / events now. Counted
 * with FINAL, as the analysis counts them, so a resend of events already
 * stored never looks late.
 */
export async function lateWindows(
  sql: Sql,
  model: string,
  range: { from: number; to: number },
  windowMs: number,
  share: number,
): Promise<{ from: number; to: number }[]> {
  const params = { ...windowParams({ model, ...range }), size: windowMs };
  const [analysed, now] = await Promise.all([
    sql.query<{ start_ms: number; end_ms: number; n: number }>(
      `SELECT toUnixTimestamp64Milli(window_start) AS start_ms, toUnixTimestamp64Milli(window_end) AS end_ms,
              JSONExtractUInt(report, 'n_events') AS n
       FROM drift_windows FINAL
       WHERE model = {model:String} AND segment_tag = '' AND segment_value = ''
         AND window_start >= ${msParam('from')} AND window_start < ${msParam('to')}`,
      params,
    ),
    sql.query<{ start_ms: number; n: number }>(
      `SELECT intDiv(toUnixTimestamp64Milli(ts), {size:Int64}) * {size:Int64} AS start_ms, count() AS n
       FROM events FINAL
       WHERE ${WINDOW_SQL}
       GROUP BY start_ms`,
      params,
    ),
  ]);
  const counts = new Map(now.map((r) => [Number(r.start_ms), Number(r.n)]));
  return analysed
    .filter((w) => Number(w.end_ms) - Number(w.start_ms) === windowMs)
    .filter((w) => {
      const total = counts.get(Number(w.start_ms)) ?? 0;
      return total > 0 && (total - Number(w.n)) / total > share;
    })
    .map((w) => ({ from: Number(w.start_ms), to: Number(w.end_ms) }))
    .sort((a, b) => a.from - b.from);
}
