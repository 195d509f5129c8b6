import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRules } from '../alerts/rules.ts';
import { emptyResults, signalsFor } from '../alerts/signals.ts';
import { prometheusRules } from '../alerts/prometheus.ts';
import { getBaseline } from '../store/baselines.ts';
import { computeDrift, type DriftReport } from '../analyzers/drift.ts';
import { publishReport } from '../analyzers/publish.ts';
import { startService, type Service } from '../cli/service.ts';
import { DriftwatchClient } from '../clients/js/src/index.ts';
import { parseConfig } from '../core/config.ts';
import { seeded, tempDir, testConfig } from './helpers.ts';

// Issue 20 item 5: failed predictions are events too. They are stored with
// their status and error_type, counted in each window's error rate and
// types, published as driftwatch_prediction_error_ratio{model}, alerted on
// by a default rule, and left out of drift, performance and baselines
// unless ANALYSIS_INCLUDE_FAILED.

const MODEL = 'failing';
const HOUR = 3_600_000;

describe('failed predictions', () => {
  const dir = tempDir();
  let service: Service;
  const refStart = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
  const curStart = refStart + HOUR;
  beforeAll(async () => {
    service = await startService(testConfig({ DATA_DIR: dir.path, INGEST_ACK: 'stored' }), { logger: false });
    const { normal } = seeded(20);
    const client = new DriftwatchClient({ url: service.url });
    // Reference hour: 2,000 good predictions of x ~ N(0, 1), and 500 failed ones whose x is far off.
    for (let i = 0; i < 2_000; i++) client.log({ event_id: `r${i}`, model: MODEL, timestamp: refStart + i * 1000, features: { x: normal() }, prediction: i % 2 });
    for (let i = 0; i < 500; i++) client.log({ event_id: `rf${i}`, model: MODEL, timestamp: refStart + i * 1000, features: { x: 50 + normal() }, status: 'error', error_type: 'OutOfMemory' });
    // Current hour: the same good traffic, and 10% failures (70 TimeoutError, 30 ValueError, and one with a prediction), far off too.
    for (let i = 0; i < 1_800; i++) client.log({ event_id: `c${i}`, model: MODEL, timestamp: curStart + i * 1000, features: { x: normal() }, prediction: i % 2 });
    for (let i = 0; i < 200; i++) {
      const failure = i < 140 ? 'TimeoutError' : 'ValueError';
      client.log({ event_id: `cf${i}`, model: MODEL, timestamp: curStart + i * 1000, features: { x: 50 + normal() }, status: 'error', error_type: failure, ...(i === 0 ? { prediction: 1 } : {}) });
    }
    expect(await client.close(60_000)).toBe(true);
    expect(client.stats().events).toMatchObject({ sent: 4_500, rejected: 0 });
  });
  afterAll(async () => {
    await service?.close();
    dir.remove();
  });

  it('stores them with their status and error_type, and their features', async () => {
    const rows = await service.sql.query<{ status: string; error_type: string; n: number; no_prediction: number }>(
      `SELECT status, error_type, count() AS n, countIf(prediction_num IS NULL AND prediction_cat IS NULL) AS no_prediction
       FROM events FINAL WHERE model = {m:String} GROUP BY status, error_type ORDER BY status, error_type`,
      { m: MODEL },
    );
    expect(rows.map((r) => [r.status, r.error_type, Number(r.n), Number(r.no_prediction)])).toEqual([
      ['error', 'OutOfMemory', 500, 500],
      ['error', 'TimeoutError', 140, 139],
      ['error', 'ValueError', 60, 60],
      ['ok', '', 3_800, 0],
    ]);
  });

  let report: DriftReport & { errors?: unknown };
  it('leaves them out of baselines and drift, and gives the window its error rate and types', async () => {
    const frozen = await fetch(`${service.url}/v1/models/${MODEL}/baselines`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: refStart, to: curStart }),
    });
    expect(frozen.status).toBe(201);
    const baseline = (await frozen.json()) as { baseline_id: string; n_events: number };
    expect(baseline.n_events).toBe(2_000);

    const answer = await fetch(`${service.url}/v1/models/${MODEL}/drift?from=${curStart}&to=${curStart + HOUR}`);
    expect(answer.status).toBe(200);
    report = (await answer.json()) as typeof report;
    expect(report.n_events).toBe(1_800);
    expect(report.errors).toEqual({ events: 2_000, failed: 200, rate: 0.1, types: [{ error_type: 'TimeoutError', n: 140 }, { error_type: 'ValueError', n: 60 }] });
    // The failures' x is 50 standard deviations off; counted, it would be drift.
    expect(report.features.find((f) => f.feature === 'x')).toMatchObject({ drifted: false });
  });

  it('counts them in drift and baselines with ANALYSIS_INCLUDE_FAILED', async () => {
    expect(parseConfig({}).ANALYSIS_INCLUDE_FAILED).toBe(false);
    expect(parseConfig({ ANALYSIS_INCLUDE_FAILED: 'true' }).ANALYSIS_INCLUDE_FAILED).toBe(true);
    const baseline = (await getBaseline(service.sql, MODEL, (report as unknown as { baseline_id: string }).baseline_id))!;
    const options = { psiThreshold: 0.2, datasetDriftShare: 0.5, minWindowEvents: 100, maxCategories: 1000 };
    const included = await computeDrift(service.sql, baseline, { model: MODEL, from: curStart, to: curStart + HOUR }, { ...options, includeFailed: true });
    expect(included.n_events).toBe(2_000);
    expect(included.features.find((f) => f.feature === 'x')).toMatchObject({ drifted: true });
    expect(included.errors?.rate).toBe(0.1);
  });

  it('publishes driftwatch_prediction_error_ratio{model} and a default rule alerts on it', async () => {
    const full = { ...report, from: curStart, to: curStart + HOUR } as unknown as DriftReport;
    publishReport(service.metrics, full, 100, new Map());
    const text = await (await fetch(`${service.url}/metrics`)).text();
    expect(text).toMatch(/driftwatch_prediction_error_ratio\{model="failing"\} 0\.1\n/);

    const rule = parseRules('rules:\n  - name: PredictionErrors\n    metric: errors.rate\n    threshold: 0.05\n', 'test')[0];
    expect(signalsFor(rule, { ...emptyResults(), drift: [full] })).toEqual([{ model: MODEL, subject: '', value: 0.1 }]);
    expect(prometheusRules([rule], HOUR)).toContain('driftwatch_prediction_error_ratio > 0.05');
  });
});
