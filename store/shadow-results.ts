import type { ShadowReport } from '../analyzers/shadow/report.ts';
import { msParam, type Sql } from './sql.ts';

/** A window's shadow report is stored whole; a recomputation (labels arrived) replaces it. */
export async function saveShadowReport(sql: Sql, report: ShadowReport, computedAt: number): Promise<void> {
  await sql.command(
    `INSERT INTO shadow_results (model, shadow, revision, role, window_start, window_end, computed_at, report)
     VALUES ({model:String}, {shadow:String}, {revision:String}, {role:String}, ${msParam('from')}, ${msParam('to')}, ${msParam('computed')}, {report:String})`,
    {
      model: report.model,
      shadow: report.shadow,
      revision: report.revision,
      role: report.role,
      from: report.from,
      to: report.to,
      computed: computedAt,
      report: JSON.stringify(report),
    },
  );
}

/** Stored reports of one shadow with windows starting in [from, to), newest first. */
export async function shadowHistory(
  sql: Sql,
  q: { model: string; shadow: string; from: number; to: number; limit: number },
): Promise<(ShadowReport & { computed_at: number })[]> {
  const rows = await sql.query<{ report: string; computed_ms: number }>(
    `SELECT report, toUnixTimestamp64Milli(computed_at) AS computed_ms FROM shadow_results FINAL
     WHERE model = {model:String} AND shadow = {shadow:String}
       AND window_start >= ${msParam('from')} AND window_start < ${msParam('to')}
     ORDER BY window_start DESC LIMIT {limit:UInt32}`,
    q,
  );
  return rows.map((r) => ({ ...(JSON.parse(r.report) as ShadowReport), computed_at: Number(r.computed_ms) }));
}
