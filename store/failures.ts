import type { Sql } from './sql.ts';
import { eventsOf, WINDOW_SQL, windowParams, type Window } from './window.ts';

/** A window's failed predictions (issue 20): how many of its events failed, and how. */
export interface WindowErrors {
  /** Every event of the window, failed ones included. */
  events: number;
  failed: number;
  /** failed / events; null for a window without events. */
  rate: number | null;
  /** The most frequent error types, most frequent first (at most `cap`). */
  types: { error_type: string; n: number }[];
}

/** Counts the window's events by status, failed ones always included (whatever the window's includeFailed). */
export async function windowErrors(sql: Sql, w: Window, cap = 20): Promise<WindowErrors> {
  const params = { ...windowParams({ ...w, includeFailed: true }), cap };
  const [[totals], types] = await Promise.all([
    sql.query<{ events: number; failed: number }>(
      `SELECT count() AS events, countIf(status = 'error') AS failed FROM ${eventsOf(w)} WHERE ${WINDOW_SQL}`,
      params,
    ),
    sql.query<{ error_type: string; n: number }>(
      `SELECT error_type, count() AS n FROM ${eventsOf(w)} WHERE ${WINDOW_SQL} AND status = 'error'
       GROUP BY error_type ORDER BY n DESC, error_type LIMIT {cap:UInt32}`,
      params,
    ),
  ]);
  const events = Number(totals?.events ?? 0);
  const failed = Number(totals?.failed ?? 0);
  return { events, failed, rate: events > 0 ? failed / events : null, types: types.map((t) => ({ error_type: t.error_type, n: Number(t.n) })) };
}
