import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { progressLine } from '../cli/import.ts';
import { fileUnder, formatOf, SourceError, urlSource } from '../import/source.ts';
import type { JobView } from '../jobs/registry.ts';
import { runCli, tempDir, testConfig } from './helpers.ts';

const dir = tempDir('driftwatch-import-');
const importDir = join(dir.path, 'files');
const PARQUET = join(importDir, 'history.parquet');
const ROWS = 1_000_000;
let service: Service;
let files: Server;
let filesUrl: string;
const now = Date.now();
const iso = (msAgo: number) => new Date(now - msAgo).toISOString();

/**
 * The Parquet file is written by another program: the engine's own
 * INSERT INTO FUNCTION file(), in a child process with an in-memory chDB
 * of its own, as a tool of the user's would write it.
 */
function writeParquet(path: string, rows: number): void {
  writeWithEngine(path, `SELECT 'e' || toString(number) AS id,
             now64(3, 'UTC') - toIntervalMillisecond(number * 100 + 60000) AS ts,
             number % 7 / 7 AS pred, toUInt8(number % 3 = 0) AS outcome,
             ['north', 'south'][number % 2 + 1] AS region, ['a', 'b', 'c'][number % 3 + 1] AS plan,
             ${Array.from({ length: 10 }, (_, i) => `round(sin(number * ${i + 1}) * 100, 3) AS f${i}`).join(', ')}
      FROM numbers(${rows})`);
}

/** Writes the rows of `select` as a Parquet file with chDB in a child process. */
function writeWithEngine(path: string, select: string): void {
  const script = `import { query } from 'chdb'; query(${JSON.stringify(`INSERT INTO FUNCTION file('${path}', Parquet) ${select}`)}, 'Null');`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`writing the Parquet file failed: ${run.stderr}`);
}

const post = async (url: string, body: unknown) => {
  const response = await fetch(`${service.url}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & JobView };
};

/** Polls the job until it ends (generous: the machine is shared). */
async function finished(id: string, timeoutMs = 300_000): Promise<JobView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const job = (await (await fetch(`${service.url}/v1/jobs/${id}`)).json()) as JobView;
    if (job.state !== 'running') return job;
    if (Date.now() > until) throw new Error(`job ${id} still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const count = async (sql: string, params: Record<string, unknown>) => Number((await service.sql.query<{ n: number }>(sql, params))[0].n);
const events = (model: string) => count('SELECT count() AS n FROM events FINAL WHERE model = {model:String}', { model });

beforeAll(async () => {
  mkdirSync(importDir, { recursive: true });
  writeParquet(PARQUET, ROWS);
  files = createServer((req, res) => {
    try {
      res.end(readFileSync(join(importDir, (req.url ?? '/').slice(1))));
    } catch {
      res.statusCode = 404;
      res.end('not here');
    }
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data'), IMPORT_DIR: importDir, IMPORT_CHUNK_ROWS: '200000' }), { logger: false });
}, 300_000);

afterAll(async () => {
  await service?.close();
  await new Promise((r) => files?.close(r));
  dir.remove();
});

describe('driftwatch import, end to end', () => {
  it('sends a 1M-row Parquet file written by another tool to the service, prints progress, and stores every row and label', async () => {
    const cli = runCli([
      'import', PARQUET, '--url', service.url, '--model', 'history',
      '--id-column', 'id', '--timestamp-column', 'ts', '--prediction-column', 'pred',
      '--label-column', 'outcome', '--tag-columns', 'region', '--poll-interval', '0.2',
    ]);
    const code = await cli.exited;
    expect(cli.err()).toBe('');
    expect(code).toBe(0);
    const out = cli.out();
    expect(out).toMatch(/of 1,000,000 rows \(\d+%\) · [\d,]+ rows\/s · ETA \d+s/);
    expect(out).toMatch(/imported 1,000,000 of 1,000,000 rows .*; 1,000,000 labels/);
    expect(out).toContain('features (11): plan, f0, f1, f2, f3, f4, f5, f6, f7, f8, f9');

    expect(await events('history')).toBe(ROWS);
    const [row] = await service.sql.query<{ num: Record<string, number>; cat: object; tags: object; prediction_num: number; missing: string[] }>(
      `SELECT num, cat, tags, prediction_num, missing FROM events FINAL WHERE model = 'history' AND event_id = 'e3'`,
    );
    expect(Object.keys(row.num)).toEqual(Array.from({ length: 10 }, (_, i) => `f${i}`));
    for (let i = 0; i < 10; i++) expect(row.num[`f${i}`]).toBeCloseTo(Math.sin(3 * (i + 1)) * 100, 2);
    expect(row).toMatchObject({ cat: { plan: 'a' }, tags: { region: 'south' }, prediction_num: 3 / 7, missing: [] });
    // Every row's label is stored, with its event's time as the label time.
    expect(
      await count(
        `SELECT count() AS n FROM labels AS l FINAL INNER JOIN (SELECT event_id, ts FROM events FINAL WHERE model = 'history') AS e USING (event_id)
         WHERE l.model = 'history' AND l.ts = e.ts`,
        {},
      ),
    ).toBe(ROWS);
    expect(await count(`SELECT count() AS n FROM labels FINAL WHERE model = 'history' AND label_num = 1`, {})).toBe(333_334);
  }, 600_000);

  it('is cancelled by DELETE /v1/jobs/{id}, storing no more than it had', async () => {
    const started = await post('/v1/models/cancelled/import', { path: 'history.parquet', id_column: 'id', timestamp_column: 'ts', prediction_column: 'pred' });
    expect(started.status).toBe(202);
    expect((await fetch(`${service.url}/v1/jobs/${started.body.id}`, { method: 'DELETE' })).status).toBe(202);
    const job = await finished(started.body.id);
    expect(job.state).toBe('cancelled');
    expect(await events('cancelled')).toBeLessThan(ROWS);
  }, 600_000);
});

describe('POST /v1/models/{model}/import', () => {
  it('reads a CSV with a header, quoted fields and empty values; importing it twice stores it once', async () => {
    writeFileSync(
      join(importDir, 'quoted.csv'),
      [
        'timestamp,prediction,income,purpose,note',
        `${iso(5000)},0.25,52000,"car, used","said ""hi"""`,
        `${iso(4000)},0.75,,"home",`,
        `${iso(3000)},0.5,61000.5,"multi\nline",plain`,
      ].join('\n') + '\n',
    );
    for (let round = 0; round < 2; round++) {
      const started = await post('/v1/models/csv/import', { path: 'quoted.csv' });
      expect(started.status).toBe(202);
      const job = await finished(started.body.id);
      expect(job.state).toBe('succeeded');
      expect(job.result).toMatchObject({ rows: 3, accepted: 3, rejected: 0, derived_ids: true, features: ['income', 'purpose', 'note'] });
    }
    expect(await events('csv')).toBe(3);
    const rows = await service.sql.query<{ num: object; cat: object; missing: string[]; prediction_num: number }>(
      `SELECT num, cat, missing, prediction_num FROM events FINAL WHERE model = 'csv' ORDER BY ts`,
    );
    expect(rows).toEqual([
      { num: { income: 52000 }, cat: { purpose: 'car, used', note: 'said "hi"' }, missing: [], prediction_num: 0.25 },
      { num: {}, cat: { purpose: 'home' }, missing: ['income', 'note'], prediction_num: 0.75 },
      { num: { income: 61000.5 }, cat: { purpose: 'multi\nline', note: 'plain' }, missing: [], prediction_num: 0.5 },
    ]);
  }, 300_000);

  it('reads NDJSON from a URL: each bad line is counted by its reason, the good lines next to them are stored', async () => {
    const line = (o: object) => JSON.stringify(o);
    writeFileSync(
      join(importDir, 'mixed.ndjson'),
      [
        line({ event_id: 'ok1', timestamp: iso(9000), prediction: 1, x: 1.5, color: 'red', flag: true }),
        'not json at all',
        line({ event_id: 'sec', timestamp: Math.floor((now - 8000) / 1000), prediction: 1, x: 2 }),
        line({ event_id: 'ok2', timestamp: iso(8000), prediction: 'yes', x: null, color: 'blue' }),
        '',
        line({ event_id: 'arr', timestamp: iso(7000), prediction: 1, x: [1, 2] }),
        line({ event_id: 'nopred', timestamp: iso(7000), x: 3 }),
        '[1, 2, 3]',
        line({ event_id: 'old', timestamp: '2001-01-01T00:00:00Z', prediction: 0, x: 1 }),
        line({ event_id: 'future', timestamp: new Date(now + 86_400_000).toISOString(), prediction: 0, x: 1 }),
        line({ event_id: 'ok3', timestamp: now - 6000, prediction: 0, x: 4 }),
      ].join('\n') + '\n',
    );
    const started = await post('/v1/models/ndjson/import', { url: `${filesUrl}/mixed.ndjson` });
    expect(started.status).toBe(202);
    const job = await finished(started.body.id);
    expect(job.state).toBe('succeeded');
    expect(job.result).toMatchObject({
      rows: 10,
      accepted: 3,
      rejected: 7,
      rejected_by_reason: { invalid_json: 1, timestamp_out_of_range: 3, wrong_type: 1, missing_field: 1, not_an_object: 1 },
    });
    const first = (job.result as { first_rejected: { row: number; code: string; reason: string }[] }).first_rejected;
    expect(first.map((r) => [r.row, r.code])).toEqual([
      [2, 'invalid_json'],
      [3, 'timestamp_out_of_range'],
      [6, 'wrong_type'],
      [7, 'missing_field'],
      [8, 'not_an_object'],
      [9, 'timestamp_out_of_range'],
      [10, 'timestamp_out_of_range'],
    ]);
    expect(first[1].reason).toMatch(/looks like epoch seconds/);
    expect(first[2].reason).toBe('features.x must be a number, string, boolean or null');
    const rows = await service.sql.query<{ event_id: string; num: object; cat: object; missing: string[]; prediction_cat: string | null }>(
      `SELECT event_id, num, cat, missing, prediction_cat FROM events FINAL WHERE model = 'ndjson' ORDER BY event_id`,
    );
    expect(rows).toEqual([
      { event_id: 'ok1', num: { x: 1.5 }, cat: { color: 'red', flag: 'true' }, missing: [], prediction_cat: null },
      { event_id: 'ok2', num: {}, cat: { color: 'blue' }, missing: ['x'], prediction_cat: 'yes' },
      { event_id: 'ok3', num: { x: 4 }, cat: {}, missing: [], prediction_cat: null },
    ]);
  }, 300_000);

  it('reads NaN in a Parquet column as missing and refuses infinity, as the HTTP contract does', async () => {
    writeWithEngine(
      join(importDir, 'floats.parquet'),
      `SELECT now64(3, 'UTC') - toIntervalSecond(number + 1) AS timestamp, 1.0 AS prediction, [1.5, nan, inf, -2][number + 1] AS x FROM numbers(4)`,
    );
    const started = await post('/v1/models/floats/import', { path: 'floats.parquet' });
    const job = await finished(started.body.id);
    expect(job.result).toMatchObject({ rows: 4, accepted: 3, rejected_by_reason: { invalid_value: 1 }, first_rejected: [{ row: 3, code: 'invalid_value', reason: 'features.x must be finite' }] });
    const rows = await service.sql.query<{ num: object; missing: string[] }>(`SELECT num, missing FROM events FINAL WHERE model = 'floats' ORDER BY ts DESC`);
    expect(rows).toEqual([
      { num: { x: 1.5 }, missing: [] },
      { num: {}, missing: ['x'] },
      { num: { x: -2 }, missing: [] },
    ]);
  }, 300_000);

  it('refuses what it must not read, or cannot, with a clear 4xx and nothing started', async () => {
    writeFileSync(join(dir.path, 'outside.csv'), 'timestamp,prediction\n');
    symlinkSync(join(dir.path, 'outside.csv'), join(importDir, 'link.csv'));
    writeFileSync(join(importDir, 'broken.parquet'), 'this is not a parquet file at all');
    writeFileSync(join(importDir, 'mapping.csv'), `timestamp,prediction,x\n${iso(1000)},1,2\n`);
    const jobsBefore = service.jobs.list({ kind: 'import' }).length;
    const cases: [object, number, RegExp][] = [
      [{ path: '../outside.csv' }, 400, /under IMPORT_DIR/],
      [{ path: 'link.csv' }, 400, /under IMPORT_DIR/],
      [{ path: 'nope.csv' }, 400, /does not exist under IMPORT_DIR/],
      [{ path: '{mapping,broken}.csv' }, 400, /one file/],
      [{ url: `file://${PARQUET}` }, 400, /scheme file:\/\/ is refused/],
      [{ url: 'ftp://example.com/x.csv' }, 400, /scheme ftp:\/\/ is refused/],
      [{ url: 's3://bucket/x.parquet' }, 400, /IMPORT_S3_ACCESS_KEY_ID/],
      [{ path: 'mapping.csv', url: `${filesUrl}/mapping.csv` }, 400, /exactly one of path/],
      [{ path: 'broken.parquet' }, 422, /cannot be read: .+/],
      [{ url: `${filesUrl}/missing.csv` }, 422, /cannot be read: .*404/],
      [{ path: 'mapping.csv', prediction_column: 'score' }, 400, /no column "score" \(for prediction\)/],
      [{ path: 'mapping.csv', feature_columns: ['prediction'] }, 400, /mapped twice/],
    ];
    for (const [body, status, message] of cases) {
      const answer = await post('/v1/models/refused/import', body);
      expect(`${JSON.stringify(body)} ${answer.status} ${answer.body.message}`).toMatch(new RegExp(`^.* ${status} .*${message.source}`));
    }
    expect(service.jobs.list({ kind: 'import' }).length).toBe(jobsBefore);
  }, 300_000);
});

describe('import sources (pure checks)', () => {
  it('refuses server-side paths when IMPORT_DIR is unset, and credentials in URLs', async () => {
    await expect(fileUnder(undefined, 'x.csv')).rejects.toThrow(/IMPORT_DIR is not set/);
    expect(() => urlSource('https://user:pw@example.com/x.csv', {})).toThrow(SourceError);
    expect(urlSource('https://example.com/x.csv?sig=1', {})).toEqual({ kind: 'url', url: 'https://example.com/x.csv?sig=1' });
    expect(() => urlSource('https://example.com/{a,b}.csv', {})).toThrow(/refused/);
    expect(urlSource('s3://bucket/logs/x.parquet', { accessKeyId: 'id', secretAccessKey: 'secret' })).toMatchObject({ kind: 's3', url: 's3://bucket/logs/x.parquet' });
  });

  it('tells the format and compression from the name, or refuses to guess', () => {
    expect(formatOf('logs/2026-11.CSV.gz')).toEqual({ format: 'csv', compression: 'gz' });
    expect(formatOf('x.jsonl')).toEqual({ format: 'ndjson', compression: null });
    expect(formatOf('x.pq')).toEqual({ format: 'parquet', compression: null });
    expect(formatOf('export.txt.zst', 'ndjson')).toEqual({ format: 'ndjson', compression: 'zst' });
    expect(() => formatOf('export.txt')).toThrow(/give format/);
    expect(() => formatOf('x.csv', 'xlsx')).toThrow(/format must be one of parquet, csv, ndjson/);
  });

  it('prints progress as rows, rows/s and ETA', () => {
    expect(progressLine({ done: 0, total: null, rate_per_second: null, eta_seconds: null })).toBe('reading the file...');
    expect(progressLine({ done: 1_200_000, total: 10_000_000, rate_per_second: 150_000.4, eta_seconds: 58.7 })).toBe('1,200,000 of 10,000,000 rows (12%) · 150,000 rows/s · ETA 59s');
  });
});
