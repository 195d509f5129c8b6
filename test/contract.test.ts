import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../api/app.ts';
import { QueryGate } from '../api/query-gate.ts';
import { createMetrics } from '../core/metrics.ts';
import { inlinePreparer } from '../ingest/preparer.ts';
import { createWriters } from '../ingest/writers.ts';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';
import { event, tempDir, testConfig } from './helpers.ts';

const dir = tempDir();
let sql: Sql;
let app: FastifyInstance;

beforeAll(async () => {
  sql = await openStore(testConfig({ DATA_DIR: dir.path }));
  const metrics = createMetrics();
  const config = testConfig({ DATA_DIR: dir.path });
  app = await buildApp({
    sql,
    metrics,
    gate: new QueryGate({ sql, metrics }, { maxConcurrent: config.ANALYSIS_MAX_CONCURRENT, timeoutMs: config.ANALYSIS_TIMEOUT }),
    http: { headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT, requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT },
    writers: createWriters(sql, { maxBatchRows: 100_000, maxPendingRows: 500_000 }, metrics),
    preparer: inlinePreparer(),
    apiKeys: [],
    bodyLimit: 1024 * 1024,
    windowMs: 60_000,
    limits: () => ({ now: Date.now(), maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 }),
    baseline: { bins: 10, maxCategories: 100, sampleMax: 1_000_000 },
    drift: { psiThreshold: 0.2, minWindowEvents: 10, maxCategories: 100 },
  });
  const stored = await app.inject({ method: 'POST', url: '/v1/events', payload: [event({ model: 'contract' })] });
  expect(stored.json().accepted).toBe(1);
});
afterAll(async () => {
  await app.close();
  await sql.close();
  dir.remove();
});

describe('empty query parameters (schemathesis: from= was a 400)', () => {
  it('are as if absent, on every route, defaults included', async () => {
    for (const url of [
      '/v1/models/contract/drift/history?from=&to=&limit=',
      '/v1/models/contract/performance?from=&to=',
      '/v1/models/contract/performance/history?from&limit=',
      '/v1/models/contract/drift/history?segment_by=&segment=',
    ]) {
      const response = await app.inject({ method: 'GET', url });
      expect(`${url} ${response.statusCode}`).toBe(`${url} 200`);
    }
    const perf = (await app.inject({ method: 'GET', url: '/v1/models/contract/performance?from=&to=' })).json();
    expect(Date.parse(perf.to) - Date.parse(perf.from)).toBe(60_000);
  });

  it('still refuses values that are given and wrong, and an empty one among others', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/models/contract/performance?from=yesterday' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/v1/models/contract/drift/history?limit=0' })).statusCode).toBe(400);
    const segment = await app.inject({ method: 'GET', url: '/v1/models/contract/drift/history?segment=&segment=eu' });
    expect(segment.json().message).toMatch(/segment needs segment_by/);
  });
});

describe('methods a path does not serve', () => {
  it('answer 405 with the methods it does serve in Allow', async () => {
    for (const [method, url, allow] of [
      ['DELETE', '/v1/models', 'GET, HEAD'],
      ['PUT', '/v1/models/contract/baselines', 'GET, HEAD, POST'],
      ['PATCH', '/v1/models/contract/drift', 'GET, HEAD'],
      ['GET', '/v1/events', 'POST'],
      ['POST', '/healthz', 'GET, HEAD'],
    ] as const) {
      const response = await app.inject({ method, url });
      expect(`${method} ${url} ${response.statusCode}`).toBe(`${method} ${url} 405`);
      expect(response.headers.allow).toBe(allow);
      expect(response.json().code).toBe('DW_METHOD_NOT_ALLOWED');
    }
  });

  it('leave 404 for paths that do not exist', async () => {
    for (const url of ['/v1/nothing', '/v1/models/contract/nothing']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(404);
      expect(response.headers.allow).toBeUndefined();
    }
  });
});
