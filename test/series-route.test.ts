import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDrift } from '../analyzers/drift.ts';
import { startService, type Service } from '../cli/service.ts';
import { activeBaseline } from '../store/baselines.ts';
import { event, seeded, tempDir, testConfig } from './helpers.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
// Whole hours a day ago: the reference hour, then three hours that drift more and more.
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('GET /v1/models/{model}/drift/series', () => {
  const dir = tempDir();
  let svc: Service;
  const series = (query: string) => fetch(`${svc.url}/v1/models/srs/drift/series?${query}`);

  beforeAll(async () => {
    svc = await startService(testConfig({ DATA_DIR: dir.path, SERIES_MAX_CELLS: '100', SERIES_RAW_MAX_STEPS: '2', PREAGGREGATES: 'on' }), { logger: false });
    const { normal, random } = seeded(22);
    const events = [];
    for (let h = 0; h < 4; h++) {
      for (let i = 0; i < 600; i++) {
        events.push(
          event({
            model: 'srs',
            event_id: `h${h}-${i}`,
            timestamp: T0 + h * HOUR + i * 6000,
            features: { amount: normal(h, 1), country: random() < 0.5 + h * 0.1 ? 'DE' : 'FR', age: i % 10 === 0 ? null : 30 + (i % 40) },
          }),
        );
      }
    }
    expect((await post(`${svc.url}/v1/events`, events)).status).toBe(200);
    expect((await post(`${svc.url}/v1/models/srs/baselines`, { from: T0, to: T0 + HOUR })).status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await svc?.close();
    dir.remove();
  });

  it('starts filling the pre-aggregates as a job, and answers every step exactly meanwhile and after', async () => {
    const query = `from=${T0}&to=${T0 + 4 * HOUR}&step=1h`;
    const first = await series(query);
    expect(first.status).toBe(200);
    const jobs = (await (await fetch(`${svc.url}/v1/jobs?model=srs&kind=preaggregate-backfill`)).json()).jobs;
    expect(jobs).toHaveLength(1);
    await svc.jobs.settled(jobs[0].id);
    expect(svc.jobs.get(jobs[0].id)?.state).toBe('succeeded');

    const body = await (await series(query)).json();
    expect(body.backfill.state).toBe('done');
    expect(body.steps.map((s: { source: string }) => s.source)).toEqual(['preaggregates', 'preaggregates', 'preaggregates', 'preaggregates']);
    expect(body.steps.map((s: { n_events: number }) => s.n_events)).toEqual([600, 600, 600, 600]);
    const amount = body.features.find((f: { feature: string }) => f.feature === 'amount');
    // Drift grows hour by hour.
    expect(amount.psi[1]).toBeGreaterThan(amount.psi[0]);
    expect(amount.psi[3]).toBeGreaterThan(amount.psi[1]);
    expect(amount.drifted.slice(1)).toEqual([true, true, true]);

    // The numbers of GET /drift for each hour, whichever way the first answer got them.
    const earlier = await first.json();
    for (let h = 0; h < 4; h++) {
      const report = await (await fetch(`${svc.url}/v1/models/srs/drift?from=${T0 + h * HOUR}&to=${T0 + (h + 1) * HOUR}`)).json();
      for (const f of report.features) {
        const s = body.features.find((x: { feature: string }) => x.feature === f.feature);
        expect([s.psi[h], s.jensen_shannon[h], s.hellinger[h], s.missing_share[h]]).toEqual([f.metrics.psi, f.metrics.jensen_shannon, f.metrics.hellinger, f.metrics.missing_share]);
        const e = earlier.features.find((x: { feature: string }) => x.feature === f.feature);
        if (earlier.steps[h].source !== 'unavailable') expect(e.psi[h]).toBe(f.metrics.psi);
      }
    }
    const age = body.features.find((f: { feature: string }) => f.feature === 'age');
    expect(age.missing_share[0]).toBeCloseTo(0.1, 10);
  });

  it('answers GET /drift and the HTML report of a window that is not whole minutes from the pre-aggregates, with the raw numbers', async () => {
    // After the first test: the backfill is done.
    const reads = async () => (await svc.metrics.preaggregateReads.get()).values.find((v) => v.labels.source === 'preaggregates')?.value ?? 0;
    const window = { model: 'srs', from: T0 + HOUR + 29_500, to: T0 + 3 * HOUR - 12_345 };
    const before = await reads();
    const response = await fetch(`${svc.url}/v1/models/srs/drift?from=${window.from}&to=${window.to}`);
    expect(response.status).toBe(200);
    const report = await response.json();
    expect(await reads()).toBe(before + 1);
    const baseline = (await activeBaseline(svc.sql, 'srs'))!;
    const raw = await computeDrift(svc.sql, baseline, window, { psiThreshold: 0.2, minWindowEvents: 30, maxCategories: 1000 });
    expect(report.n_events).toBe(raw.n_events);
    expect(report.n_events).toBe(2 * 600 - 5 - 2);
    expect(report.data_quality).toEqual(raw.data_quality);
    for (const f of raw.features) expect(report.features.find((x: { feature: string }) => x.feature === f.feature).metrics).toEqual(f.metrics);
    const page = await fetch(`${svc.url}/v1/models/srs/report.html?from=${window.from}&to=${window.to}`);
    expect(page.status).toBe(200);
    expect(await reads()).toBe(before + 2);
  });

  it('gives the features asked for, at the step asked for', async () => {
    const body = await (await series(`from=${T0}&to=${T0 + HOUR}&step=15m&features=country`)).json();
    expect(body.step_ms).toBe(15 * MINUTE);
    expect(body.steps).toHaveLength(4);
    expect(body.features.map((f: { feature: string }) => f.feature)).toEqual(['country']);
    expect(body.features[0].chi2_statistic.every((v: number | null) => typeof v === 'number')).toBe(true);
  });

  it('refuses what it cannot answer, saying why', async () => {
    const cases: [string, RegExp][] = [
      [`from=${T0}&to=${T0 + HOUR}&step=90s`, /whole minutes/],
      [`from=${T0}&to=${T0 + HOUR}&step=7m`, /whole number of steps/],
      [`from=${T0 + 1000}&to=${T0 + HOUR + 1000}&step=1h`, /whole minute/],
      [`from=${T0}&to=${T0 + HOUR}&features=amount,nope`, /not features of baseline .*: nope/],
      // 61 steps x 2 features over SERIES_MAX_CELLS (100)
      [`from=${T0}&to=${T0 + 61 * MINUTE}&step=1m&features=amount,country`, /122 cells|61 steps x 2 features is more than SERIES_MAX_CELLS \(100\)/],
      [`from=${T0 + HOUR}&to=${T0}`, /from must be before to/],
    ];
    for (const [query, reason] of cases) {
      const response = await series(query);
      expect(response.status, query).toBe(400);
      expect((await response.json()).message, query).toMatch(reason);
    }
    const none = await fetch(`${svc.url}/v1/models/nobody/drift/series`);
    expect(none.status).toBe(404);
  });
});
