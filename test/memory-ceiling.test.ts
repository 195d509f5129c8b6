import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { AnalysisMemoryError, withMemoryCeiling } from '../store/memory-ceiling.ts';
import type { Sql } from '../store/sql.ts';
import { backends, event, tempDir, testConfig } from './helpers.ts';

// One data folder for the file: chDB binds one per process.
const dir = tempDir();
afterAll(() => dir.remove());

const MiB = 1024 * 1024;
// Holds 10M UInt64 in one array: 80 MB and more, far past a 16 MiB ceiling.
const LARGE = 'SELECT length(groupArray(number)) AS n FROM numbers(10000000)';

describe.each(backends())('the analysis memory ceiling on the store: $name', ({ open }) => {
  let sql: Sql;
  beforeAll(async () => {
    sql = await open(dir.path);
  });
  afterAll(async () => {
    await sql.close();
  });

  it('stops a statement past the ceiling in the engine with AnalysisMemoryError, and the store answers the next one', async () => {
    const capped = withMemoryCeiling(sql, 16 * MiB);
    const err = await capped.query(LARGE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnalysisMemoryError);
    expect((err as AnalysisMemoryError).message).toContain(String(16 * MiB));
    // The engine said so, not a guess beside it.
    expect(String((err as Error).cause)).toMatch(/MEMORY_LIMIT_EXCEEDED|memory limit/i);
    // INSERT ... SELECT reads rows too: capped the same.
    await sql.command('CREATE TABLE IF NOT EXISTS ceiling_marks (n UInt64) ENGINE = MergeTree ORDER BY n');
    await expect(capped.command(`INSERT INTO ceiling_marks ${LARGE}`)).rejects.toBeInstanceOf(AnalysisMemoryError);
    // Under the ceiling the same view works; without it the same large statement runs.
    expect(await capped.query<{ n: number }>('SELECT count() AS n FROM numbers(1000)')).toEqual([{ n: 1000 }]);
    expect(await sql.query<{ n: number }>(LARGE)).toEqual([{ n: 10_000_000 }]);
  }, 120_000);
});

describe('a drift request past ANALYSIS_MAX_MEMORY_BYTES', () => {
  let service: Service;
  const now = Date.now();
  const hour = 3_600_000;
  const url = (path: string) => `${service.url}${path}`;

  beforeAll(async () => {
    service = await startService(testConfig({ DATA_DIR: dir.path, ANALYSIS_MAX_MEMORY_BYTES: String(24 * MiB), MIN_WINDOW_EVENTS: '10' }), { logger: false });
    // A small reference range (its baseline fits under the ceiling) and a large current one:
    // 400k events x 10 numeric features, made by the engine (loading is not what is tested).
    const small = Array.from({ length: 300 }, (_, i) =>
      event({ model: 'mem', event_id: `r${i}`, timestamp: now - 3 * hour + i * 1000, features: Object.fromEntries(Array.from({ length: 10 }, (_, j) => [`f${j}`, ((i * 7 + j) % 50) / 5])) }),
    );
    const sent = await fetch(url('/v1/events'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(small) });
    expect(sent.status).toBe(200);
    await service.sql.command(
      `INSERT INTO events (model, event_id, model_version, ts, num, cat, missing, prediction_num, prediction_cat, scores, latency_ms, tags)
       SELECT 'mem', concat('c', toString(number)), 'v1', fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number * 1800000, 400000)), 'UTC'),
              mapFromArrays(arrayMap(i -> concat('f', toString(i)), range(10)), arrayMap(i -> randNormal(0, 1, number + i), range(10))),
              map(), [], NULL, NULL, map(), 1, map()
       FROM numbers(400000)`,
      { start: now - hour },
    );
    const frozen = await fetch(url('/v1/models/mem/baselines'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: now - 3 * hour, to: now - 2 * hour }),
    });
    expect(frozen.status, await frozen.clone().text()).toBe(201);
  }, 180_000);
  afterAll(async () => {
    await service?.close();
  });

  it('answers 503 DW_ANALYSIS_MEMORY naming the setting, and the service answers the next request', async () => {
    const range = (from: number, to: number) => `?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
    const response = await fetch(url(`/v1/models/mem/drift${range(now - hour, now)}`));
    const body = (await response.json()) as { code: string; message: string };
    expect(response.status, JSON.stringify(body)).toBe(503);
    expect(body.code).toBe('DW_ANALYSIS_MEMORY');
    expect(body.message).toContain('ANALYSIS_MAX_MEMORY_BYTES');
    expect(body.message).toContain(String(24 * MiB));
    const metrics = await (await fetch(url('/metrics'))).text();
    expect(metrics).toMatch(/^driftwatch_query_gate_requests_total\{outcome="memory"\} 1$/m);
    // Still running: ingest takes events and a window that fits gets its report.
    const sent = await fetch(url('/v1/events'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([event({ model: 'mem', features: { f0: 1 } })]) });
    expect(sent.status).toBe(200);
    const fits = await fetch(url(`/v1/models/mem/drift${range(now - 3 * hour, now - 2 * hour)}`));
    expect(fits.status, await fits.clone().text()).toBe(200);
    expect(((await fits.json()) as { n_events: number }).n_events).toBe(300);
  }, 180_000);
});
