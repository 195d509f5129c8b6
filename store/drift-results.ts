import type { DriftReport } from '../analyzers/drift.ts';
import { msParam, type Sql } from './sql.ts';
import { encodeCompact } from './events.ts';

/**
 * Stores one window's report; re-running a window replaces it. The whole
 * report goes to drift_windows (what history serves); a model-wide report
 * also goes to drift_results, one row per feature, for SQL and Grafana.
 */
export async function saveDriftReport(sql: Sql, report: DriftReport, computedAt: number): Promise<void> {
  const segment = report.segment ?? null;
  const window = {
    model: report.model,
    segment_tag: segment?.tag ?? '',
    segment_value: segment?.value ?? '',
    window_start: report.from,
    window_end: report.to,
    computed_at: computedAt,
    baseline_id: report.baseline_id,
    report: JSON.stringify(report),
  };
  const windowColumns = Object.keys(window) as (keyof typeof window)[];
  await sql.insertCompact('drift_windows', windowColumns, Buffer.from(encodeCompact([window], windowColumns)));
  if (segment) return;

  const targets = report.prediction ? [...report.features, report.prediction] : report.features;
  const rows = targets.map((f) => ({
    model: report.model,
    baseline_id: report.baseline_id,
    window_start: report.from,
    window_end: report.to,
    computed_at: computedAt,
    feature: f.feature,
    kind: f.kind,
    method: f.method,
    score: f.score,
    threshold: f.threshold,
    drifted: f.drifted ? 1 : 0,
    status: f.status,
    n_reference: f.n_reference,
    n_current: f.n_current,
    window_events: report.n_events,
    metrics: f.metrics,
  }));
  const columns = Object.keys(rows[0] ?? {}) as (keyof (typeof rows)[number])[];
  if (rows.length > 0) await sql.insertCompact('drift_results', columns, Buffer.from(encodeCompact(rows, columns)));
}

/** A stored report, as it was computed, with when. */
export type StoredReport = DriftReport & { computed_at: number };
export type HistoryWindow = StoredReport & { segments?: StoredReport[] };

// Output names differ from column names: an alias named like its column would shadow it in WHERE.
const REPORT_COLUMNS = `toUnixTimestamp64Milli(computed_at) AS computed_ms, report`;

const fromRow = (r: { computed_ms: number; report: string }): StoredReport => ({ ...JSON.parse(r.report), computed_at: Number(r.computed_ms) });

/**
 * Stored window reports of the scheduled job, newest first. With `segments`,
 * each window also carries the reports of that tag's segments (`value`
 * narrows them to one).
 */
export async function driftHistory(
  sql: Sql,
  model: string,
  range: { from: number; to: number },
  limitWindows: number,
  segments?: { tag: string; value?: string },
): Promise<HistoryWindow[]> {
  const rows = await sql.query<{ computed_ms: number; report: string }>(
    `SELECT ${REPORT_COLUMNS} FROM drift_windows FINAL
     WHERE model = {model:String} AND segment_tag = '' AND segment_value = ''
       AND window_start >= ${msParam('from')} AND window_start < ${msParam('to')}
     ORDER BY window_start DESC, window_end DESC
     LIMIT {limit:UInt32}`,
    { model, from: range.from, to: range.to, limit: limitWindows },
  );
  const windows: HistoryWindow[] = rows.map(fromRow);
  if (!segments || windows.length === 0) return windows;

  const parts = await sql.query<{ computed_ms: number; report: string }>(
    `SELECT ${REPORT_COLUMNS} FROM drift_windows FINAL
     WHERE model = {model:String} AND segment_tag = {tag:String}
       AND ({value:String} = '' OR segment_value = {value:String})
       AND window_start >= ${msParam('from')} AND window_start < ${msParam('to')}
     ORDER BY window_start DESC, segment_value`,
    { model, tag: segments.tag, value: segments.value ?? '', from: windows[windows.length - 1].from, to: range.to },
  );
  const byWindow = new Map<string, StoredReport[]>();
  for (const w of windows) byWindow.set(`${w.from}:${w.to}`, (w.segments = []));
  for (const part of parts.map(fromRow)) byWindow.get(`${part.from}:${part.to}`)?.push(part);
  return windows;
}
