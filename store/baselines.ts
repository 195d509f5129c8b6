import type { Baseline } from '../analyzers/baseline.ts';
import { msParam, type Sql } from './sql.ts';

interface BaselineRow {
  segment_tag: string;
  segment_value: string;
  parent_id: string;
  id: string;
  model: string;
  created_ms: number;
  from_ms: number;
  to_ms: number;
  n_events: number;
  spec: string;
}

// Output names differ from column names: an alias named like its column would shadow it in WHERE.
const COLUMNS = `toString(baseline_id) AS id, model, toUnixTimestamp64Milli(created_at) AS created_ms,
  toUnixTimestamp64Milli(from_ts) AS from_ms, toUnixTimestamp64Milli(to_ts) AS to_ms, n_events, spec,
  segment_tag, segment_value, parent_id`;

export type BaselineSummary = Omit<Baseline, 'features' | 'performance'>;

const summaryOf = (r: Omit<BaselineRow, 'spec'>): BaselineSummary => ({
  baseline_id: r.id,
  model: r.model,
  created_at: Number(r.created_ms),
  from: Number(r.from_ms),
  to: Number(r.to_ms),
  n_events: Number(r.n_events),
  segment: r.segment_tag ? { tag: r.segment_tag, value: r.segment_value } : null,
  parent_baseline_id: r.parent_id || null,
});

const fromRow = (r: BaselineRow): Baseline => {
  const spec = JSON.parse(r.spec);
  return { ...summaryOf(r), features: spec.features, performance: spec.performance ?? null };
};

export async function saveBaseline(sql: Sql, b: Baseline): Promise<void> {
  await sql.command(
    `INSERT INTO baselines (baseline_id, model, created_at, from_ts, to_ts, n_events, spec, segment_tag, segment_value, parent_id)
     VALUES ({id:UUID}, {model:String}, ${msParam('created')}, ${msParam('from')}, ${msParam('to')}, {n:UInt64}, {spec:String},
             {segment_tag:String}, {segment_value:String}, {parent:String})`,
    {
      id: b.baseline_id,
      model: b.model,
      created: b.created_at,
      from: b.from,
      to: b.to,
      n: b.n_events,
      spec: JSON.stringify({ features: b.features, performance: b.performance ?? null }),
      segment_tag: b.segment?.tag ?? '',
      segment_value: b.segment?.value ?? '',
      parent: b.parent_baseline_id ?? '',
    },
  );
}

export async function getBaseline(sql: Sql, model: string, baselineId: string): Promise<Baseline | null> {
  const rows = await sql.query<BaselineRow>(
    `SELECT ${COLUMNS} FROM baselines FINAL WHERE model = {model:String} AND baseline_id = {id:UUID}`,
    { model, id: baselineId },
  );
  return rows.length > 0 ? fromRow(rows[0]) : null;
}

export async function latestBaseline(sql: Sql, model: string): Promise<Baseline | null> {
  const rows = await sql.query<BaselineRow>(
    `SELECT ${COLUMNS} FROM baselines FINAL WHERE model = {model:String} AND segment_tag = '' ORDER BY created_ms DESC LIMIT 1`,
    { model },
  );
  return rows.length > 0 ? fromRow(rows[0]) : null;
}

export async function listBaselines(sql: Sql, model: string): Promise<BaselineSummary[]> {
  const rows = await sql.query<BaselineRow>(
    `SELECT ${COLUMNS} FROM baselines FINAL WHERE model = {model:String} AND segment_tag = '' ORDER BY created_ms DESC`,
    { model },
  );
  return rows.map(summaryOf);
}

/** Models that have at least one baseline: the ones the scheduler analyses. */
export async function modelsWithBaselines(sql: Sql): Promise<string[]> {
  const rows = await sql.query<{ model: string }>('SELECT DISTINCT model FROM baselines ORDER BY model');
  return rows.map((r) => r.model);
}

/** The segment baselines frozen with a model-wide baseline: for one tag, or for every tag. */
export async function segmentBaselines(sql: Sql, model: string, parentId: string, tag?: string): Promise<Baseline[]> {
  const rows = await sql.query<BaselineRow>(
    `SELECT ${COLUMNS} FROM baselines FINAL
     WHERE model = {model:String} AND parent_id = {parent:String} AND segment_tag != ''
       AND ({tag:String} = '' OR segment_tag = {tag:String})
     ORDER BY segment_tag, n_events DESC, segment_value`,
    { model, parent: parentId, tag: tag ?? '' },
  );
  return rows.map(fromRow);
}
