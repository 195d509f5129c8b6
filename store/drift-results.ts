import { assembleReport, type DriftReport, type FeatureDrift } from '../analyzers/drift.ts';
import { msParam, type Sql } from './sql.ts';
import { encodeCompact } from './events.ts';

/** Stores one window's report, one row per feature; re-running a window replaces it. */
export async function saveDriftReport(sql: Sql, report: DriftReport, computedAt: number): Promise<void> {
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

export type HistoryWindow = DriftReport & { computed_at: number };

interface ResultRow {
  baseline: string;
  start_ms: number;
  end_ms: number;
  computed_ms: number;
  feature: string;
  kind: 'numeric' | 'categorical';
  method: string;
  score: number | null;
  threshold: number;
  drifted: number;
  status: FeatureDrift['status'];
  n_reference: number;
  n_current: number;
  window_events: number;
  metrics: Record<string, number>;
}

/** Stored window reports of the scheduled job, newest first. */
export async function driftHistory(
  sql: Sql,
  model: string,
  from: number,
  to: number,
  limitWindows: number,
): Promise<HistoryWindow[]> {
  const rows = await sql.query<ResultRow>(
    // Output names differ from column names: an alias named like its column would shadow it in WHERE.
    `SELECT toString(baseline_id) AS baseline, toUnixTimestamp64Milli(window_start) AS start_ms,
            toUnixTimestamp64Milli(window_end) AS end_ms, toUnixTimestamp64Milli(computed_at) AS computed_ms,
            feature, kind, method, score, threshold, drifted, status,
            n_reference, n_current, window_events, metrics
     FROM drift_results FINAL
     WHERE model = {model:String} AND window_start >= ${msParam('from')} AND window_start < ${msParam('to')}
       AND window_start IN (
         SELECT DISTINCT window_start FROM drift_results
         WHERE model = {model:String} AND window_start >= ${msParam('from')} AND window_start < ${msParam('to')}
         ORDER BY window_start DESC LIMIT {limit:UInt32})
     ORDER BY window_start DESC, drifted DESC, score DESC, feature`,
    { model, from, to, limit: limitWindows },
  );
  const windows = new Map<string, { first: ResultRow; results: FeatureDrift[] }>();
  for (const r of rows) {
    const key = `${r.start_ms}:${r.end_ms}`;
    let w = windows.get(key);
    if (!w) windows.set(key, (w = { first: r, results: [] }));
    w.results.push({
      feature: r.feature,
      kind: r.kind,
      n_reference: Number(r.n_reference),
      n_current: Number(r.n_current),
      metrics: r.metrics,
      method: r.method,
      score: r.score,
      threshold: r.threshold,
      drifted: Number(r.drifted) === 1,
      status: r.status,
    });
  }
  return [...windows.values()].map(({ first, results }) => ({
    ...assembleReport(model, first.baseline, { from: Number(first.start_ms), to: Number(first.end_ms) }, Number(first.window_events), results),
    computed_at: Number(first.computed_ms),
  }));
}
