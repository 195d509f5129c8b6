import type { Sql } from './sql.ts';

/** The tags a model-wide baseline has segment baselines for (frozen with segment_by), in name order. */
export async function segmentTags(sql: Sql, model: string, baselineId: string): Promise<string[]> {
  const rows = await sql.query<{ tag: string }>(
    `SELECT DISTINCT segment_tag AS tag FROM baselines FINAL
     WHERE model = {model:String} AND parent_id = {parent:String} AND segment_tag != '' ORDER BY tag`,
    { model, parent: baselineId },
  );
  return rows.map((r) => r.tag);
}
