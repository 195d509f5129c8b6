import { deleteRows } from './delete.ts';
import { msParam, type Sql } from './sql.ts';

/** A model's rolling baseline: refrozen every `every_ms` from the `lookback_ms` before, and made active. */
export interface RollingPolicy {
  model: string;
  every_ms: number;
  lookback_ms: number;
  /** Also freeze one baseline per value of this tag, as POST .../baselines with segment_by does. */
  segment_by: string | null;
  /** Rolled baselines kept (the newest); older rolled ones are deleted. Baselines frozen by hand are never touched. */
  keep: number;
  /** Name given to each rolled baseline; null: none. */
  name: string | null;
  updated_at: number;
}

export interface Refreeze {
  model: string;
  at: number;
  outcome: 'ok' | 'failed';
  baseline_id: string | null;
  from: number;
  to: number;
  n_events: number;
  /** Why a failed refreeze failed (e.g. no events in the range); empty when ok. */
  reason: string;
}

export async function saveRollingPolicy(sql: Sql, p: RollingPolicy): Promise<void> {
  await sql.command(
    `INSERT INTO baseline_rolling (model, every_ms, lookback_ms, segment_by, keep, name, updated_at)
     VALUES ({model:String}, {every:UInt64}, {lookback:UInt64}, {segment_by:String}, {keep:UInt32}, {name:String}, ${msParam('at')})`,
    { model: p.model, every: p.every_ms, lookback: p.lookback_ms, segment_by: p.segment_by ?? '', keep: p.keep, name: p.name ?? '', at: p.updated_at },
  );
}

export async function clearRollingPolicy(sql: Sql, model: string): Promise<void> {
  await deleteRows(sql, 'baseline_rolling', 'model = {model:String}', { model });
}

type PolicyRow = { model: string; every_ms: number; lookback_ms: number; segment_by: string; keep: number; name: string; updated_ms: number; last_ms: number | null };

const policyOf = (r: PolicyRow): RollingPolicy & { last_refreeze: number | null } => ({
  model: r.model,
  every_ms: Number(r.every_ms),
  lookback_ms: Number(r.lookback_ms),
  segment_by: r.segment_by || null,
  keep: Number(r.keep),
  name: r.name || null,
  updated_at: Number(r.updated_ms),
  last_refreeze: r.last_ms === null ? null : Number(r.last_ms),
});

/** Every policy (or one model's) with the time of its last refreeze since it was set, if any. */
export async function rollingPolicies(sql: Sql, model?: string): Promise<(RollingPolicy & { last_refreeze: number | null })[]> {
  const rows = await sql.query<PolicyRow>(
    `SELECT p.model AS model, p.every_ms AS every_ms, p.lookback_ms AS lookback_ms, p.segment_by AS segment_by, p.keep AS keep, p.name AS name,
            toUnixTimestamp64Milli(p.updated_at) AS updated_ms,
            if(r.last_at >= p.updated_at, toUnixTimestamp64Milli(r.last_at), NULL) AS last_ms
     FROM baseline_rolling AS p FINAL
     LEFT JOIN (SELECT model, max(at) AS last_at FROM baseline_refreezes GROUP BY model) AS r ON r.model = p.model
     WHERE {model:String} = '' OR p.model = {model:String}
     ORDER BY model`,
    { model: model ?? '' },
  );
  return rows.map(policyOf);
}

export async function recordRefreeze(sql: Sql, r: Refreeze): Promise<void> {
  await sql.command(
    `INSERT INTO baseline_refreezes (model, at, outcome, baseline_id, from_ts, to_ts, n_events, reason)
     VALUES ({model:String}, ${msParam('at')}, {outcome:String}, {id:String}, ${msParam('from')}, ${msParam('to')}, {n:UInt64}, {reason:String})`,
    { model: r.model, at: r.at, outcome: r.outcome, id: r.baseline_id ?? '', from: r.from, to: r.to, n: r.n_events, reason: r.reason },
  );
}

/** A model's refreezes, newest first. */
export async function listRefreezes(sql: Sql, model: string, limit: number): Promise<Refreeze[]> {
  const rows = await sql.query<{ model: string; at_ms: number; outcome: string; baseline_id: string; from_ms: number; to_ms: number; n_events: number; reason: string }>(
    `SELECT model, toUnixTimestamp64Milli(at) AS at_ms, outcome, baseline_id, toUnixTimestamp64Milli(from_ts) AS from_ms,
            toUnixTimestamp64Milli(to_ts) AS to_ms, n_events, reason
     FROM baseline_refreezes WHERE model = {model:String} ORDER BY at DESC LIMIT {limit:UInt32}`,
    { model, limit },
  );
  return rows.map((r) => ({
    model: r.model,
    at: Number(r.at_ms),
    outcome: r.outcome as Refreeze['outcome'],
    baseline_id: r.baseline_id || null,
    from: Number(r.from_ms),
    to: Number(r.to_ms),
    n_events: Number(r.n_events),
    reason: r.reason,
  }));
}

/** Rolled model-wide baselines of a model beyond the newest `keep`, never `except` (the active one). */
export async function rolledBeyond(sql: Sql, model: string, keep: number, except: string): Promise<string[]> {
  const rows = await sql.query<{ id: string }>(
    `SELECT toString(baseline_id) AS id FROM baselines FINAL
     WHERE model = {model:String} AND segment_tag = '' AND rolled = 1 AND baseline_id != {except:UUID}
     ORDER BY created_at DESC LIMIT 1000000 OFFSET {keep:UInt32}`,
    { model, keep: Math.max(0, keep - 1), except },
  );
  return rows.map((r) => r.id);
}
