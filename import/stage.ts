import { join } from 'node:path';
import type { Sql } from '../store/sql.ts';
import type { Column } from './columns.ts';
import { tableFunction, type ImportFormat, type Source } from './source.ts';

/** The file could not be read at all (no such URL, not Parquet, a broken CSV): the engine's reason, trimmed. */
export class UnreadableError extends Error {
  override name = 'UnreadableError';
}

/**
 * The engine's own sentences out of its error text, outermost first (a
 * schema inference failure wraps the parse error that caused it): no
 * "Query failed: Code: N. DB::Exception:", no version, no stack.
 */
export function engineReason(err: unknown): string {
  const text = String((err as Error)?.message ?? err).replace(/\s*Stack trace:[\s\S]*$/, '');
  const parts = text.split(/(?:Code: \d+\. )?DB::\w*Exception: /).slice(1);
  const sentences = (parts.length > 0 ? parts : [text.replace(/^Query failed: /, '')])
    .map((p) => p.replace(/\(version [^)]*\)/g, '').replace(/\s*Error:\s*$/, '').replace(/\s+/g, ' ').trim().replace(/\.$/, ''))
    .filter(Boolean);
  const reason = sentences.join(': ');
  return reason.length > 400 ? `${reason.slice(0, 400)}...` : reason;
}

/** Lines of an NDJSON file read to find its keys (the columns a mapping can name). */
export const NDJSON_SAMPLE_LINES = 10_000;

const CSV_SETTINGS = 'input_format_csv_allow_variable_number_of_columns = 1';

/**
 * The file's columns, as the engine sees them: DESCRIBE for Parquet and CSV
 * (CSV types inferred from its first rows), the keys of the first lines
 * for NDJSON. Throws UnreadableError when the engine cannot read it.
 */
export async function describeSource(sql: Sql, source: Source, format: ImportFormat): Promise<Column[]> {
  try {
    if (format === 'ndjson') {
      const from = tableFunction(source, 'LineAsString');
      const [row] = await sql.query<{ keys: string[]; lines: number }>(
        `SELECT arrayDistinct(arrayFlatten(groupArray(JSONExtractKeys(line)))) AS keys, count() AS lines
         FROM (SELECT line FROM ${from.sql} WHERE isValidJSON(line) LIMIT ${NDJSON_SAMPLE_LINES})`,
        from.params,
      );
      if (!row || Number(row.lines) === 0) throw new UnreadableError(`no JSON object among the first ${NDJSON_SAMPLE_LINES} lines: is it NDJSON?`);
      return row.keys.map((name) => ({ name, type: 'JSON', staged: 'c0' }));
    }
    const from = tableFunction(source, format === 'parquet' ? 'Parquet' : 'CSVWithNames');
    const rows = await sql.query<{ name: string; type: string }>(
      `DESCRIBE TABLE ${from.sql}${format === 'csv' ? ` SETTINGS ${CSV_SETTINGS}` : ''}`,
      from.params,
    );
    if (rows.length === 0) throw new UnreadableError('the file has no columns');
    return rows.map((r, i) => ({ name: r.name, type: r.type, staged: `c${i}` }));
  } catch (err) {
    if (err instanceof UnreadableError) throw err;
    throw new UnreadableError(engineReason(err));
  }
}

export interface StagedPart {
  file: string;
  rows: number;
}

/**
 * Reads the whole file once, in one statement, into Native files of up to
 * `chunkRows` rows each in `dir` (the engine's fastest format to write and
 * read back), with each row's number in the file. What follows reads a
 * part at a time: progress is reported, a cancel is heard, and other
 * statements (ingest, analysis) get their turn at the store between parts.
 * Reading the source again per part instead would read all of it each time
 * (the engine cannot seek Parquet, CSV or a URL by row number: measured).
 */
export async function stageSource(
  sql: Sql,
  source: Source,
  format: ImportFormat,
  columns: readonly Column[],
  dir: string,
  chunkRows: number,
): Promise<StagedPart[]> {
  const dest = { dest: join(dir, 'part-{_partition_id}.native'), chunk: chunkRows };
  let select: string;
  let from: { sql: string; params: Record<string, unknown> };
  const params: Record<string, unknown> = {};
  let settings = '';
  if (format === 'ndjson') {
    from = tableFunction(source, 'LineAsString');
    select = `SELECT line AS c0, _row_number AS __row FROM ${from.sql} WHERE trimBoth(line) != ''`;
  } else if (format === 'csv') {
    // Every field as text, by position (the header is read for names only): a value that does not
    // fit the column's inferred type is then one bad row, not a failed file (import/columns.ts).
    const structure = columns.map((c) => `${c.staged} Nullable(String)`).join(', ');
    from = tableFunction(source, 'CSVWithNames', structure);
    select = `SELECT ${columns.map((c) => c.staged).join(', ')}, _row_number AS __row FROM ${from.sql}`;
    settings = ` SETTINGS ${CSV_SETTINGS}, input_format_with_names_use_header = 0`;
  } else {
    from = tableFunction(source, 'Parquet');
    columns.forEach((c, i) => (params[`i${i}`] = c.name));
    select = `SELECT ${columns.map((c, i) => `{i${i}:Identifier} AS ${c.staged}`).join(', ')}, _row_number AS __row FROM ${from.sql}`;
  }
  try {
    await sql.command(
      `INSERT INTO FUNCTION file({dest:String}, 'Native') PARTITION BY intDiv(__row, {chunk:UInt64}) ${select}${settings}`,
      { ...from.params, ...params, ...dest },
    );
  } catch (err) {
    throw new UnreadableError(engineReason(err));
  }
  const parts = await sql.query<{ file: string; rows: number }>(
    `SELECT _file AS file, count() AS rows FROM file({glob:String}, 'Native') GROUP BY _file`,
    { glob: join(dir, 'part-*.native') },
  ).catch(() => []);
  const number = (f: string) => Number(/part-(\d+)\.native$/.exec(f)?.[1] ?? 0);
  return parts
    .map((p) => ({ file: join(dir, p.file), rows: Number(p.rows) }))
    .sort((a, b) => number(a.file) - number(b.file));
}
