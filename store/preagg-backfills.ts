import { msParam, type Sql } from './sql.ts';

export type BackfillState = 'running' | 'done' | 'failed';

export interface PreaggBackfill {
  model: string;
  baselineId: string;
  /** The range of event times filled from stored events. */
  from: number;
  to: number;
  state: BackfillState;
  jobId: string;
  reason: string;
}

/** Records where a baseline's backfill of pre-aggregates stands (the newest record wins). */
export async function saveBackfill(sql: Sql, b: PreaggBackfill, at: number): Promise<void> {
  await sql.command(
    `INSERT INTO preagg_backfills (model, baseline_id, from_ts, to_ts, state, job_id, reason, updated_at)
     VALUES ({model:String}, {id:UUID}, ${msParam('from')}, ${msParam('to')}, {state:String}, {job:String}, {reason:String}, ${msParam('at')})`,
    { model: b.model, id: b.baselineId, from: b.from, to: b.to, state: b.state, job: b.jobId, reason: b.reason, at },
  );
}

export async function getBackfill(sql: Sql, model: string, baselineId: string): Promise<PreaggBackfill | null> {
  const rows = await sql.query<{ from_ms: number; to_ms: number; state: BackfillState; job_id: string; reason: string }>(
    `SELECT toUnixTimestamp64Milli(from_ts) AS from_ms, toUnixTimestamp64Milli(to_ts) AS to_ms, state, job_id, reason
     FROM preagg_backfills FINAL WHERE model = {model:String} AND baseline_id = {id:UUID}`,
    { model, id: baselineId },
  );
  const r = rows[0];
  return r ? { model, baselineId, from: Number(r.from_ms), to: Number(r.to_ms), state: r.state, jobId: r.job_id, reason: r.reason } : null;
}
