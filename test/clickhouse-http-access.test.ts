import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { ConfigError, parseConfig } from '../core/config.ts';
import { buildGoClient, runClient, type ClientResult } from './clients/clients.ts';
import { tempDir, testConfig } from './helpers.ts';

/**
 * Who may use the ClickHouse HTTP interface, and its limits: a key with the
 * read scope for every model, sent the ways ClickHouse clients send a
 * password; without keys, loopback only; an engine time limit, a result
 * size limit, a bound on statements at once and on the request body.
 */
const dir = tempDir('driftwatch-chhttp-access-');
const READER = 'reader-secret-0123456789';
const KEYS = `keys:
  - { name: grafana, secret: ${READER}, scopes: [read] }
  - { name: ingester, secret: ingester-secret-0123456789, scopes: [ingest] }
  - { name: credit-only, secret: limited-secret-0123456789, scopes: [read], models: [credit] }
`;
let service: Service;
let ch: string;
let goClient: Promise<string>;

beforeAll(async () => {
  goClient = buildGoClient();
  goClient.catch(() => {});
  writeFileSync(join(dir.path, 'keys.yaml'), KEYS);
  service = await startService(
    testConfig({
      DATA_DIR: join(dir.path, 'data'),
      API_KEYS_FILE: join(dir.path, 'keys.yaml'),
      CLICKHOUSE_HTTP_PORT: '0',
      CLICKHOUSE_HTTP_TIMEOUT: '3s',
      CLICKHOUSE_HTTP_MAX_RESULT_ROWS: '1000',
      CLICKHOUSE_HTTP_CONNECTIONS: '1',
      CLICKHOUSE_HTTP_MAX_QUEUED: '1',
      CLICKHOUSE_HTTP_BODY_LIMIT_BYTES: '4096',
    }),
    { logger: false },
  );
  ch = service.clickhouseHttp!.url;
}, 900_000);

afterAll(async () => {
  await service?.close();
  await goClient?.then((program) => rmSync(program, { force: true }), () => {});
  dir.remove();
});

const basic = (user: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` });
async function get(query: string, headers: Record<string, string> = basic('grafana', READER), extra = '') {
  const r = await fetch(`${ch}/?query=${encodeURIComponent(query)}${extra}`, { headers });
  return { status: r.status, code: r.headers.get('x-clickhouse-exception-code'), text: await r.text() };
}

describe('access with API keys configured', () => {
  it('takes a read key as basic auth, X-ClickHouse-User/Key, or ?user=&password=', async () => {
    expect(await get('SELECT 1')).toMatchObject({ status: 200, text: '1\n' });
    expect(await get('SELECT 1', { 'x-clickhouse-user': 'grafana', 'x-clickhouse-key': READER })).toMatchObject({ status: 200, text: '1\n' });
    expect(await get('SELECT 1', {}, `&user=grafana&password=${READER}`)).toMatchObject({ status: 200, text: '1\n' });
  });

  it('refuses a request without a key, with a wrong one, with a key without read, or limited to models', async () => {
    const none = await get('SELECT 1', {});
    expect(none).toMatchObject({ status: 401, code: '194' });
    expect(none.text).toMatch(/^Code: 194\. DB::Exception: .*\(REQUIRED_PASSWORD\)/);
    expect(await get('SELECT 1', basic('grafana', 'wrong-secret-0123456789'))).toMatchObject({ status: 401, code: '516' });
    const ingest = await get('SELECT 1', basic('x', 'ingester-secret-0123456789'));
    expect(ingest).toMatchObject({ status: 403, code: '497' });
    expect(ingest.text).toMatch(/read scope/);
    const limited = await get('SELECT 1', basic('x', 'limited-secret-0123456789'));
    expect(limited).toMatchObject({ status: 403, code: '497' });
    expect(limited.text).toMatch(/limited to models \(credit\)/);
    // /ping stays open, as a load balancer's health check expects.
    expect((await fetch(`${ch}/ping`)).status).toBe(200);
  });

  it('@clickhouse/client with a username and the key as password', async () => {
    const ok = createClient({ url: ch, username: 'grafana', password: READER });
    const wrong = createClient({ url: ch, username: 'grafana', password: 'wrong-secret-0123456789' });
    try {
      expect(await (await ok.query({ query: 'SELECT 1 AS one', format: 'JSONEachRow' })).json()).toEqual([{ one: 1 }]);
      await expect(wrong.query({ query: 'SELECT 1', format: 'JSONEachRow' })).rejects.toMatchObject({ code: '516' });
    } finally {
      await ok.close();
      await wrong.close();
    }
  });

  it('clickhouse-go (as Grafana connects) with a username and the key as password', async () => {
    const program = await goClient;
    const addr = new URL(ch).host;
    const ok = await runClient<{ ping: string; results: ClientResult[] }>([program], { addr, user: 'grafana', password: READER, queries: ['SELECT 41 + 1 AS n'] });
    expect(ok.ping).toBe('ok');
    expect(ok.results[0]).toMatchObject({ columns: ['n'], rows: [[42]] });
    const wrong = await runClient<{ ping: string }>([program], { addr, user: 'grafana', password: 'wrong-secret-0123456789', queries: [] }).catch((err: Error) => ({ ping: err.message }));
    expect(wrong.ping).toMatch(/516|Authentication failed/);
  }, 900_000);
});

describe('limits', () => {
  it('stops a statement at the engine time limit (CLICKHOUSE_HTTP_TIMEOUT)', async () => {
    const r = await get('SELECT count() FROM numbers(1000000000000)');
    expect(r.code).toBe('159');
    expect(r.text).toMatch(/^Code: 159\. DB::Exception: Timeout exceeded/);
  }, 60_000);

  it('refuses a result beyond CLICKHOUSE_HTTP_MAX_RESULT_ROWS', async () => {
    expect((await get('SELECT number FROM numbers(1000)')).status).toBe(200);
    const r = await get('SELECT number FROM numbers(5000)');
    expect(r.code).toBe('396');
    expect(r.text).toMatch(/^Code: 396\. DB::Exception: Limit for result exceeded/);
  });

  it('runs one statement per connection and queues CLICKHOUSE_HTTP_MAX_QUEUED more; beyond, refuses with 503', async () => {
    // Each takes about 2.5 s in the engine: the three arrive while the first runs.
    const slow = 'SELECT sleepEachRow(0.5) FROM numbers(5) FORMAT Null';
    const answers = await Promise.all([1, 2, 3].map(() => get(slow)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 200, 503]);
    const busy = answers.find((a) => a.status === 503)!;
    expect(busy.code).toBe('202');
    expect(busy.text).toMatch(/^Code: 202\. DB::Exception: Too many simultaneous queries/);
  }, 60_000);

  it('does not start a statement whose client went away while it waited', async () => {
    const cancelled = async () => Number(/driftwatch_clickhouse_http_queries_total\{outcome="cancelled"\} (\d+)/.exec(await (await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${READER}` } })).text())?.[1] ?? 0);
    const before = await cancelled();
    const slow = get('SELECT sleepEachRow(0.5) FROM numbers(5) FORMAT Null');
    await new Promise((r) => setTimeout(r, 300));
    const leaving = new AbortController();
    const waiting = fetch(`${ch}/?query=${encodeURIComponent('SELECT 1')}`, { headers: basic('grafana', READER), signal: leaving.signal }).catch((err: Error) => err.name);
    await new Promise((r) => setTimeout(r, 300));
    leaving.abort();
    expect(await waiting).toBe('AbortError');
    expect((await slow).status).toBe(200);
    await expect.poll(cancelled, { timeout: 30_000 }).toBe(before + 1);
  }, 60_000);

  it('refuses a body beyond CLICKHOUSE_HTTP_BODY_LIMIT_BYTES with 413', async () => {
    const r = await fetch(`${ch}/`, { method: 'POST', headers: basic('grafana', READER), body: `SELECT '${'x'.repeat(10_000)}'` });
    expect(r.status).toBe(413);
    expect(await r.text()).toMatch(/CLICKHOUSE_HTTP_BODY_LIMIT_BYTES/);
  });
});

describe('where it may listen', () => {
  it('refuses a non-loopback host without API keys', async () => {
    const other = tempDir('driftwatch-chhttp-open-');
    try {
      await expect(startService(testConfig({ DATA_DIR: join(other.path, 'data'), CLICKHOUSE_HTTP_PORT: '0', CLICKHOUSE_HTTP_HOST: '0.0.0.0' }), { logger: false })).rejects.toThrow(
        /would answer anyone on 0\.0\.0\.0 without a key/,
      );
    } finally {
      other.remove();
    }
  });

  it('is for the embedded store: with CLICKHOUSE_URL the server has its own', () => {
    expect(() => parseConfig({ CLICKHOUSE_URL: 'http://127.0.0.1:8123', CLICKHOUSE_HTTP_PORT: '8124' })).toThrow(ConfigError);
    expect(parseConfig({}).CLICKHOUSE_HTTP_PORT).toBeUndefined();
  });
});
