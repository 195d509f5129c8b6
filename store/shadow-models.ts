import type { Role, ShadowSpec } from '../analyzers/shadow/spec.ts';
import { msParam, type Sql } from './sql.ts';

/**
 * A registered shadow model as stored: its spec and the size of the ONNX
 * bytes it was registered with. The bytes themselves are read only when a
 * revision is loaded (shadowModelBytes): listings run on every scoring pass
 * and must not carry megabytes of model each time.
 */
export interface ShadowRecord {
  model: string;
  name: string;
  /** Changes whenever the bytes or the spec change: predictions are kept per revision. */
  revision: string;
  registered_at: number;
  role: Role;
  spec: ShadowSpec;
  model_bytes: number;
  /** Where the bytes came from: "upload" or the path named at registration. */
  source: string;
}

type Row = Omit<ShadowRecord, 'spec' | 'registered_at'> & { spec: string; registered_ms: number };

const fromRow = (r: Row): ShadowRecord => ({
  model: r.model,
  name: r.name,
  revision: r.revision,
  registered_at: Number(r.registered_ms),
  role: r.role,
  spec: JSON.parse(r.spec) as ShadowSpec,
  model_bytes: Number(r.model_bytes),
  source: r.source,
});

export async function saveShadowModel(sql: Sql, record: Omit<ShadowRecord, 'model_bytes'>, onnx: Buffer): Promise<void> {
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
      onnx: onnx.toString('base64'),
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

// The decoded size from the base64 length and its padding, without decoding.
const SELECT = `SELECT model, name, revision, toUnixTimestamp64Milli(registered_at) AS registered_ms, role, spec, source,
    intDiv(length(onnx_base64), 4) * 3 - countSubstrings(right(onnx_base64, 2), '=') AS model_bytes
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

/** The ONNX bytes of one revision, or null when that revision is no longer the registered one. */
export async function shadowModelBytes(sql: Sql, record: Pick<ShadowRecord, 'model' | 'name' | 'revision'>): Promise<Buffer | null> {
  const [row] = await sql.query<{ onnx_base64: string }>(
    `SELECT onnx_base64 FROM shadow_models FINAL
     WHERE deleted = 0 AND model = {model:String} AND name = {name:String} AND revision = {revision:String}`,
    record,
  );
  return row ? Buffer.from(row.onnx_base64, 'base64') : null;
}
