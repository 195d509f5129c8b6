import { expect } from 'vitest';
import type { Service } from '../cli/service.ts';
import { modelBytes, specs, traffic } from './shadow-fixtures.ts';

/** What the dashboards' panels show: drift, performance and shadow results and an alert transition for model `credit`. */
export const WINDOW = 5 * 60_000;

export async function seedDashboardData(service: Service, base: number): Promise<void> {
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
  // Labels in the baseline range too: the calibrator of the estimated-performance panel is fitted on them.
  await post('/v1/labels', traffic.slice(0, 200).map((row, i) => ({ event_id: `g${base + i * 10}-${i}`, model: 'credit', label: row.default })));
  await post('/v1/models/credit/baselines', { from: base, to: base + WINDOW, segment_by: 'region' });
  await post('/v1/models/credit/shadow', { ...specs.logreg(), model_base64: modelBytes('logreg').toString('base64') });
  // A window with drift: drift, performance and shadow results, and an alert transition.
  await service.scheduler.runWindow({ from: base + WINDOW, to: base + 2 * WINDOW });
  // The window registered the baseline for the pre-aggregates: their panel needs its past filled.
  await service.preaggregates.settled('credit');
}

/**
 * Grafana's ClickHouse macros and the model variable, expanded as
 * grafana-clickhouse-datasource expands them (pkg/macros/macros.go):
 * whole seconds through toDateTime, the interval in seconds (at least 1),
 * and ${var:sqlstring} quoted with '' for a quote.
 */
export function expandMacros(sql: string, range: { from: number; to: number; intervalS: number; model: string }): string {
  const s = (ms: number) => `toDateTime(${Math.floor(ms / 1000)})`;
  const ms64 = (ms: number) => `fromUnixTimestamp64Milli(${ms})`;
  const quoted = `'${range.model.replace(/'/g, "''")}'`;
  return sql
    .replace(/\$__timeFilter_ms\((\w+)\)/g, (_, col: string) => `${col} >= ${ms64(range.from)} AND ${col} <= ${ms64(range.to)}`)
    .replace(/\$__timeFilter\((\w+)\)/g, (_, col: string) => `${col} >= ${s(range.from)} AND ${col} <= ${s(range.to)}`)
    .replace(/\$__timeInterval\((\w+)\)/g, (_, col: string) => `toStartOfInterval(toDateTime(${col}), INTERVAL ${Math.max(1, range.intervalS)} second)`)
    .replace(/\$__fromTime_ms/g, ms64(range.from))
    .replace(/\$__toTime_ms/g, ms64(range.to))
    .replace(/\$__fromTime/g, s(range.from))
    .replace(/\$__toTime/g, s(range.to))
    .replace(/\$__interval_s/g, String(Math.max(1, range.intervalS)))
    .replace(/\$\{model:sqlstring\}/g, quoted)
    .replace(/\$\{model\}|\$model\b/g, range.model);
}
