import { msParam, type Sql } from './sql.ts';

/** What the models page shows of one model beside its counts (GET /v1/models?include=summary). */
export interface ModelSummaryFields {
  /** Events per second over the last analysis window before now. */
  event_rate_per_s: number;
  /** The newest window the scheduled analysis stored, and what it found; null before the first. */
  last_window: { from: number; to: number; n_events: number; drifted_features: string[]; drifted_share: number; dataset_drifted: boolean } | null;
  /** Share of the newest stored performance window's events that have a label; null before the first. */
  label_coverage: number | null;
}

/**
 * The summary fields of every model at once: three grouped queries whatever
 * the number of models, so the models page costs the same for one or fifty.
 * Only the newest window's report is read, with just the fields it needs.
 */
export async function modelSummaries(sql: Sql, windowMs: number, now = Date.now()): Promise<Map<string, ModelSummaryFields>> {
  const [rates, windows, coverage] = await Promise.all([
    sql.query<{ model: string; n: number }>(
      `SELECT model, count() AS n FROM events FINAL WHERE ts >= ${msParam('from')} AND ts < ${msParam('to')} GROUP BY model`,
      { from: now - windowMs, to: now },
    ),
    sql.query<{ model: string; from_ms: number; to_ms: number; window_events: number; drifted: string[]; share: number; dataset: number }>(
      `SELECT model, toUnixTimestamp64Milli(max(window_start)) AS from_ms,
              toUnixTimestamp64Milli(argMax(window_end, window_start)) AS to_ms,
              JSONExtractUInt(argMax(report, window_start), 'n_events') AS window_events,
              JSONExtract(argMax(report, window_start), 'drifted_features', 'Array(String)') AS drifted,
              JSONExtractFloat(argMax(report, window_start), 'drifted_share') AS share,
              JSONExtractBool(argMax(report, window_start), 'dataset_drifted') AS dataset
       FROM drift_windows FINAL WHERE segment_tag = '' GROUP BY model`,
    ),
    // Output names differ from column names: an alias named like its column would shadow it in WHERE.
    sql.query<{ model: string; last_events: number; last_labelled: number }>(
      `SELECT model, argMax(n_events, window_start) AS last_events, argMax(n_labelled, window_start) AS last_labelled
       FROM performance_results FINAL WHERE n_events > 0 GROUP BY model`,
    ),
  ]);
  const out = new Map<string, ModelSummaryFields>();
  const entry = (model: string) => {
    let e = out.get(model);
    if (!e) out.set(model, (e = { event_rate_per_s: 0, last_window: null, label_coverage: null }));
    return e;
  };
  for (const r of rates) entry(r.model).event_rate_per_s = Number(r.n) / (windowMs / 1000);
  for (const w of windows) {
    entry(w.model).last_window = {
      from: Number(w.from_ms),
      to: Number(w.to_ms),
      n_events: Number(w.window_events),
      drifted_features: w.drifted,
      drifted_share: Number(w.share),
      dataset_drifted: Boolean(Number(w.dataset)),
    };
  }
  for (const c of coverage) entry(c.model).label_coverage = Number(c.last_labelled) / Number(c.last_events);
  return out;
}
