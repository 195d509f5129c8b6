import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { allQueries, type SqlQuery } from '../grafana/dashboards.ts';
import { buildGoClient, normalise, normaliseRows, PYTHON_CLIENT, pythonClient, runClient, type ClientResult } from './clients/clients.ts';
import { decodeRowBinary } from './clients/rowbinary.ts';
import { expandMacros, seedDashboardData, WINDOW } from './grafana-fixtures.ts';
import { tempDir, testConfig } from './helpers.ts';

/**
 * The ClickHouse HTTP interface over the embedded store, proven with real
 * clients: @clickhouse/client (JSON, JSONEachRow, RowBinary), clickhouse-go
 * v2 in HTTP mode with Native (what Grafana's data source runs) and
 * clickhouse-connect. Each runs every SQL query of the generated dashboards,
 * macros expanded as the plugin expands them, and must get the rows the
 * store returns in-process; each must get the engine's refusal of a write.
 */
const dir = tempDir('driftwatch-chhttp-');
let service: Service;
let ch: string;
let client: ClickHouseClient;
let goClient: Promise<string>;
let python: Promise<string>;
const base = Math.floor(Date.now() / WINDOW) * WINDOW - 6 * WINDOW;
const range = { from: base - WINDOW, to: Date.now() + 60_000, intervalS: 60, model: 'credit' };
const panels = allQueries()
  .filter((q): q is typeof q & { query: SqlQuery } => q.query.kind === 'sql')
  .map((q) => ({ name: `${q.dashboard} / ${q.panel}`, sql: expandMacros(q.query.sql, range) }));
/** What the store returns in-process for each panel: column names, types, normalised rows. */
const expected: { columns: string[]; types: string[]; rows: unknown[][] }[] = [];
/** Rows in one order: panels order by time, and rows of one time may come in any order. */
const sorted = (rows: unknown[][]) => rows.map((r) => JSON.stringify(r)).sort();
/** Writes each client tries; the engine must refuse every one. */
const WRITES = ['DROP TABLE events', 'INSERT INTO events SELECT * FROM events LIMIT 1', "SELECT * FROM file('/etc/passwd', 'LineAsString')", 'SELECT count() FROM events SETTINGS readonly = 0'];

/** Nested and wrapped types in Native, in two blocks (one per branch of the UNION). */
const NATIVE_TYPES = `SELECT toLowCardinality(toNullable(toString(number))) AS lc, [number, 1] AS arr, map('k', number) AS m,
  tuple(number, 'x') AS t, if(number % 2 = 1, NULL, number) AS n, toDate(number) AS day
  FROM (SELECT number FROM numbers(2) UNION ALL SELECT number + 2 FROM numbers(1))`;

beforeAll(async () => {
  // The clients build while the service fills (the Go build takes minutes on a cold cache).
  goClient = buildGoClient();
  python = pythonClient();
  goClient.catch(() => {});
  python.catch(() => {});
  service = await startService(
    testConfig({ DATA_DIR: join(dir.path, 'data'), ANALYSIS_WINDOW: '5m', SHADOW_SAMPLE_SHARE: '1', MIN_WINDOW_EVENTS: '50', CLICKHOUSE_HTTP_PORT: '0', PREAGGREGATES: 'on' }),
    { logger: false },
  );
  ch = service.clickhouseHttp!.url;
  await seedDashboardData(service, base);
  for (const panel of panels) {
    const described = await service.sql.query<{ name: string; type: string }>(`DESCRIBE TABLE (${panel.sql})`);
    const types = described.map((c) => c.type);
    const rows = await service.sql.query<Record<string, unknown>>(panel.sql);
    const columns = described.map((c) => c.name);
    expected.push({ columns, types, rows: sorted(normaliseRows(rows.map((r) => columns.map((c) => r[c])), types)) as never });
  }
  client = createClient({ url: ch, request_timeout: 120_000 });
}, 900_000);

afterAll(async () => {
  await client?.close();
  await service?.close();
  await goClient?.then((program) => rmSync(program, { force: true }), () => {});
  dir.remove();
});

const eventCount = async () => (await service.sql.query<{ n: number }>('SELECT count() AS n FROM events'))[0].n;

describe('the dashboards through real clients', () => {
  it('every panel has data to compare', () => {
    expect(panels.length).toBeGreaterThanOrEqual(10);
    for (const [i, panel] of panels.entries()) expect(expected[i].rows.length, panel.name).toBeGreaterThan(0);
  });

  it('@clickhouse/client in JSONEachRow gets the rows of the store', async () => {
    for (const [i, panel] of panels.entries()) {
      const rows = await (await client.query({ query: panel.sql, format: 'JSONEachRow' })).json<Record<string, unknown>>();
      const { columns, types } = expected[i];
      expect(sorted(normaliseRows(rows.map((r) => columns.map((c) => r[c])), types)), panel.name).toEqual(expected[i].rows);
    }
  });

  it('@clickhouse/client in JSON gets the columns, types and rows of the store', async () => {
    for (const [i, panel] of panels.entries()) {
      const doc = (await (await client.query({ query: panel.sql, format: 'JSON' })).json()) as unknown as { meta: { name: string; type: string }[]; data: Record<string, unknown>[] };
      expect(doc.meta.map((m) => m.name), panel.name).toEqual(expected[i].columns);
      expect(doc.meta.map((m) => m.type), panel.name).toEqual(expected[i].types);
      expect(sorted(normaliseRows(doc.data.map((r) => expected[i].columns.map((c) => r[c])), expected[i].types)), panel.name).toEqual(expected[i].rows);
    }
  });

  it('@clickhouse/client in RowBinary gets the rows of the store', async () => {
    for (const [i, panel] of panels.entries()) {
      const result = await client.exec({ query: `${panel.sql} FORMAT RowBinaryWithNamesAndTypes` });
      const chunks: Buffer[] = [];
      for await (const chunk of result.stream) chunks.push(chunk as Buffer);
      const decoded = decodeRowBinary(Buffer.concat(chunks));
      expect(decoded.columns, panel.name).toEqual(expected[i].columns);
      expect(sorted(normaliseRows(decoded.rows, decoded.types)), panel.name).toEqual(expected[i].rows);
    }
  });

  it('@clickhouse/client gets the engine refusal of each write', async () => {
    for (const query of WRITES) await expect(client.query({ query, format: 'JSONEachRow' }), query).rejects.toMatchObject({ code: '164', type: 'READONLY' });
  });

  it('clickhouse-go v2 over HTTP with Native (Grafana data source) gets the rows of the store, and refusals', async () => {
    const program = await goClient;
    const out = await runClient<{ ping: string; version: string; results: ClientResult[] }>([program], { addr: new URL(ch).host, queries: [...panels.map((p) => p.sql), ...WRITES, NATIVE_TYPES] });
    expect(out.ping).toBe('ok');
    expect(out.version).toMatch(/^\d+\.\d+\.\d+/);
    for (const [i, panel] of panels.entries()) {
      const got = out.results[i];
      expect(got.error, panel.name).toBeUndefined();
      expect(got.columns, panel.name).toEqual(expected[i].columns);
      expect(sorted(normaliseRows(got.rows!, expected[i].types)), panel.name).toEqual(expected[i].rows);
    }
    for (const [j, query] of WRITES.entries()) expect(out.results[panels.length + j], query).toMatchObject({ code: 164 });
    // Native rewritten for the driver's revision across blocks and nested types.
    const types = out.results[panels.length + WRITES.length];
    expect(types.error).toBeUndefined();
    expect([...types.rows!].sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([0, 1, 2].map((i) => [String(i), [i, 1], { k: i }, [i, 'x'], i % 2 ? null : i, i * 86_400_000]));
  }, 900_000);

  it('clickhouse-connect (Python) gets the rows of the store, and refusals', async () => {
    const py = await python;
    const out = await runClient<{ version: string; results: ClientResult[] }>([py, PYTHON_CLIENT], { host: '127.0.0.1', port: Number(new URL(ch).port), queries: [...panels.map((p) => p.sql), ...WRITES] });
    expect(out.version).toMatch(/^\d+\.\d+/);
    for (const [i, panel] of panels.entries()) {
      const got = out.results[i];
      expect(got.error, panel.name).toBeUndefined();
      expect(got.columns, panel.name).toEqual(expected[i].columns);
      expect(sorted(normaliseRows(got.rows!, expected[i].types)), panel.name).toEqual(expected[i].rows);
    }
    for (const [j, query] of WRITES.entries()) expect(out.results[panels.length + j].error, query).toMatch(/code: 164/i);
  }, 900_000);
});

/** One request, as curl would send it. */
async function get(query: string, extra = '', init: RequestInit = {}) {
  const r = await fetch(`${ch}/?query=${encodeURIComponent(query)}${extra}`, init);
  return { status: r.status, headers: r.headers, text: await r.text() };
}

describe('read-only, enforced by the engine', () => {
  const forbidden = [
    "INSERT INTO labels (model, event_id, label_cat, ts) VALUES ('credit', 'x', '1', now())",
    'INSERT INTO events SELECT * FROM events LIMIT 1',
    'ALTER TABLE events DELETE WHERE 1',
    'ALTER TABLE events ADD COLUMN x UInt8',
    'DROP TABLE events',
    'TRUNCATE TABLE events',
    'RENAME TABLE events TO gone',
    'DETACH TABLE events',
    'OPTIMIZE TABLE events FINAL',
    'CREATE TABLE t (x UInt8) ENGINE = Memory',
    'CREATE DATABASE other',
    'CREATE TEMPORARY TABLE t (x UInt8)',
    'SYSTEM FLUSH LOGS',
    'SYSTEM SHUTDOWN',
    'SET readonly = 0',
    'SET max_execution_time = 0',
    'SELECT count() FROM events SETTINGS readonly = 0',
    'SELECT count() FROM events SETTINGS max_result_rows = 0',
    'SELECT count() FROM events SETTINGS max_execution_time = 100000',
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:9/x', 'CSV', 'x String')",
    "SELECT * FROM s3('http://127.0.0.1:9/bucket/key.csv', 'CSV')",
    "SELECT * FROM remote('127.0.0.1', system.one)",
    "SELECT * FROM mysql('127.0.0.1:9', 'db', 'table', 'user', 'password')",
    "SELECT * FROM executable('ls', 'TSV', 'x String')",
  ];
  it.each(forbidden)('refuses %s with the engine error READONLY', async (query) => {
    const before = await eventCount();
    const r = await get(query);
    expect(r.status).toBe(403);
    expect(r.headers.get('x-clickhouse-exception-code')).toBe('164');
    expect(r.text).toMatch(/^Code: 164\. DB::Exception: .*readonly mode.*\(READONLY\)/);
    expect(await eventCount()).toBe(before);
  });

  it('refuses what readonly lets through in the embedded engine: KILL, USE, INTO OUTFILE, several statements', async () => {
    for (const query of ['KILL QUERY WHERE 1 SYNC', 'USE system', "SELECT 1 INTO OUTFILE '/tmp/driftwatch-chhttp-outfile'"]) {
      const r = await get(query);
      expect(r.status, query).toBe(403);
      expect(r.text, query).toMatch(/^Code: 164\. DB::Exception: Cannot execute query in readonly mode: .* \(READONLY\)/);
    }
    const several = await get('SELECT 1; DROP TABLE events');
    expect(several.status).toBe(400);
    expect(several.text).toMatch(/^Code: 62\. DB::Exception: Syntax error \(Multi-statements are not allowed\)/);
    expect((await service.sql.query<{ n: number }>("SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = 'events'"))[0].n).toBe(1);
  });

  it('serves what clients read on connect and for schema browsing', async () => {
    for (const query of ['SELECT version()', 'SELECT displayName(), version(), revision(), timezone()', 'SELECT name FROM system.databases', "SELECT name FROM system.tables WHERE database = 'default'", "SELECT name, type FROM system.columns WHERE table = 'events'", 'SELECT name, value, readonly FROM system.settings LIMIT 10', 'SHOW TABLES', 'DESCRIBE TABLE events']) {
      const r = await get(query);
      expect(r.status, `${query}: ${r.text}`).toBe(200);
      expect(r.text.length, query).toBeGreaterThan(0);
    }
    expect((await get("SELECT value FROM system.settings WHERE name = 'readonly'")).text).toBe('1\n');
  });
});

describe('the protocol', () => {
  it('answers /ping and GET / without a query with Ok.', async () => {
    expect(await (await fetch(`${ch}/ping`)).text()).toBe('Ok.\n');
    expect(await (await fetch(`${ch}/`)).text()).toBe('Ok.\n');
  });

  it('takes the query from the URL, the body, or both joined', async () => {
    expect((await get('SELECT 1')).text).toBe('1\n');
    expect(await (await fetch(`${ch}/`, { method: 'POST', body: 'SELECT 2' })).text()).toBe('2\n');
    expect(await (await fetch(`${ch}/?query=${encodeURIComponent('SELECT 3 +')}`, { method: 'POST', body: '1' })).text()).toBe('4\n');
  });

  it('binds param_ values to {name:Type} placeholders in the engine', async () => {
    const r = await get('SELECT {n:UInt32} + 1 AS n, {s:String} AS s FORMAT JSONEachRow', `&param_n=41&param_s=${encodeURIComponent("it's")}`);
    expect(JSON.parse(r.text)).toEqual({ n: 42, s: "it's" });
    const missing = await get('SELECT {n:UInt32}');
    expect(missing.status).toBe(400);
    expect(missing.headers.get('x-clickhouse-exception-code')).toBe('456');
  });

  it('follows default_format, and FORMAT in the query over it, in the headers too', async () => {
    const a = await get('SELECT 1 AS x', '&default_format=JSONEachRow');
    expect(a.text).toBe('{"x":1}\n');
    expect(a.headers.get('x-clickhouse-format')).toBe('JSONEachRow');
    const b = await get('SELECT 1 AS x FORMAT CSVWithNames', '&default_format=JSONEachRow');
    expect(b.text).toBe('"x"\n1\n');
    expect(b.headers.get('x-clickhouse-format')).toBe('CSVWithNames');
    expect(b.headers.get('content-type')).toMatch(/^text\/csv/);
  });

  it('sends the headers clients read: query id (its own or the one asked for), summary, timezone', async () => {
    const r = await get('SELECT count() FROM events', '&query_id=abc-1');
    expect(r.headers.get('x-clickhouse-query-id')).toBe('abc-1');
    expect(r.headers.get('x-clickhouse-timezone')).toBeTruthy();
    const summary = JSON.parse(r.headers.get('x-clickhouse-summary')!);
    expect(Number(summary.read_rows)).toBeGreaterThan(0);
    expect(summary.written_rows).toBe('0');
    expect((await get('SELECT 1')).headers.get('x-clickhouse-query-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('compresses answers with enable_http_compression=1 and an encoding the client accepts, not otherwise', async () => {
    const query = 'SELECT number FROM numbers(1000) FORMAT JSONEachRow';
    // fetch undoes the encoding it names.
    const zipped = await fetch(`${ch}/?enable_http_compression=1&query=${encodeURIComponent(query)}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(Number(zipped.headers.get('content-length'))).toBeLessThan(5_000);
    expect((await zipped.text()).split('\n')[999]).toBe('{"number":999}');
    const plain = await fetch(`${ch}/?query=${encodeURIComponent(query)}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
  });

  it('accepts session and other settings parameters harmlessly, refuses another database', async () => {
    expect((await get('SELECT 1', '&session_id=s1&session_timeout=60&wait_end_of_query=1&max_result_rows=5&send_progress_in_http_headers=1')).text).toBe('1\n');
    expect((await get('SELECT count() > 0 FROM events', '&database=default')).text).toBe('1\n');
    const other = await get('SELECT 1', '&database=system');
    expect(other.status).toBe(404);
    expect(other.text).toMatch(/^Code: 81\. DB::Exception: Database system does not exist.*\(UNKNOWN_DATABASE\)/);
  });

  it('gives errors in ClickHouse form with the exception code header', async () => {
    const r = await get('SELECT nope FROM events');
    expect(r.status).toBe(404);
    expect(r.headers.get('x-clickhouse-exception-code')).toBe('47');
    expect(r.text).toMatch(/^Code: 47\. DB::Exception: .*\(UNKNOWN_IDENTIFIER\) \(version \d+\.\d+/);
    const syntax = await get('SELEC 1');
    expect(syntax.status).toBe(400);
    expect(syntax.text).toMatch(/^Code: 62\. DB::Exception: Syntax error/);
  });

  it('writes Native for the revision a client names (block info and serialization flags)', async () => {
    const native = async (revision: number) => Buffer.from(await (await fetch(`${ch}/?default_format=Native&client_protocol_version=${revision}`, { method: 'POST', body: 'SELECT 1 AS check' })).arrayBuffer());
    expect([...(await native(0))]).toEqual([1, 1, 5, ...Buffer.from('check'), 5, ...Buffer.from('UInt8'), 1]);
    // What clickhouse-connect probes for: block info, then one column and one row.
    expect((await native(54405)).subarray(8, 16).toString('latin1')).toBe('\x01\x01\x05check');
    expect([...(await native(54460))]).toEqual([1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0, 1, 1, 5, ...Buffer.from('check'), 5, ...Buffer.from('UInt8'), 0, 1]);
  });

  it('counts what it answered in driftwatch_clickhouse_http_queries_total', async () => {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    expect(text).toMatch(/driftwatch_clickhouse_http_queries_total\{outcome="ok"\} [1-9]/);
    expect(text).toMatch(/driftwatch_clickhouse_http_queries_total\{outcome="refused"\} [1-9]/);
  });

  it('leaves the store writable for ingest', async () => {
    const before = await eventCount();
    const r = await fetch(`${service.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ event_id: 'after-1', model: 'credit', timestamp: Date.now(), features: { a: 1 }, prediction: '1' }]) });
    expect(r.status).toBeLessThan(300);
    await expect.poll(eventCount, { timeout: 30_000 }).toBe(before + 1);
    expect(normalise('2026-01-01 00:00:00', 'DateTime')).toBe(Date.UTC(2026, 0, 1));
  });
});
