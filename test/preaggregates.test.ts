import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeBaseline, type Baseline } from '../analyzers/baseline.ts';
import { computeDrift, type DriftOptions } from '../analyzers/drift.ts';
import { driftSeries } from '../analyzers/drift-series.ts';
import { Preaggregates } from '../analyzers/preaggregates.ts';
import type { EventRow } from '../core/event.ts';
import { createMetrics } from '../core/metrics.ts';
import { ksTests, withoutDuplicates } from '../store/aggregates.ts';
import { insertEvents } from '../store/events.ts';
import { registerTarget } from '../store/preagg-edges.ts';
import type { Sql } from '../store/sql.ts';
import { backends, seeded } from './helpers.ts';
import { tempDir } from './helpers.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const MODEL = 'pre';
// Two days ago, whole hours: inside PREAGG_BACKFILL, and the hour tables take part.
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR;
const REFERENCE = { from: T0, to: T0 + HOUR };
const CURRENT = { from: T0 + 2 * HOUR, to: T0 + 2 * HOUR + 10 * MINUTE };

const OPTIONS: DriftOptions = { psiThreshold: 0.2, minWindowEvents: 30, maxCategories: 5 };
const silent = { info: () => {}, error: () => {} };

/** Events of [from, to): two numeric features, a categorical one with a tail past the cap, a sometimes-missing one, a score, some failures. */
function events(from: number, to: number, n: number, shift: number, prefix: string): EventRow[] {
  const { random, normal } = seeded(from + n);
  return Array.from({ length: n }, (_, i) => {
    const cat = random() < 0.9 ? ['a', 'b', 'c', 'd'][Math.floor(random() * (shift > 0 ? 2 : 4))] : `rare-${Math.floor(random() * 30)}`;
    const missing = random() < 0.1;
    return {
      model: MODEL,
      event_id: `${prefix}${i}`,
      model_version: 'v1',
      ts: from + Math.floor((i / n) * (to - from)),
      // Integers too, so values sit exactly on edges.
      num: { x: normal(shift, 1), k: Math.floor(random() * 8), ...(missing ? {} : { m: normal(0, 1) }), ...(i % 97 === 0 ? { c: 3 } : {}) },
      cat: { c: cat },
      missing: missing ? ['m'] : [],
      prediction_num: random(),
      prediction_cat: null,
      scores: {},
      latency_ms: null,
      tags: {},
      ...(i % 50 === 0 ? { status: 'error' as const, error_type: 'timeout' } : {}),
    };
  });
}

for (const backend of backends()) {
  describe(`pre-aggregates (${backend.name})`, () => {
    const dir = tempDir();
    let sql: Sql;
    let pre: Preaggregates;
    let baseline: Baseline;
    const metrics = createMetrics();
    const current = events(CURRENT.from, CURRENT.to, 3000, 1, 'cur-');

    beforeAll(async () => {
      sql = await backend.open(dir.path);
      pre = new Preaggregates({ sql, metrics, log: silent }, { enabled: true, backfillMs: 30 * 24 * HOUR, maxCategories: OPTIONS.maxCategories });
      // Stored before any baseline is registered: only the backfill can count them.
      await insertEvents(sql, events(REFERENCE.from, REFERENCE.to, 4000, 0, 'ref-'));
      baseline = await freezeBaseline(sql, { model: MODEL, ...REFERENCE }, { bins: 10, maxCategories: OPTIONS.maxCategories, sampleMax: 2000 });
      await pre.ensure(baseline);
      await pre.settled(MODEL);
      // Stored after: counted at insert by the materialized views, in two inserts.
      await insertEvents(sql, current.slice(0, 1000));
      await insertEvents(sql, current.slice(1000));
    }, 120_000);

    afterAll(async () => {
      await sql?.close();
      dir.remove();
    });

    it('gives a window the same report from the pre-aggregates as from raw events', async () => {
      const window = { model: MODEL, ...CURRENT };
      const counts = await pre.windowCounts(baseline, window);
      expect(counts).not.toBeNull();
      const raw = await computeDrift(sql, baseline, window, OPTIONS);
      const fromPre = await computeDrift(sql, baseline, window, OPTIONS, { counts: (w) => pre.windowCounts(baseline, w) });
      expect(raw.n_events).toBe(current.filter((e) => e.status !== 'error').length);
      expect(raw.features.find((f) => f.feature === 'x')!.drifted).toBe(true);
      expect(raw.features.find((f) => f.feature === 'c')!.metrics.chi2_statistic).toBeGreaterThan(0);
      // Everything: PSI, Jensen-Shannon, Hellinger, chi-square, verdicts, data quality, KS from raw in both.
      expect(fromPre).toEqual(raw);
    });

    it('fills the past of a newly registered baseline from stored events, hourly rows included', async () => {
      const window = { model: MODEL, ...REFERENCE };
      expect(await pre.windowCounts(baseline, window)).not.toBeNull();
      expect(await computeDrift(sql, baseline, window, OPTIONS, { counts: (w) => pre.windowCounts(baseline, w) })).toEqual(await computeDrift(sql, baseline, window, OPTIONS));
      expect((await pre.backfill(baseline))?.state).toBe('done');
    });

    it('gives per step what a window of that step gives', async () => {
      const series = await driftSeries(sql, pre, baseline, { ...CURRENT, stepMs: 5 * MINUTE, features: null }, { ...OPTIONS, rawMaxSteps: 0 });
      expect(series.steps.map((s) => s.source)).toEqual(['preaggregates', 'preaggregates']);
      for (const [i, step] of series.steps.entries()) {
        const report = await computeDrift(sql, baseline, { model: MODEL, from: step.from, to: step.to }, OPTIONS);
        expect(step.n_events).toBe(report.n_events);
        for (const f of [...report.features, report.prediction!]) {
          const s = series.features.find((x) => x.feature === f.feature)!;
          expect([s.psi[i], s.jensen_shannon[i], s.hellinger[i], s.drifted[i], s.n[i]]).toEqual([
            f.metrics.psi,
            f.metrics.jensen_shannon,
            f.metrics.hellinger,
            f.drifted,
            f.n_current,
          ]);
          if (f.kind === 'categorical') expect(s.chi2_statistic[i]).toBe(f.metrics.chi2_statistic);
          if (f.feature !== '@prediction') expect(s.missing_share[i]).toBe(f.metrics.missing_share);
        }
      }
    });

    it('never answers from pre-aggregates a baseline they are not binned on, and says so per step', async () => {
      const other = { ...baseline, baseline_id: '00000000-0000-4000-8000-000000000009' };
      expect(await pre.windowCounts(other, { model: MODEL, ...CURRENT })).toBeNull();
      const series = await driftSeries(sql, pre, other, { ...CURRENT, stepMs: 5 * MINUTE, features: ['x'] }, { ...OPTIONS, rawMaxSteps: 1 });
      // The raw budget goes to the newest step.
      expect(series.steps.map((s) => s.source)).toEqual(['unavailable', 'raw']);
      expect(series.features.map((f) => f.feature)).toEqual(['x']);
      expect(series.features[0].psi[1]).toBeGreaterThan(0.2);
      expect(series.features[0].psi[0]).toBeNull();
    });

    it('runs KS and Wasserstein on a bounded sample of the window, the same events every time', async () => {
      const window = { model: MODEL, ...CURRENT };
      const reference = { baselineId: baseline.baseline_id };
      const [all] = await ksTests(sql, reference, window, ['x'], 'asymp');
      const [tenth] = await ksTests(sql, reference, window, ['x'], 'asymp', 100_000);
      const [again] = await ksTests(sql, reference, window, ['x'], 'asymp', 100_000);
      expect(all.n_current).toBe(current.filter((e) => e.status !== 'error').length);
      expect(tenth.n_current).toBeGreaterThan(all.n_current * 0.05);
      expect(tenth.n_current).toBeLessThan(all.n_current * 0.15);
      expect(again).toEqual(tenth);
      // The scheduler's bound: about ksSampleMax values of the widest feature.
      const bounded = await computeDrift(sql, baseline, window, { ...OPTIONS, ksSampleMax: 300 });
      const full = await computeDrift(sql, baseline, window, OPTIONS);
      const x = (r: typeof full) => r.features.find((f) => f.feature === 'x')!.metrics;
      expect(x(bounded).ks_statistic).not.toBe(x(full).ks_statistic);
      expect(x(bounded).psi).toBe(x(full).psi);
    });

    /** Windows read from the pre-aggregates, or from raw events for `reason`, since the test began. */
    const reads = async (source: 'preaggregates' | 'raw', reason = '') =>
      (await metrics.preaggregateReads.get()).values.find((v) => v.labels.source === source && v.labels.reason === reason)?.value ?? 0;

    it('reads a window that is not whole minutes from the pre-aggregates, its ends from raw events, to the same report', async () => {
      // Categories under the cap in every part: the sum of the parts is the whole window's list.
      const wide = new Preaggregates({ sql, metrics, log: silent }, { enabled: true, backfillMs: 30 * 24 * HOUR, maxCategories: 100 });
      const options = { ...OPTIONS, maxCategories: 100 };
      const window = { model: MODEL, from: CURRENT.from + 17_500, to: CURRENT.to - 23_250 };
      const before = await reads('preaggregates');
      const fromPre = await computeDrift(sql, baseline, window, options, { counts: (w) => wide.windowCounts(baseline, w) });
      expect(await reads('preaggregates')).toBe(before + 1);
      const raw = await computeDrift(sql, baseline, window, options);
      // The ends hold events, and the whole minutes most of them.
      const inEnds = current.filter((e) => e.status !== 'error' && (e.ts < CURRENT.from + MINUTE || e.ts >= CURRENT.to - MINUTE) && e.ts >= window.from && e.ts < window.to).length;
      expect(inEnds).toBeGreaterThan(100);
      expect(raw.n_events).toBe(current.filter((e) => e.status !== 'error' && e.ts >= window.from && e.ts < window.to).length);
      expect(raw.features.find((f) => f.feature === 'c')!.distribution).toBeUndefined();
      expect(fromPre).toEqual(raw);
      // With every histogram too (the HTML report's).
      expect(await computeDrift(sql, baseline, window, options, { distributions: true, counts: (w) => wide.windowCounts(baseline, w) })).toEqual(
        await computeDrift(sql, baseline, window, options, { distributions: true }),
      );
      // One end only.
      const tail = { model: MODEL, from: CURRENT.from, to: CURRENT.to - 23_250 };
      expect(await wide.windowCounts(baseline, await withoutDuplicates(sql, tail))).not.toBeNull();
      expect(await computeDrift(sql, baseline, tail, options, { counts: (w) => wide.windowCounts(baseline, w) })).toEqual(await computeDrift(sql, baseline, tail, options));
    });

    it('reads raw events where a part may have left out categories past the cap, or no whole minute is inside', async () => {
      // OPTIONS' cap (5) is below the rare tail of `c`: each part lists exactly 5, and more may be past them.
      const window = { model: MODEL, from: CURRENT.from + 17_500, to: CURRENT.to - 23_250 };
      const capped = await reads('raw', 'capped');
      expect(await pre.windowCounts(baseline, await withoutDuplicates(sql, window))).toBeNull();
      expect(await reads('raw', 'capped')).toBe(capped + 1);
      expect(await computeDrift(sql, baseline, window, OPTIONS, { counts: (w) => pre.windowCounts(baseline, w) })).toEqual(await computeDrift(sql, baseline, window, OPTIONS));
      const unaligned = await reads('raw', 'unaligned');
      expect(await pre.windowCounts(baseline, { model: MODEL, from: CURRENT.from + 1_000, to: CURRENT.from + 59_000 })).toBeNull();
      expect(await reads('raw', 'unaligned')).toBe(unaligned + 1);
    });

    // Last: it changes the stored events.
    it('falls back to raw events for a window with a replayed batch, so the numbers stay exact', async () => {
      const window = { model: MODEL, ...CURRENT };
      const before = await computeDrift(sql, baseline, window, OPTIONS);
      // A retry of the first insert: the views count it again, FINAL stores it once.
      await insertEvents(sql, current.slice(0, 1000));
      expect(await pre.windowCounts(baseline, window)).toBeNull();
      const after = await computeDrift(sql, baseline, window, OPTIONS, { counts: (w) => pre.windowCounts(baseline, w) });
      expect(after.n_events).toBe(before.n_events);
      expect(after).toEqual(before);
      // The other step of the series is untouched and still served from the pre-aggregates.
      const series = await driftSeries(sql, pre, baseline, { from: CURRENT.from, to: CURRENT.to + 50 * MINUTE, stepMs: 10 * MINUTE, features: ['x'] }, { ...OPTIONS, rawMaxSteps: 1 });
      expect(series.steps.map((s) => s.source)).toEqual(['raw', 'preaggregates', 'preaggregates', 'preaggregates', 'preaggregates', 'preaggregates']);
      expect(series.steps[0].n_events).toBe(before.n_events);
      expect(series.features[0].psi[0]).toBe(before.features.find((f) => f.feature === 'x')!.metrics.psi);
      // Without a raw budget the step is unavailable: what was computed from its counts before the check found them stale is dropped.
      const none = await driftSeries(sql, pre, baseline, { from: CURRENT.from, to: CURRENT.to + 50 * MINUTE, stepMs: 10 * MINUTE, features: ['x'] }, { ...OPTIONS, rawMaxSteps: 0 });
      expect(none.steps[0]).toMatchObject({ source: 'unavailable', n_events: null });
      const x = none.features[0];
      expect([x.n[0], x.psi[0], x.jensen_shannon[0], x.hellinger[0], x.chi2_statistic[0], x.chi2_p_value[0], x.drifted[0], x.missing_share[0], x.type_violation_share[0]]).toEqual(new Array(9).fill(null));
      expect(x.psi.slice(1)).toEqual(series.features[0].psi.slice(1));
    });

    it('counts nothing until a baseline is registered and filled', async () => {
      await insertEvents(sql, events(T0 + 5 * HOUR, T0 + 5 * HOUR + 5 * MINUTE, 200, 0, 'late-'));
      const fresh = { ...baseline, baseline_id: '00000000-0000-4000-8000-00000000000a' };
      await registerTarget(sql, { model: MODEL, baselineId: fresh.baseline_id, numeric: [{ feature: 'x', edges: [0, 1] }], categorical: [] }, Date.now());
      // Registered, not filled: the window's events predate it, so it must not be answered from (empty) pre-aggregates.
      expect(await pre.windowCounts(fresh, { model: MODEL, from: T0 + 5 * HOUR, to: T0 + 5 * HOUR + 5 * MINUTE })).toBeNull();
      expect(await pre.windowCounts(baseline, { model: MODEL, ...CURRENT })).toBeNull();
    });
  });
}
