import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { brotliCompress, deflate, gzip } from 'node:zlib';
import { sha256, type ApiKey } from '../api/keys.ts';
import type { Metrics } from '../core/metrics.ts';
import { EngineError, engineError, type ReadonlyEngine } from './engine.ts';
import { contentType, namedFormat } from './format.ts';
import { NativeFormatError, nativeForRevision } from './native.ts';

/**
 * ClickHouse's HTTP interface over the embedded store, read-only: what
 * Grafana's ClickHouse data source (clickhouse-go in HTTP mode), DBeaver,
 * clickhouse-connect and @clickhouse/client send. The engine produces every
 * format and every refusal; this layer speaks the protocol around it: where
 * the query is, its parameters, credentials, the headers clients read,
 * compression, and errors in ClickHouse's form. docs/grafana.md.
 *
 * https://clickhouse.com/docs/interfaces/http
 */
export interface ChHttpOptions {
  /** The database the store's tables are in (the one a client may name). */
  database: string;
  /** Keys with the `read` scope for every model open it; none: open to all (loopback only, checked at start). */
  keys: readonly ApiKey[];
  bodyLimitBytes: number;
}

const compressors: Record<string, (b: Buffer, o: object) => Promise<Buffer>> = {
  gzip: promisify(gzip) as never,
  deflate: promisify(deflate) as never,
  br: promisify(brotliCompress) as never,
};

/** ClickHouse's HTTP status for an exception code (src/Server/HTTPHandler.cpp); the rest are 500. */
const STATUS: Record<number, number> = {
  // UNKNOWN_USER, REQUIRED_PASSWORD, AUTHENTICATION_FAILED
  192: 401, 194: 401, 516: 401,
  // READONLY, ACCESS_DENIED
  164: 403, 497: 403,
  // UNKNOWN_TABLE, UNKNOWN_DATABASE, NO_SUCH_COLUMN_IN_TABLE, UNKNOWN_IDENTIFIER, UNKNOWN_FUNCTION, UNKNOWN_TYPE, UNKNOWN_FORMAT, UNKNOWN_SETTING
  60: 404, 81: 404, 16: 404, 47: 404, 46: 404, 50: 404, 73: 404, 115: 404,
  // SYNTAX_ERROR, CANNOT_PARSE_*, BAD_ARGUMENTS, NUMBER_OF_ARGUMENTS_DOESNT_MATCH, TYPE_MISMATCH, query parameters
  62: 400, 6: 400, 26: 400, 27: 400, 36: 400, 42: 400, 43: 400, 53: 400, 456: 400, 457: 400,
  // TOO_MANY_SIMULTANEOUS_QUERIES: busy, try again
  202: 503,
};
const statusOf = (code: number) => STATUS[code] ?? 500;
const NOT_IMPLEMENTED = 48;
const QUERY_WAS_CANCELLED = 394;

class PayloadTooLarge extends Error {}

/** The body, or PayloadTooLarge past `limit` (the rest is read and dropped, so the answer reaches the client). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume();
      return reject(new PayloadTooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        return reject(new PayloadTooLarge());
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The secret a request carries, the way ClickHouse clients send it. */
function credentials(req: IncomingMessage, url: URL): { user: string; secret: string } | null {
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (basic) {
    const text = Buffer.from(basic, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    return { user: colon < 0 ? text : text.slice(0, colon), secret: colon < 0 ? '' : text.slice(colon + 1) };
  }
  const header = req.headers['x-clickhouse-key'];
  if (typeof header === 'string') return { user: String(req.headers['x-clickhouse-user'] ?? ''), secret: header };
  if (url.searchParams.has('password')) return { user: url.searchParams.get('user') ?? '', secret: url.searchParams.get('password') ?? '' };
  return null;
}

export function createChHttpServer(engine: ReadonlyEngine, metrics: Metrics, options: ChHttpOptions): Server {
  const keys = options.keys;
  const allow = (req: IncomingMessage, url: URL): void => {
    if (keys.length === 0) return;
    const given = credentials(req, url);
    if (!given || given.secret === '') throw engineError(194, 'REQUIRED_PASSWORD', 'This interface needs a driftwatch API key with the read scope as the password (basic auth, X-ClickHouse-Key or ?password=)');
    const digest = sha256(given.secret);
    // Every key's digest is compared, in constant time, as the API does.
    let found: ApiKey | undefined;
    for (const key of keys) if (timingSafeEqual(key.digest, digest) && !found) found = key;
    if (!found) throw engineError(516, 'AUTHENTICATION_FAILED', `${given.user || 'default'}: Authentication failed: password is incorrect, or there is no user with such name`);
    if (!found.scopes.includes('read')) throw engineError(497, 'ACCESS_DENIED', `${found.name}: Not enough privileges: the key needs the read scope`);
    // The engine's connection cannot filter rows by model (no users or row
    // policies in the embedded engine), so a key limited to models reads nothing here.
    if (!found.models.includes('*')) throw engineError(497, 'ACCESS_DENIED', `${found.name}: Not enough privileges: a key limited to models (${found.models.join(', ')}) cannot use the SQL interface, which sees every model`);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const queryId = url.searchParams.get('query_id') || randomUUID();
    res.setHeader('X-ClickHouse-Server-Display-Name', 'driftwatch');
    res.setHeader('X-ClickHouse-Query-Id', queryId);
    res.setHeader('X-ClickHouse-Timezone', engine.timezone);
    if (url.pathname === '/ping' || url.pathname === '/replicas_status') {
      res.setHeader('Content-Type', 'text/plain; charset=UTF-8');
      res.end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') throw engineError(NOT_IMPLEMENTED, 'NOT_IMPLEMENTED', `There is no handle ${url.pathname}: use / or /ping`, 404);
    if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') throw engineError(NOT_IMPLEMENTED, 'NOT_IMPLEMENTED', `HTTP method ${req.method} is not served: use GET or POST`, 405);
    const body = req.method === 'POST' ? await readBody(req, options.bodyLimitBytes) : Buffer.alloc(0);
    const inUrl = url.searchParams.get('query') ?? '';
    if (req.method === 'GET' && !url.searchParams.has('query')) {
      res.setHeader('Content-Type', 'text/plain; charset=UTF-8');
      res.end('Ok.\n');
      return;
    }
    allow(req, url);
    // ClickHouse joins the parameter and the body with a newline.
    const sql = [inUrl, body.toString('utf8')].filter((s) => s.length > 0).join('\n');
    if (/multipart\/form-data/i.test(req.headers['content-type'] ?? '')) throw engineError(NOT_IMPLEMENTED, 'NOT_IMPLEMENTED', 'external tables (multipart bodies) are not served', 501);
    if (sql.trim() === '') throw engineError(62, 'SYNTAX_ERROR', 'Empty query');
    const database = url.searchParams.get('database') ?? (req.headers['x-clickhouse-database'] as string | undefined);
    if (database && database !== options.database) throw engineError(81, 'UNKNOWN_DATABASE', `Database ${database} does not exist (this interface serves driftwatch's database, ${options.database})`);
    if (url.searchParams.get('compress') === '1') throw engineError(NOT_IMPLEMENTED, 'NOT_IMPLEMENTED', "ClickHouse's own compression of answers (compress=1, LZ4/ZSTD blocks) is not served: use HTTP compression (gzip, deflate, br)", 501);
    const params: Record<string, string> = {};
    for (const [name, value] of url.searchParams) if (name.startsWith('param_')) params[name.slice(6)] = value;
    const fallback = url.searchParams.get('default_format') ?? (req.headers['x-clickhouse-format'] as string | undefined) ?? 'TabSeparated';
    const started = process.hrtime.bigint();
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const result = await engine.run(sql, params, (statement) => namedFormat(statement) ?? fallback, gone.signal);
    const format = result.format;
    let bytes = result.bytes;
    const revision = Number(url.searchParams.get('client_protocol_version') ?? 0);
    if (/^Native$/i.test(format) && revision > 0) bytes = nativeForRevision(bytes, revision);
    res.setHeader('X-ClickHouse-Format', format);
    res.setHeader('Content-Type', contentType(format));
    res.setHeader(
      'X-ClickHouse-Summary',
      JSON.stringify({
        read_rows: String(result.rowsRead),
        read_bytes: String(result.bytesRead),
        written_rows: '0',
        written_bytes: '0',
        total_rows_to_read: String(result.rowsRead),
        result_bytes: String(bytes.length),
        elapsed_ns: String(process.hrtime.bigint() - started),
      }),
    );
    const encoding = url.searchParams.get('enable_http_compression') === '1' ? acceptedEncoding(req.headers['accept-encoding']) : undefined;
    if (encoding) {
      bytes = await compressors[encoding](bytes, {});
      res.setHeader('Content-Encoding', encoding);
    }
    res.setHeader('Content-Length', bytes.length);
    metrics.chHttpQueries.inc({ outcome: 'ok' });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };

  const server = createServer((req, res) => {
    answer(req, res).catch((err: unknown) => {
      const failure =
        err instanceof EngineError
          ? err
          : err instanceof PayloadTooLarge
            ? engineError(62, 'SYNTAX_ERROR', `Max query size exceeded: the body is longer than ${options.bodyLimitBytes} bytes (CLICKHOUSE_HTTP_BODY_LIMIT_BYTES)`, 413)
            : err instanceof NativeFormatError
              ? engineError(NOT_IMPLEMENTED, 'NOT_IMPLEMENTED', err.message, 501)
              : engineError(1001, 'STD_EXCEPTION', (err as Error).message ?? String(err));
      const status = failure.status ?? statusOf(failure.code);
      const outcome = failure.code === QUERY_WAS_CANCELLED ? 'cancelled' : status === 403 ? 'refused' : status === 401 ? 'unauthenticated' : status === 503 ? 'busy' : 'error';
      metrics.chHttpQueries.inc({ outcome });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const text = /\(version [^)]*\)\s*$/.test(failure.message) ? failure.message : `${failure.message} (version ${engine.version})`;
      res.statusCode = status;
      res.setHeader('X-ClickHouse-Exception-Code', String(failure.code));
      res.setHeader('Content-Type', 'text/plain; charset=UTF-8');
      res.removeHeader('Content-Encoding');
      if (err instanceof PayloadTooLarge) res.setHeader('Connection', 'close');
      if (status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="driftwatch ClickHouse interface"');
      res.end(`${text}\n`);
    });
  });
  return server;
}

/** The first of gzip, deflate and br the client accepts (ClickHouse's own lz4/zstd encodings are not served). */
function acceptedEncoding(header: string | string[] | undefined): string | undefined {
  const accepted = String(header ?? '')
    .split(',')
    .map((s) => s.trim().split(';')[0].toLowerCase());
  return ['gzip', 'deflate', 'br'].find((e) => accepted.includes(e));
}

export async function listen(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

