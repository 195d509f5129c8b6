import type { AlertStatus, SeriesState } from '../alerts/state.ts';
import { msParam, type Sql } from './sql.ts';

export interface SeriesKey {
  rule: string;
  model: string;
  subject: string;
}

export type StoredState = SeriesKey & SeriesState & { severity: string };

const ms = (v: number | null | string) => (v === null ? null : Number(v));

/** Every series that is not inactive, as last stored. */
export async function loadAlertStates(sql: Sql): Promise<StoredState[]> {
  const rows = await sql.query<Record<string, unknown>>(
    `SELECT rule, model, subject, status, breaches, clears, value, severity,
            toUnixTimestamp64Milli(active_since) AS active_since_ms, toUnixTimestamp64Milli(fired_at) AS fired_ms,
            toUnixTimestamp64Milli(resolved_at) AS resolved_ms, toUnixTimestamp64Milli(window_end) AS window_end_ms
     FROM alert_states FINAL WHERE status != 'inactive' ORDER BY rule, model, subject`,
  );
  return rows.map((r) => ({
    rule: String(r.rule),
    model: String(r.model),
    subject: String(r.subject),
    status: r.status as AlertStatus,
    breaches: Number(r.breaches),
    clears: Number(r.clears),
    value: r.value === null ? null : Number(r.value),
    severity: String(r.severity),
    active_since: ms(r.active_since_ms as number | null),
    fired_at: ms(r.fired_ms as number | null),
    resolved_at: ms(r.resolved_ms as number | null),
    window_end: Number(r.window_end_ms),
  }));
}

const STATE_COLUMNS = ['rule', 'model', 'subject', 'status', 'breaches', 'clears', 'value', 'active_since', 'fired_at', 'resolved_at', 'window_end', 'severity', 'updated_at'];

export async function saveAlertStates(sql: Sql, states: readonly StoredState[], at: number): Promise<void> {
  if (states.length === 0) return;
  const lines = states.map((s) =>
    JSON.stringify([s.rule, s.model, s.subject, s.status, s.breaches, s.clears, s.value, s.active_since, s.fired_at, s.resolved_at, s.window_end, s.severity, at]),
  );
  await sql.insertCompact('alert_states', STATE_COLUMNS, Buffer.from(lines.join('\n') + '\n'));
}

export interface AlertEvent extends SeriesKey {
  at: number;
  from_status: AlertStatus;
  to_status: AlertStatus;
  value: number | null;
  threshold: number;
  severity: string;
  window_start: number;
  window_end: number;
}

const EVENT_COLUMNS = ['at', 'rule', 'model', 'subject', 'from_status', 'to_status', 'value', 'threshold', 'severity', 'window_start', 'window_end'] as const;

export async function saveAlertEvents(sql: Sql, events: readonly AlertEvent[]): Promise<void> {
  if (events.length === 0) return;
  const lines = events.map((e) => JSON.stringify(EVENT_COLUMNS.map((c) => e[c])));
  await sql.insertCompact('alert_events', [...EVENT_COLUMNS], Buffer.from(lines.join('\n') + '\n'));
}

/** Transitions with windows ending in [from, to), newest first, optionally of one model or into one status. */
export async function alertHistory(
  sql: Sql,
  q: { from: number; to: number; model?: string; status?: AlertStatus; limit: number; models?: readonly string[] },
): Promise<AlertEvent[]> {
  // Model patterns (core/patterns.ts) of a key limited to models, as exact names and prefixes.
  const patterns = q.models ?? [];
  const exact = patterns.filter((p) => !p.endsWith('*'));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  const rows = await sql.query<Record<string, unknown>>(
    `SELECT toUnixTimestamp64Milli(at) AS at_ms, rule, model, subject, from_status, to_status, value, threshold, severity,
            toUnixTimestamp64Milli(window_start) AS start_ms, toUnixTimestamp64Milli(window_end) AS end_ms
     FROM alert_events FINAL
     WHERE window_end >= ${msParam('from')} AND window_end < ${msParam('to')}
       AND ({model:String} = '' OR model = {model:String}) AND ({status:String} = '' OR to_status = {status:String})
       AND ({limited:Bool} = false OR has({exact:Array(String)}, model) OR arrayExists(p -> startsWith(model, p), {prefixes:Array(String)}))
     ORDER BY window_end DESC, rule, model, subject LIMIT {limit:UInt32}`,
    { from: q.from, to: q.to, model: q.model ?? '', status: q.status ?? '', limit: q.limit, limited: q.models !== undefined, exact, prefixes },
  );
  return rows.map((r) => ({
    at: Number(r.at_ms),
    rule: String(r.rule),
    model: String(r.model),
    subject: String(r.subject),
    from_status: r.from_status as AlertStatus,
    to_status: r.to_status as AlertStatus,
    value: r.value === null ? null : Number(r.value),
    threshold: Number(r.threshold),
    severity: String(r.severity),
    window_start: Number(r.start_ms),
    window_end: Number(r.end_ms),
  }));
}
