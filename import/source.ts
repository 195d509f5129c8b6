import { realpath, stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';

/** The formats an import reads, each parsed by the engine. */
export const FORMATS = ['parquet', 'csv', 'ndjson'] as const;
export type ImportFormat = (typeof FORMATS)[number];

/** Compressions the engine undoes by the file name's ending (its `file()`, `url()`, `s3()` detect them). */
const COMPRESSIONS = ['gz', 'zst', 'xz', 'bz2', 'lz4', 'br'] as const;

/** Where the rows come from: a local file the engine reads, or a URL it fetches. */
export type Source =
  | { kind: 'file'; path: string }
  | { kind: 'url'; url: string }
  | { kind: 's3'; url: string; accessKeyId: string; secretAccessKey: string };

/** The source cannot be used as given: refused before anything is read (400). */
export class SourceError extends Error {
  override name = 'SourceError';
}

/**
 * The format and compression a file name says: `logs.csv.gz` is CSV,
 * gzipped. Parquet compresses inside the file and has no outer one.
 */
export function formatOf(name: string, given?: string): { format: ImportFormat; compression: string | null } {
  let base = name.toLowerCase().replace(/[?#].*$/, '');
  let compression: string | null = null;
  for (const c of COMPRESSIONS) {
    if (base.endsWith(`.${c}`)) {
      compression = c;
      base = base.slice(0, -(c.length + 1));
      break;
    }
  }
  if (given !== undefined) {
    if (!(FORMATS as readonly string[]).includes(given)) throw new SourceError(`format must be one of ${FORMATS.join(', ')}, got "${given.slice(0, 40)}"`);
    return { format: given as ImportFormat, compression };
  }
  const ext = /\.([a-z0-9]+)$/.exec(base)?.[1];
  const format = ext === 'parquet' || ext === 'pq' ? 'parquet' : ext === 'csv' ? 'csv' : ext === 'ndjson' || ext === 'jsonl' || ext === 'json' ? 'ndjson' : null;
  if (!format) throw new SourceError(`cannot tell the format of "${name.slice(-80)}" from its extension (.parquet, .csv, .ndjson, .jsonl): give format`);
  return { format, compression };
}

/** A file name ending the engine reads as the given format and compression (for uploads kept under DATA_DIR). */
export function fileEnding(format: ImportFormat, compression: string | null): string {
  if (compression !== null && !(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new SourceError(`compression must be one of ${COMPRESSIONS.join(', ')}, got "${compression.slice(0, 20)}"`);
  }
  return `.${format}${compression ? `.${compression}` : ''}`;
}

// Characters the engine's file() and url() expand as patterns ({a,b}, {1..9}, *, ?, |): a name with
// them could reach files or hosts other than the one it seems to name.
const PATTERN = /[*?{}[\]|]/;

/**
 * A file under IMPORT_DIR, by its real path: `..` and symbolic links that
 * lead out of the folder are refused, as is any server-side path when
 * IMPORT_DIR is unset.
 */
export async function fileUnder(importDir: string | undefined, path: string): Promise<Source> {
  if (!importDir) throw new SourceError('server-side paths are refused: IMPORT_DIR is not set (upload the file instead, e.g. with driftwatch import)');
  if (path.startsWith('file:')) throw new SourceError('file:// URLs are refused: give a path under IMPORT_DIR');
  if (PATTERN.test(path)) throw new SourceError('path must name one file: the characters * ? { } [ ] | are refused');
  const root = await realpath(resolve(importDir)).catch(() => null);
  if (root === null) throw new SourceError(`IMPORT_DIR (${importDir}) does not exist`);
  const full = await realpath(resolve(root, path)).catch(() => null);
  if (full === null) throw new SourceError(`path "${path.slice(0, 200)}" does not exist under IMPORT_DIR`);
  if (!full.startsWith(root + sep)) throw new SourceError('path must name a file under IMPORT_DIR');
  if (PATTERN.test(full)) throw new SourceError('path must name one file: the characters * ? { } [ ] | are refused');
  if (!(await stat(full)).isFile()) throw new SourceError(`path "${path.slice(0, 200)}" is not a file`);
  return { kind: 'file', path: full };
}

export interface S3Credentials {
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** An http(s):// or s3:// URL for the engine to read; every other scheme is refused. */
export function urlSource(text: string, s3: S3Credentials): Source {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SourceError(`url "${text.slice(0, 200)}" is not a URL`);
  }
  if (url.username || url.password) throw new SourceError('url must not carry credentials: s3:// uses IMPORT_S3_ACCESS_KEY_ID and IMPORT_S3_SECRET_ACCESS_KEY');
  let decoded: string;
  try {
    decoded = decodeURIComponent(url.href);
  } catch {
    throw new SourceError('url has a malformed percent-encoding');
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    if (/[*{}|]/.test(decoded)) throw new SourceError('url must name one resource: the characters * { } | are refused in it');
    return { kind: 'url', url: url.href };
  }
  if (url.protocol === 's3:') {
    if (PATTERN.test(decoded)) throw new SourceError('url must name one object: the characters * ? { } [ ] | are refused in it');
    if (!s3.accessKeyId || !s3.secretAccessKey) throw new SourceError('s3:// needs IMPORT_S3_ACCESS_KEY_ID and IMPORT_S3_SECRET_ACCESS_KEY set on the service');
    return { kind: 's3', url: url.href, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  }
  throw new SourceError(`url scheme ${url.protocol.replace(/:$/, '')}:// is refused: give http://, https:// or s3:// (or a path under IMPORT_DIR)`);
}

/** The engine's table function for a source, with its values bound (never spliced into the text). */
export function tableFunction(source: Source, engineFormat: string, structure?: string): { sql: string; params: Record<string, unknown> } {
  const tail = `'${engineFormat}'${structure ? `, '${structure}'` : ''}`;
  switch (source.kind) {
    case 'file':
      return { sql: `file({src:String}, ${tail})`, params: { src: source.path } };
    case 'url':
      return { sql: `url({src:String}, ${tail})`, params: { src: source.url } };
    case 's3':
      return { sql: `s3({src:String}, {s3_key:String}, {s3_secret:String}, ${tail})`, params: { src: source.url, s3_key: source.accessKeyId, s3_secret: source.secretAccessKey } };
  }
}
