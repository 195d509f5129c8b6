import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { allQueries, dashboardFiles, type PromQuery, type SqlQuery } from '../grafana/dashboards.ts';
import { tempDir, testConfig } from './helpers.ts';
import { waitFor } from './kafka-helpers.ts';
import { ensurePrometheusTools, promQuery, startPrometheus, type Server } from './prometheus-helpers.ts';
import { expandMacros, seedDashboardData, WINDOW } from './grafana-fixtures.ts';

/**
 * The generated dashboards are only as good as their queries: every SQL
 * panel runs against the real engine with Grafana's macros filled in and
 * must return the columns it promises; every PromQL expression runs against
 * a real Prometheus scraping a real driftwatch.
 */
const dir = tempDir('driftwatch-grafana-');
let service: Service;
let prometheus: Server;
const base = Math.floor(Date.now() / WINDOW) * WINDOW - 6 * WINDOW;
const range = { from: base - WINDOW, to: Date.now() + 60_000 };

beforeAll(async () => {
  ensurePrometheusTools();
  service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data'), ANALYSIS_WINDOW: '5m', SHADOW_SAMPLE_SHARE: '1', MIN_WINDOW_EVENTS: '50', PREAGGREGATES: 'on' }), { logger: false });
  await seedDashboardData(service, base);
  prometheus = await startPrometheus(dir.path, { target: service.url, rulesFile: join(dir.path, 'none.yml'), alertmanager: 'http://127.0.0.1:9' });
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  await service?.close();
  dir.remove();
});

const expand = (sql: string) => expandMacros(sql, { ...range, intervalS: 60, model: 'credit' });

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
