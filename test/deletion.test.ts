import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { saveAlertEvents, saveAlertStates } from '../store/alerts.ts';
import { saveShadowModel } from '../store/shadow-models.ts';
import type { Sql } from '../store/sql.ts';
import { seeded, tempDir, testConfig } from './helpers.ts';

const dir = tempDir();
let service: Service;
let sql: Sql;

const MIN = 60_000;
const T0 = Math.floor(Date.now() / MIN) * MIN - 60 * MIN;
const RANGE = { from: T0, to: T0 + 10 * MIN };
const N = 200;

async function call(method: string, url: string, body?: unknown) {
  const response = await fetch(`${service.url}${url}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) };
}

/** N events with labels for `model`, ids `${model}-i`, and what the rest of the service derives from them. */
async function seed(model: string, seed: number) {
  const { random, normal } = seeded(seed);
  const events = Array.from({ length: N }, (_, i) => ({
    event_id: `${model}-${i}`,
    model,
    timestamp: RANGE.from + i * 3_000,
    features: { x: normal(0, 1), c: random() < 0.5 ? 'a' : 'b' },
    prediction: random(),
    tags: { region: i % 2 ? 'eu' : 'us' },
  }));
  expect((await call('POST', '/v1/events', events)).json()).toMatchObject({ accepted: N });
  const labels = events.map((e) => ({ model, event_id: e.event_id, label: e.prediction > 0.5 ? 1 : 0 }));
  expect((await call('POST', '/v1/labels', labels)).json()).toMatchObject({ accepted: N });
  expect((await call('POST', `/v1/models/${model}/baselines`, { ...RANGE, segment_by: 'region', name: 'ref' })).status).toBe(201);
  expect((await call('PUT', `/v1/models/${model}/baselines/rolling`, { every: '1d', lookback: '2h' })).status).toBe(200);
  await sql.command(
    `INSERT INTO shadow_predictions (model, shadow, revision, event_id, ts, status, score)
     SELECT {m:String}, 'challenger', 'r1', event_id, ts, 'ok', 0.5 FROM events FINAL WHERE model = {m:String}`,
    { m: model },
  );
  await sql.command(
    `INSERT INTO shadow_results (model, shadow, revision, role, window_start, window_end, computed_at, report)
     VALUES ({m:String}, 'challenger', 'r1', 'challenger', fromUnixTimestamp64Milli({from:Int64}, 'UTC'), fromUnixTimestamp64Milli({to:Int64}, 'UTC'), now64(3), '{}')`,
    { m: model, ...RANGE },
  );
  // A registration whose bytes are not a model: the scorer logs that it fails to load, which is beside the point here.
  await saveShadowModel(sql, { model, name: 'challenger', revision: 'r1', registered_at: Date.now(), role: 'challenger', spec: { name: 'challenger', role: 'challenger', inputs: [] } as never, source: 'upload' }, Buffer.from('not onnx'));
  const state = { rule: 'FeatureDrift', model, subject: 'x', status: 'firing' as const, breaches: 2, clears: 0, value: 0.9, active_since: RANGE.from, fired_at: RANGE.to, resolved_at: null, window_end: RANGE.to, severity: 'warning' };
  await saveAlertStates(sql, [state], Date.now());
  await saveAlertEvents(sql, [{ at: Date.now(), rule: 'FeatureDrift', model, subject: 'x', from_status: 'pending', to_status: 'firing', value: 0.9, threshold: 0.5, severity: 'warning', window_start: RANGE.from, window_end: RANGE.to }]);
}

/** The tables with a model column, and whether reads of them go through FINAL. */
async function modelTables(): Promise<{ name: string; engine: string }[]> {
  return sql.query<{ name: string; engine: string }>(
    `SELECT t.name AS name, t.engine AS engine FROM system.tables AS t
     WHERE t.database = currentDatabase() AND t.engine LIKE '%MergeTree'
       AND t.name IN (SELECT table FROM system.columns WHERE database = currentDatabase() AND name = 'model')
     ORDER BY name`,
  );
}

/** Rows of `model` in every table that has a model column, read plain and (where it applies) through FINAL. */
async function rowsOf(model: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of await modelTables()) {
    for (const final of t.engine === 'MergeTree' ? [''] : ['', ' FINAL']) {
      out[`${t.name}${final}`] = Number((await sql.query<{ n: number }>(`SELECT count() AS n FROM ${t.name}${final} WHERE model = {m:String}`, { m: model }))[0].n);
    }
  }
  return out;
}

const samplesOf = async (ids: string[]) =>
  Number((await sql.query<{ n: number }>('SELECT count() AS n FROM baseline_sample_chunks WHERE toString(baseline_id) IN {ids:Array(String)}', { ids }))[0].n);
const baselineIds = async (model: string) =>
  (await sql.query<{ id: string }>('SELECT toString(baseline_id) AS id FROM baselines WHERE model = {m:String}', { m: model })).map((r) => r.id);

beforeAll(async () => {
  service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data') }), { logger: false });
  sql = service.sql;
  await seed('gone', 1);
  await seed('kept', 2);
  // The scheduled analysis of the range (drift, performance, shadow, alerts), a rolling refreeze, and the alert states loaded.
  await service.scheduler.runWindow(RANGE);
  await service.rolling.runDue();
  await service.alerts.start();
}, 300_000);
afterAll(async () => {
  await service?.close();
  dir.remove();
});

describe('DELETE /v1/models/{model}', () => {
  it('removes everything stored about the model, in every table, and leaves the other model as it was', async () => {
    const before = await rowsOf('gone');
    for (const table of ['events', 'labels', 'baselines', 'baseline_active', 'baseline_rolling', 'baseline_refreezes', 'drift_results', 'drift_windows', 'performance_results', 'shadow_models', 'shadow_predictions', 'shadow_results', 'alert_states', 'alert_events']) {
      expect(before[table], `${table} seeded`).toBeGreaterThan(0);
    }
    const goneBaselines = await baselineIds('gone');
    expect(goneBaselines.length).toBeGreaterThanOrEqual(3);
    const goneSamples = await samplesOf(goneBaselines);
    expect(goneSamples).toBeGreaterThan(0);
    const kept = await rowsOf('kept');
    const keptBaselines = await baselineIds('kept');
    const keptSamples = await samplesOf(keptBaselines);
    expect(service.alerts.active().map((s) => s.model).sort()).toEqual(['gone', 'kept']);
    expect((await call('GET', '/metrics')).text).toMatch(/model="gone"/);
    // A job of the model (an import) is stopped first.
    const job = service.jobs.start('import', 'gone', 'rows', ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve('stopped'))));

    const answer = await call('DELETE', '/v1/models/gone');
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json().deleted).toMatchObject({ events: N, labels: N, shadow_predictions: N, baseline_sample_chunks: goneSamples });
    expect(answer.json().deleted.baselines).toBe(goneBaselines.length);
    expect(service.jobs.get(job.id)?.state).toBe('cancelled');

    // Direct SQL on every table, plain and FINAL.
    const after = await rowsOf('gone');
    expect(Object.entries(after).filter(([, n]) => n > 0)).toEqual([]);
    expect(await samplesOf(goneBaselines)).toBe(0);
    // The other model: every row still there.
    expect(await rowsOf('kept')).toEqual(kept);
    expect(await samplesOf(keptBaselines)).toBe(keptSamples);

    // Every API route.
    const models = (await call('GET', '/v1/models')).json().models.map((m: { model: string }) => m.model);
    expect(models).toEqual(['kept']);
    expect((await call('GET', '/v1/models/gone/baselines')).json().baselines).toEqual([]);
    for (const id of goneBaselines) expect((await call('GET', `/v1/models/gone/baselines/${id}`)).status).toBe(404);
    expect((await call('GET', `/v1/models/gone/drift?from=${RANGE.from}&to=${RANGE.to}`)).status).toBe(404);
    const compared = await call('GET', `/v1/models/gone/drift?from=${RANGE.from}&to=${RANGE.to}&reference_from=${RANGE.from}&reference_to=${RANGE.to}`);
    expect(compared.status).toBe(422);
    expect((await call('GET', `/v1/models/gone/drift/history?from=0`)).json().windows).toEqual([]);
    expect((await call('GET', `/v1/models/gone/drift/history?from=0&segment_by=region`)).json().windows).toEqual([]);
    expect((await call('GET', `/v1/models/gone/performance/history?from=0`)).json().windows).toEqual([]);
    expect((await call('GET', `/v1/models/gone/performance?from=${RANGE.from}&to=${RANGE.to}`)).json()).toMatchObject({ n_events: 0, n_labelled: 0, baseline_metrics: null });
    expect((await call('GET', '/v1/models/gone/baselines/rolling')).json()).toEqual({ policy: null, refreezes: [] });
    expect((await call('GET', '/v1/models/gone/shadow')).json().shadows).toEqual([]);
    expect((await call('GET', '/v1/models/gone/shadow/challenger/history?from=0')).json().reports).toEqual([]);
    const alerts = (await call('GET', '/v1/alerts?from=0')).json();
    expect(JSON.stringify(alerts)).not.toMatch(/"gone"/);
    expect(JSON.stringify(alerts)).toMatch(/"kept"/);
    expect(service.alerts.active().map((s) => s.model)).toEqual(['kept']);
    const metrics = (await call('GET', '/metrics')).text;
    expect(metrics).not.toMatch(/model="gone"/);
    expect(metrics).toMatch(/model="kept"/);
    expect(metrics).toMatch(/driftwatch_deleted_rows_total\{table="events"\} 200/);
    // The kept model is analysed as before.
    expect((await call('GET', `/v1/models/kept/drift?from=${RANGE.from}&to=${RANGE.to}`)).json().n_events).toBe(N);

    const again = await call('DELETE', '/v1/models/gone');
    expect(again.status).toBe(404);
    expect(again.json().code).toBe('DW_MODEL_NOT_FOUND');
  }, 180_000);
});

describe('POST /v1/models/{model}/events:delete', () => {
  it('deletes the named events with their labels and shadow predictions, and nothing else', async () => {
    const ids = ['kept-0', 'kept-7', 'kept-199', 'never-stored'];
    const answer = await call('POST', '/v1/models/kept/events:delete', { event_ids: ids });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json().deleted).toEqual({ events: 3, labels: 3, shadow_predictions: 3 });
    for (const table of ['events', 'labels', 'shadow_predictions']) {
      for (const final of ['', ' FINAL']) {
        const rows = await sql.query<{ n: number }>(`SELECT count() AS n FROM ${table}${final} WHERE model = 'kept' AND event_id IN {ids:Array(String)}`, { ids });
        expect(`${table}${final} ${rows[0].n}`).toBe(`${table}${final} 0`);
        const rest = await sql.query<{ n: number }>(`SELECT count() AS n FROM ${table}${final} WHERE model = 'kept'`);
        expect(`${table}${final} ${rest[0].n}`).toBe(`${table}${final} ${N - 3}`);
      }
    }
    expect((await call('GET', '/v1/models')).json().models).toMatchObject([{ model: 'kept', events: N - 3, labels: N - 3 }]);
    // Only this model's: the same ids of another model stay.
    expect((await call('POST', '/v1/models/other/events:delete', { event_ids: ['kept-1'] })).json().deleted).toEqual({ events: 0, labels: 0, shadow_predictions: 0 });
    expect(Number((await sql.query<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE event_id = 'kept-1'"))[0].n)).toBe(1);
  }, 120_000);

  it('with purge, also rewrites the parts that held them: on disk as well, the rows are gone', async () => {
    const answer = await call('POST', '/v1/models/kept/events:delete', { event_ids: ['kept-1', 'kept-2'], purge: true });
    expect(answer.json().deleted).toEqual({ events: 2, labels: 2, shadow_predictions: 2 });
    for (const table of ['events', 'labels', 'shadow_predictions']) {
      // Masked rows still count in a part's rows until the part is rewritten; after the purge none is left in any part.
      const [stored] = await sql.query<{ rows: number }>(
        'SELECT sum(rows) AS rows FROM system.parts WHERE database = currentDatabase() AND table = {t:String} AND active',
        { t: table },
      );
      const [visible] = await sql.query<{ n: number }>(`SELECT count() AS n FROM ${table}`);
      expect(`${table} ${stored.rows}`).toBe(`${table} ${visible.n}`);
    }
    expect(Number((await sql.query<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE model = 'kept'"))[0].n)).toBe(N - 5);
  }, 120_000);

  it('refuses an empty list, a list over 10,000 ids, and a body without one, with the reason', async () => {
    for (const body of [{ event_ids: [] }, { event_ids: Array.from({ length: 10_001 }, (_, i) => `id-${i}`) }, {}, { event_ids: [''] }, { event_ids: ['a'], extra: 1 }]) {
      const response = await call('POST', '/v1/models/kept/events:delete', body);
      expect(response.status).toBe(400);
      expect(response.json().message).toMatch(/event_ids|must NOT|additional/);
    }
    expect(Number((await sql.query<{ n: number }>("SELECT count() AS n FROM events FINAL WHERE model = 'kept'"))[0].n)).toBe(N - 5);
  }, 120_000);
});
