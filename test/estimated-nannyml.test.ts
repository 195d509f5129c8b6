import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeBaseline } from '../analyzers/baseline.ts';
import { computeDrift } from '../analyzers/drift.ts';
import { validateEvent, validateLabel } from '../core/event.ts';
import { insertEvents, insertLabels } from '../store/events.ts';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';
import { tempDir, testConfig } from './helpers.ts';

/**
 * driftwatch's CBPE against NannyML's on the same events: the fixture
 * (scripts/fixtures/cbpe_reference.sh, nannyml 0.13.1) holds the data and
 * NannyML's per-chunk estimates, sampling errors and realized values. The
 * events go into the real store, a baseline is frozen over the reference,
 * and each chunk is a window. Tolerances (docs/statistics.md): 1e-6 on an
 * estimate (1e-4 for ROC AUC), 1% on a sampling error, 1e-9 on a realized value.
 */
interface Metric {
  value: number;
  sampling_error: number;
  realized: number;
}
type Chunk = { start: number; end: number } & Record<string, Metric>;
interface Side {
  score?: number[];
  scores?: Record<string, number[]>;
  predicted?: string[];
  label: (number | string)[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/cbpe-nannyml.json', import.meta.url), 'utf8')) as {
  binary: { needs_calibration: boolean; reference: Side; analysis: Side; chunks: Chunk[] };
  multiclass: { classes: string[]; reference: Side; analysis: Side; chunks: Chunk[] };
};

/** ROC AUC ranks scores rounded to 1e-4 (store/estimated-performance.ts SCORE_STEPS) and NannyML rounds its cumulative sums to 5 decimals. */
const TOLERANCE: Record<string, number> = { accuracy: 1e-6, precision: 1e-6, recall: 1e-6, f1: 1e-6, roc_auc: 1e-4 };

const dir = tempDir();
let sql: Sql;
const NOW = Date.now();
const T0 = NOW - 3_600_000;
const STEP = 10; // ms between events
const ANALYSIS = T0 + 600_000;
const limits = { now: NOW, maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 };
beforeAll(async () => {
  sql = await openStore(testConfig({ DATA_DIR: dir.path }));
}, 60_000);
afterAll(async () => {
  await sql.close();
  dir.remove();
});

async function load(model: string, side: Side, from: number, prefix: string, classes?: string[]) {
  const n = side.label.length;
  const events = [];
  const labels = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}${i}`;
    const body = classes
      ? { prediction: side.predicted![i], scores: Object.fromEntries(classes.map((c) => [c, side.scores![c][i]])) }
      : { prediction: side.score![i], scores: {} };
    const e = validateEvent({ model, event_id: id, timestamp: from + i * STEP, features: { x: 1 }, ...body }, limits);
    if (!e.ok) throw new Error(e.reason);
    events.push(e.value);
    const l = validateLabel({ model, event_id: id, label: side.label[i], timestamp: from + i * STEP + 1 }, limits);
    if (!l.ok) throw new Error(l.reason);
    labels.push(l.value);
  }
  await insertEvents(sql, events);
  await insertLabels(sql, labels);
}

async function compare(model: string, data: { reference: Side; analysis: Side; chunks: Chunk[] }, classes?: string[], realizedToo: string[] = []) {
  await load(model, data.reference, T0, 'r', classes);
  await load(model, data.analysis, ANALYSIS, 'a', classes);
  const baseline = await freezeBaseline(sql, { model, from: T0, to: T0 + data.reference.label.length * STEP }, { bins: 10, maxCategories: 100, sampleMax: 100_000 });
  expect(baseline.estimator?.n_reference).toBe(data.reference.label.length);
  for (const chunk of data.chunks) {
    const window = { model, from: ANALYSIS + chunk.start * STEP, to: ANALYSIS + chunk.end * STEP };
    const report = await computeDrift(sql, baseline, window, { psiThreshold: 0.2, minWindowEvents: 10, maxCategories: 100 });
    const est = report.estimated_performance!;
    expect(est.n_events).toBe(chunk.end - chunk.start);
    for (const name of ['accuracy', 'precision', 'recall', 'f1', 'roc_auc']) {
      const ours = est.metrics[name as 'f1']!;
      const theirs = chunk[name];
      expect(Math.abs(ours.value - theirs.value), `${name} [${chunk.start}, ${chunk.end}): ${ours.value} vs ${theirs.value}`).toBeLessThanOrEqual(TOLERANCE[name]);
      expect(ours.sampling_error! / theirs.sampling_error, `${name} sampling error`).toBeCloseTo(1, 2);
      if (realizedToo.includes(name)) expect(ours.realized, `${name} realized`).toBeCloseTo(theirs.realized, 9);
    }
  }
}

describe('estimated performance against NannyML CBPE (fixture from nannyml 0.13.1)', () => {
  it('binary: estimates within 1e-6 (ROC AUC 1e-4), sampling errors within 1%, realized values equal', async () => {
    expect(fixture.binary.needs_calibration).toBe(true);
    await compare('nml-binary', fixture.binary, undefined, ['accuracy', 'precision', 'recall', 'f1', 'roc_auc']);
  }, 300_000);

  it('multi-class: the same for the macro averages of three classes', async () => {
    await compare('nml-multi', fixture.multiclass, fixture.multiclass.classes, ['accuracy', 'precision', 'recall', 'f1', 'roc_auc']);
  }, 300_000);
});
