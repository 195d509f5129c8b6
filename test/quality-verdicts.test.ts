import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeBaseline, type Baseline } from '../analyzers/baseline.ts';
import { computeDrift, type DriftOptions, type DriftReport } from '../analyzers/drift.ts';
import type { EventRow } from '../core/event.ts';
import { getBaseline } from '../store/baselines.ts';
import { insertEvents } from '../store/events.ts';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';
import { seeded, tempDir, testConfig } from './helpers.ts';

/**
 * Data quality with verdicts (issue 19 item 4), on the real engine: every
 * share in a report's data_quality sits beside the baseline's and is judged
 * at the window's size, so a jump from 1% to 40% missing is flagged in the
 * report itself and a stationary 1% is not.
 */
const dir = tempDir();
let sql: Sql;
let baseline: Baseline;
const random = seeded(4);
const HOUR = 3_600_000;
const T0 = Date.now() - 100 * HOUR;
const OPTIONS: DriftOptions = { psiThreshold: 0.2, thresholdMode: 'calibrated', driftAlpha: 0.001, psiMinEffect: 0.005, minWindowEvents: 100, maxCategories: 1000 };

interface Mix {
  /** Share of events where x is missing, sent as a string, and where y is shifted above the reference range. */
  missing: number;
  string?: number;
  above?: number;
}

function events(prefix: string, from: number, n: number, mix: Mix): EventRow[] {
  return Array.from({ length: n }, (_, i): EventRow => {
    const u = random.random();
    const missing = u < mix.missing;
    const asString = !missing && u < mix.missing + (mix.string ?? 0);
    return {
      model: 'quality',
      event_id: `${prefix}${i}`,
      model_version: 'v1',
      ts: from + Math.floor((i * HOUR) / n),
      num: { ...(missing || asString ? {} : { x: random.normal() }), y: random.random() < (mix.above ?? 0) ? 100 + random.random() : random.normal() },
      cat: asString ? { x: 'n/a' } : ({} as Record<string, string>),
      missing: missing ? ['x'] : [],
      prediction_num: null,
      prediction_cat: null,
      scores: {},
      latency_ms: null,
      tags: {},
    };
  });
}

async function windowReport(w: number, mix: Mix, n = 2_000): Promise<DriftReport> {
  const from = T0 + (w + 2) * HOUR;
  await insertEvents(sql, events(`w${w}-`, from, n, mix));
  return computeDrift(sql, baseline, { model: 'quality', from, to: from + HOUR }, OPTIONS);
}

const quality = (r: DriftReport, feature: string) => r.data_quality!.features.find((q) => q.feature === feature)!;

beforeAll(async () => {
  sql = await openStore(testConfig({ DATA_DIR: dir.path }));
  await insertEvents(sql, events('r', T0, 20_000, { missing: 0.01 }));
  const frozen = await freezeBaseline(sql, { model: 'quality', from: T0, to: T0 + HOUR }, { bins: 10, maxCategories: 1000, sampleMax: 1_000_000 });
  baseline = (await getBaseline(sql, 'quality', frozen.baseline_id))!;
}, 120_000);
afterAll(async () => {
  await sql.close();
  dir.remove();
});

describe('data quality verdicts', () => {
  it('freezes the reference shares with the baseline', () => {
    expect(baseline.quality!.x.missing_share).toBeGreaterThan(0.005);
    expect(baseline.quality!.x.missing_share).toBeLessThan(0.015);
    expect(baseline.quality!.y).toEqual({ missing_share: 0, type_violation_share: 0 });
  });

  it('flags a jump from 1% to 40% missing in the report, and not a stationary 1%', async () => {
    const stationary = await windowReport(0, { missing: 0.01 });
    const jump = await windowReport(1, { missing: 0.4 });

    const calm = quality(stationary, 'x').checks!;
    expect(calm.missing.baseline).toBe(baseline.quality!.x.missing_share);
    expect(calm.missing.drifted).toBe(false);
    expect(calm.type_violation.drifted).toBe(false);
    expect(calm.out_of_range!.drifted).toBe(false);
    expect(stationary.data_quality!.flagged_features).toEqual([]);

    const x = quality(jump, 'x');
    expect(x.missing_share).toBeGreaterThan(0.35);
    expect(x.checks!.missing).toMatchObject({ share: x.missing_share, baseline: baseline.quality!.x.missing_share, drifted: true });
    expect(x.checks!.missing.p_value).toBeLessThan(1e-9);
    expect(jump.data_quality!.flagged_features).toEqual(['x']);
    expect(quality(jump, 'y').checks!.missing.drifted).toBe(false);
  }, 120_000);

  it('flags type violations and values beyond the reference range against their baselines', async () => {
    const report = await windowReport(2, { missing: 0.01, string: 0.3, above: 0.1 });
    const x = quality(report, 'x');
    expect(x.checks!.type_violation).toMatchObject({ baseline: 0, drifted: true });
    expect(x.type_violation_share).toBeGreaterThan(0.25);
    const y = quality(report, 'y');
    // The baseline share of "out of range" is 2/(n+1): what fresh reference draws give, not the reference's own 0.
    expect(y.checks!.out_of_range!.baseline).toBeCloseTo(2 / 20_001, 12);
    expect(y.out_of_range_share).toBeGreaterThan(0.08);
    expect(y.checks!.out_of_range).toMatchObject({ share: y.out_of_range_share, drifted: true });
    expect(report.data_quality!.flagged_features).toEqual(['x', 'y']);
  }, 120_000);

  it('does not flag a rise below the minimum effect, however significant', async () => {
    // 1% -> 1.8% over 40,000 events is far beyond noise (p < 1e-6) but under QUALITY_MIN_EFFECT (0.01).
    const report = await windowReport(3, { missing: 0.018 }, 40_000);
    const check = quality(report, 'x').checks!.missing;
    expect(check.p_value).toBeLessThan(1e-6);
    expect(check.drifted).toBe(false);
  }, 120_000);
});
