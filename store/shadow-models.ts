import type { Role, ShadowSpec } from '../analyzers/shadow/spec.ts';
import { msParam, type Sql } from './sql.ts';

/** A registered shadow model as stored: its spec, and the ONNX bytes it was registered with. */
export interface ShadowRecord {
  model: string;
  name: string;
  /** Changes whenever the bytes or the spec change: predictions are kept per revision. */
  revision: string;
  registered_at: number;
  role: Role;
  spec: ShadowSpec;
  onnx: Buffer;
  /** Where the bytes came from: "upload" or the path named at registration. */
  source: string;
}

type Row = Omit<ShadowRecord, 'spec' | 'onnx' | 'registered_at'> & { spec: string; onnx_base64: string; registered_ms: number };

const fromRow = (r: Row): ShadowRecord => ({
  model: r.model,
  name: r.name,
  revision: r.revision,
  registered_at: Number(r.registered_ms),
  role: r.role,
  spec: JSON.parse(r.spec) as ShadowSpec,
  onnx: Buffer.from(r.onnx_base64, 'base64'),
  source: r.source,
});

export async function saveShadowModel(sql: Sql, record: ShadowRecord): Promise<void> {
  await sql.command(
    `INSERT INTO shadow_models (model, name, revision, registered_at, role, spec, onnx_base64, source, deleted)
     VALUES ({model:String}, {name:String}, {revision:String}, ${msParam('registered')}, {role:String}, {spec:String}, {onnx:String}, {source:String}, 0)`,
    {
      model: record.model,
      name: record.name,
      revision: record.revision,
      registered: record.registered_at,
      role: record.role,
      spec: JSON.stringify(record.spec),
      onnx: record.onnx.toString('base64'),
      source: record.source,
    },
  );
}

/** Removes a registration; its stored predictions and results stay, for history. */
export async function deleteShadowModel(sql: Sql, model: string, name: string, at: number): Promise<void> {
  await sql.command(
    `INSERT INTO shadow_models (model, name, revision, registered_at, role, spec, onnx_base64, source, deleted)
     VALUES ({model:String}, {name:String}, '', ${msParam('at')}, 'reference', '{}', '', '', 1)`,
    { model, name, at },
  );
}

const SELECT = `SELECT model, name, revision, toUnixTimestamp64Milli(registered_at) AS registered_ms, role, spec, onnx_base64, source
  FROM shadow_models FINAL WHERE deleted = 0`;

/** Every live registration, of one model or of all. */
export async function listShadowModels(sql: Sql, model?: string): Promise<ShadowRecord[]> {
  const rows = model
    ? await sql.query<Row>(`${SELECT} AND model = {model:String} ORDER BY name`, { model })
    : await sql.query<Row>(`${SELECT} ORDER BY model, name`);
  return rows.map(fromRow);
}

export async function getShadowModel(sql: Sql, model: string, name: string): Promise<ShadowRecord | null> {
  const [row] = await sql.query<Row>(`${SELECT} AND model = {model:String} AND name = {name:String}`, { model, name });
  return row ? fromRow(row) : null;
}
