import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { allQueries, dashboardFiles, type PromQuery, type SqlQuery } from '../grafana/dashboards.ts';
import { tempDir, testConfig } from './helpers.ts';
import { waitFor } from './kafka-helpers.ts';
import { ensurePrometheusTools, promQuery, startPrometheus, type Server } from './prometheus-helpers.ts';
import { modelBytes, specs, traffic } from './shadow-fixtures.ts';

/**
 * The generated dashboards are only as good as their queries: every SQL
 * panel runs against the real engine with Grafana's macros filled in and
 * must return the columns it promises; every PromQL expression runs against
 * a real Prometheus scraping a real driftwatch.
 */
const dir = tempDir('driftwatch-grafana-');
const WINDOW = 5 * 60_000;
let service: Service;
let prometheus: Server;
const base = Math.floor(Date.now() / WINDOW) * WINDOW - 6 * WINDOW;
const range = { from: base - WINDOW, to: Date.now() + 60_000 };

beforeAll(async () => {
  ensurePrometheusTools();
  service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data'), ANALYSIS_WINDOW: '5m', SHADOW_SAMPLE_SHARE: '1', MIN_WINDOW_EVENTS: '50' }), { logger: false });
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${service.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(r.status).toBeLessThan(300);
  };
  const event = (i: number, ts: number, shift: number) => {
    const row = traffic[i % traffic.length];
    return {
      event_id: `g${ts}-${i}`,
      model: 'credit',
      timestamp: ts,
      features: { ...row.features, debt_ratio: Number(row.features.debt_ratio) + shift },
      prediction: row.logreg.label,
      scores: { '0': 1 - row.logreg.p1, '1': row.logreg.p1 },
      latency_ms: 3 + (i % 7),
      tags: { region: i % 3 === 0 ? 'north' : 'south' },
    };
  };
  await post('/v1/events', Array.from({ length: 500 }, (_, i) => event(i, base + i * 10, 0)));
  await post('/v1/events', Array.from({ length: 500 }, (_, i) => event(i, base + WINDOW + i * 10, 0.4)));
  await post('/v1/labels', traffic.slice(0, 200).map((row, i) => ({ event_id: `g${base + WINDOW + i * 10}-${i}`, model: 'credit', label: row.default })));
  await post('/v1/models/credit/baselines', { from: base, to: base + WINDOW, segment_by: 'region' });
  await post('/v1/models/credit/shadow', { ...specs.logreg(), model_base64: modelBytes('logreg').toString('base64') });
  // A window with drift: drift, performance and shadow results, and an alert transition.
  await service.scheduler.runWindow({ from: base + WINDOW, to: base + 2 * WINDOW });
  prometheus = await startPrometheus(dir.path, { target: service.url, rulesFile: join(dir.path, 'none.yml'), alertmanager: 'http://127.0.0.1:9' });
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  await service?.close();
  dir.remove();
});

/** Grafana's ClickHouse macros and the model variable, as the plugin would expand them. */
function expand(sql: string): string {
  const ms = (v: number) => `fromUnixTimestamp64Milli(toInt64(${v}), 'UTC')`;
  return sql
    .replace(/\$__timeFilter\((\w+)\)/g, (_, col: string) => `${col} >= ${ms(range.from)} AND ${col} <= ${ms(range.to)}`)
    .replace(/\$__timeInterval\((\w+)\)/g, (_, col: string) => `toStartOfInterval(${col}, INTERVAL 60 second)`)
    .replace(/\$\{model:sqlstring\}/g, `'credit'`);
}

describe('generated Grafana dashboards', () => {
  it('are committed as generated (run `driftwatch dashboards` after changing grafana/dashboards.ts)', () => {
    for (const [file, text] of Object.entries(dashboardFiles())) {
      expect(readFileSync(join(import.meta.dirname, '..', 'grafana', file), 'utf8'), file).toBe(text);
    }
    const model = JSON.parse(dashboardFiles()['dashboards/driftwatch-model.json']);
    expect(model.templating.list[0].name).toBe('model');
    expect(model.panels.length).toBeGreaterThanOrEqual(10);
  });

  const sqlQueries = allQueries().filter((q): q is typeof q & { query: SqlQuery } => q.query.kind === 'sql');
  it.each(sqlQueries.map((q) => [`${q.dashboard} / ${q.panel}`, q.query] as const))('SQL of %s returns its columns, with data', async (_, query) => {
    const text = expand(query.sql);
    const described = await service.sql.query<{ name: string }>(`DESCRIBE TABLE (${text})`);
    expect(described.map((c) => c.name)).toEqual(query.columns);
    const rows = await service.sql.query<Record<string, unknown>>(text);
    expect(rows.length).toBeGreaterThan(0);
  });

  it('every PromQL expression runs on Prometheus and names metrics driftwatch exports', async () => {
    await waitFor(async () => (await promQuery(prometheus.url, 'up{job="driftwatch"}')).some((r) => r.value[1] === '1'), 30_000, 'a first scrape');
    const exported = await (await fetch(`${service.url}/metrics`)).text();
    const queries = allQueries().filter((q): q is typeof q & { query: PromQuery } => q.query.kind === 'promql');
    expect(queries.length).toBeGreaterThanOrEqual(8);
    for (const { panel, query } of queries) {
      const expr = query.expr.replace(/\$__rate_interval/g, '1m').replace(/\$model/g, 'credit');
      for (const name of expr.match(/driftwatch_[a-z_]+/g) ?? []) expect(exported, `${panel}: ${name}`).toContain(`# TYPE ${name} `);
      await expect(promQuery(prometheus.url, expr), panel).resolves.toBeInstanceOf(Array);
    }
    const drifted = await promQuery(prometheus.url, 'topk(10, driftwatch_feature_drift_score{model="credit", method="psi", feature!="@prediction"})');
    expect(drifted.map((r) => r.metric.feature)).toContain('debt_ratio');
  });
});
