import type { comparePerformance } from '../analyzers/performance-window.ts';
import { encodeCompact } from './events.ts';
import { msParam, type Sql } from './sql.ts';

export type WindowPerformance = ReturnType<typeof comparePerformance> & { model: string; from: number; to: number; computed_at: number };

const COLUMNS = [
  'model', 'window_start', 'window_end', 'computed_at', 'task', 'n_events', 'n_labelled',
  'label_delay_p50_s', 'label_delay_p90_s', 'metrics', 'baseline_metrics',
] as const;

/** Stores a window's performance; a later computation of the same window (more labels) replaces it. */
export async function savePerformance(sql: Sql, p: WindowPerformance): Promise<void> {
  await savePerformances(sql, [p]);
}

/** Several windows' performance in one insert (the scheduler's recompute of earlier windows). */
export async function savePerformances(sql: Sql, windows: readonly WindowPerformance[]): Promise<void> {
  if (windows.length === 0) return;
  const rows = windows.map((p) => ({
    model: p.model,
    window_start: p.from,
    window_end: p.to,
    computed_at: p.computed_at,
    task: p.task ?? '',
    n_events: p.n_events,
    n_labelled: p.n_labelled,
    label_delay_p50_s: p.label_delay_p50_s,
    label_delay_p90_s: p.label_delay_p90_s,
    metrics: p.metrics,
    baseline_metrics: p.baseline_metrics ?? {},
  }));
  await sql.insertCompact('performance_results', COLUMNS, Buffer.from(encodeCompact(rows, COLUMNS)));
}

interface Row {
  start_ms: number;
  end_ms: number;
  computed_ms: number;
  task: string;
  n_events: number;
  n_labelled: number;
  label_delay_p50_s: number | null;
  label_delay_p90_s: number | null;
  metrics: Record<string, number>;
  baseline_metrics: Record<string, number>;
}

/** Stored window performance, newest window first. */
export async function performanceHistory(sql: Sql, model: string, from: number, to: number, limit: number): Promise<WindowPerformance[]> {
  const rows = await sql.query<Row>(
    `SELECT toUnixTimestamp64Milli(window_start) AS start_ms, toUnixTimestamp64Milli(window_end) AS end_ms,
            toUnixTimestamp64Milli(computed_at) AS computed_ms, task, n_events, n_labelled,
            label_delay_p50_s, label_delay_p90_s, metrics, baseline_metrics
     FROM performance_results FINAL
     WHERE model = {model:String} AND window_start >= ${msParam('from')} AND window_start < ${msParam('to')}
     ORDER BY window_start DESC LIMIT {limit:UInt32}`,
    { model, from, to, limit },
  );
  return rows.map((r) => {
    const change: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.metrics)) if (k in r.baseline_metrics) change[k] = v - r.baseline_metrics[k];
    const nEvents = Number(r.n_events);
    const nLabelled = Number(r.n_labelled);
    return {
      model,
      from: Number(r.start_ms),
      to: Number(r.end_ms),
      computed_at: Number(r.computed_ms),
      task: (r.task || null) as WindowPerformance['task'],
      n_events: nEvents,
      n_labelled: nLabelled,
      label_coverage: nEvents > 0 ? nLabelled / nEvents : 0,
      label_delay_p50_s: r.label_delay_p50_s,
      label_delay_p90_s: r.label_delay_p90_s,
      metrics: r.metrics,
      baseline_metrics: Object.keys(r.baseline_metrics).length > 0 ? r.baseline_metrics : null,
      change,
    };
  });
}
