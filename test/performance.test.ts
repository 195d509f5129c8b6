import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computePerformance } from '../analyzers/performance-window.ts';
import { freezeBaseline } from '../analyzers/baseline.ts';
import { computeDrift } from '../analyzers/drift.ts';
import { validateEvent, validateLabel } from '../core/event.ts';
import { insertEvents, insertLabels } from '../store/events.ts';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';
import { event, seeded, tempDir, testConfig } from './helpers.ts';

const dir = tempDir();
let sql: Sql;
const NOW = Date.now();
const limits = { now: NOW, maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 };
beforeAll(async () => {
  sql = await openStore(testConfig({ DATA_DIR: dir.path }));
});
afterAll(async () => {
  await sql.close();
  dir.remove();
});

async function load(model: string, rows: { id: string; ts: number; prediction: number | string; label?: number | string; labelTs?: number }[]) {
  await insertEvents(
    sql,
    rows.map((r) => {
      const checked = validateEvent(event({ model, event_id: r.id, timestamp: r.ts, prediction: r.prediction, features: { x: 1 } }), limits);
      if (!checked.ok) throw new Error(checked.reason);
      return checked.value;
    }),
  );
  await insertLabels(
    sql,
    rows
      .filter((r) => r.label !== undefined)
      .map((r) => {
        const checked = validateLabel({ model, event_id: r.id, label: r.label, timestamp: r.labelTs ?? r.ts + 5000 }, limits);
        if (!checked.ok) throw new Error(checked.reason);
        return checked.value;
      }),
  );
}

/** Textbook binary metrics, written independently of analyzers/performance.ts. */
function expectedBinary(pairs: { p: number; y: number }[]) {
  const tp = pairs.filter((r) => r.p >= 0.5 && r.y === 1).length;
  const fp = pairs.filter((r) => r.p >= 0.5 && r.y === 0).length;
  const fn = pairs.filter((r) => r.p < 0.5 && r.y === 1).length;
  const precision = tp / (tp + fp);
  const recall = tp / (tp + fn);
  const pos = pairs.filter((r) => r.y === 1);
  const neg = pairs.filter((r) => r.y === 0);
  let wins = 0;
  for (const a of pos) for (const b of neg) wins += a.p > b.p ? 1 : a.p === b.p ? 0.5 : 0;
  const clip = (p: number) => Math.min(1 - 1e-15, Math.max(1e-15, p));
  const logLoss = pairs.reduce((s, r) => s - (r.y * Math.log(clip(r.p)) + (1 - r.y) * Math.log(clip(1 - r.p))), 0) / pairs.length;
  let ece = 0;
  for (let b = 0; b < 10; b++) {
    const inBin = pairs.filter((r) => Math.min(9, Math.floor(r.p * 10)) === b);
    if (inBin.length === 0) continue;
    const meanP = inBin.reduce((s, r) => s + r.p, 0) / inBin.length;
    const meanY = inBin.reduce((s, r) => s + r.y, 0) / inBin.length;
    ece += (inBin.length / pairs.length) * Math.abs(meanP - meanY);
  }
  return {
    accuracy: (tp + pairs.filter((r) => r.p < 0.5 && r.y === 0).length) / pairs.length,
    precision,
    recall,
    f1: (2 * precision * recall) / (precision + recall),
    roc_auc: wins / (pos.length * neg.length),
    log_loss: logLoss,
    expected_calibration_error: ece,
  };
}

describe('performance from late labels', () => {
  it('computes binary metrics over the labelled part of a window, with coverage and delay', async () => {
    const { random } = seeded(3);
    const from = NOW - 3_600_000;
    const rows = Array.from({ length: 1000 }, (_, i) => {
      const p = Math.round(random() * 1000) / 1000;
      const labelled = i % 5 !== 0; // 80% get a label, 10 s after the prediction
      return { id: `b${i}`, ts: from + i * 100, prediction: p, label: labelled ? (random() < p ? 1 : 0) : undefined, labelTs: from + i * 100 + 10_000 };
    });
    await load('binary', rows);
    const report = await computePerformance(sql, { model: 'binary', from, to: from + 1000 * 100 });
    expect(report.task).toBe('binary');
    expect(report.n_events).toBe(1000);
    expect(report.n_labelled).toBe(800);
    expect(report.label_coverage).toBe(0.8);
    expect(report.label_delay_p50_s).toBeCloseTo(10, 6);
    const expected = expectedBinary(rows.filter((r) => r.label !== undefined).map((r) => ({ p: r.prediction as number, y: r.label as number })));
    for (const [name, value] of Object.entries(expected)) expect(report.metrics[name], name).toBeCloseTo(value, 9);
  });

  it('recomputes a past window as its labels arrive, and compares with the baseline', async () => {
    const from = NOW - 7_200_000;
    const rows = Array.from({ length: 400 }, (_, i) => ({ id: `l${i}`, ts: from + i * 1000, prediction: i % 2 ? 0.9 : 0.1 }));
    // Reference: labelled at once, the model is right every time.
    await load('late', rows.slice(0, 200).map((r, i) => ({ ...r, label: i % 2 })));
    const baseline = await freezeBaseline(sql, { model: 'late', from, to: from + 200_000 }, { bins: 10, maxCategories: 10, sampleMax: 1_000_000 });
    expect(baseline.performance?.metrics.accuracy).toBe(1);
    // Current window: no labels yet.
    await load('late', rows.slice(200));
    const window = { model: 'late', from: from + 200_000, to: from + 400_000 };
    const before = await computeDrift(sql, baseline, window, { psiThreshold: 0.2, minWindowEvents: 10, maxCategories: 10 });
    expect(before.performance).toMatchObject({ task: null, n_labelled: 0, label_coverage: 0, metrics: {} });
    // Labels arrive later: the model is now wrong a quarter of the time.
    await insertLabels(sql, rows.slice(200).map((r, i) => ({ model: 'late', event_id: r.id, label_num: i % 4 === 0 ? 1 - (i % 2) : i % 2, label_cat: null, ts: NOW })));
    const after = await computeDrift(sql, baseline, window, { psiThreshold: 0.2, minWindowEvents: 10, maxCategories: 10 });
    expect(after.performance?.n_labelled).toBe(200);
    expect(after.performance?.metrics.accuracy).toBeCloseTo(0.75, 12);
    expect(after.performance?.baseline_metrics?.accuracy).toBe(1);
    expect(after.performance?.change.accuracy).toBeCloseTo(-0.25, 12);
  });

  it('computes multi-class and regression metrics', async () => {
    const from = NOW - 10_800_000;
    const classes = ['cat', 'dog', 'eel'];
    const multi = Array.from({ length: 300 }, (_, i) => ({ id: `m${i}`, ts: from + i, prediction: classes[i % 3], label: classes[i % 5 === 0 ? (i + 1) % 3 : i % 3] }));
    await load('multi', multi);
    const m = await computePerformance(sql, { model: 'multi', from, to: from + 300 });
    expect(m.task).toBe('classification');
    expect(m.metrics.accuracy).toBeCloseTo(multi.filter((r) => r.prediction === r.label).length / 300, 12);
    expect(m.metrics.f1).toBeGreaterThan(0.7);

    const regression = Array.from({ length: 200 }, (_, i) => ({ id: `r${i}`, ts: from + 1000 + i, prediction: 10 + i + (i % 2 ? 2 : -2), label: 10 + i }));
    await load('reg', regression);
    const r = await computePerformance(sql, { model: 'reg', from, to: from + 2000 });
    expect(r.task).toBe('regression');
    expect(r.metrics.mae).toBeCloseTo(2, 12);
    expect(r.metrics.rmse).toBeCloseTo(2, 12);
    const labels = regression.map((x) => x.label);
    const mean = labels.reduce((a, b) => a + b, 0) / labels.length;
    const variance = labels.reduce((a, b) => a + (b - mean) ** 2, 0) / labels.length;
    expect(r.metrics.r2).toBeCloseTo(1 - 4 / variance, 12);
    expect(r.metrics.mape).toBeCloseTo(regression.reduce((a, x) => a + 2 / x.label, 0) / 200, 12);
  });
});
