import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeBaseline } from '../analyzers/baseline.ts';
import type { EventRow } from '../core/event.ts';
import { freezeSample, ksTests, sampleCounts } from '../store/aggregates.ts';
import { deleteBaseline } from '../store/baselines.ts';
import { insertEvents } from '../store/events.ts';
import type { Sql } from '../store/sql.ts';
import { backends, seeded, tempDir } from './helpers.ts';

// The KS reference sample a baseline freezes (issue 22: sorted chunks, one row
// per feature and chunk, instead of one row per value), and the rows of
// baselines frozen before that layout, which must still be read.
const HOUR = 3_600_000;
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 10 * HOUR;
const REFERENCE = { from: T0, to: T0 + HOUR };
const CURRENT = { model: 'samples', from: T0 + 2 * HOUR, to: T0 + 3 * HOUR };

function events(from: number, n: number, shift: number, prefix: string): EventRow[] {
  // Seeded by size only: the same values whatever the hour the test runs in.
  const { random, normal } = seeded(n);
  return Array.from({ length: n }, (_, i) => ({
    model: 'samples',
    event_id: `${prefix}${i}`,
    model_version: 'v1',
    ts: from + Math.floor((i / n) * HOUR),
    // Ties (integers), a signed zero and plain normals.
    num: { x: normal(shift, 1), k: Math.floor(random() * 6) - 3, z: i % 2 === 0 ? 0 : -0 },
    cat: {},
    missing: [],
    prediction_num: random(),
    prediction_cat: null,
    scores: {},
    latency_ms: null,
    tags: {},
  }));
}

const sortedSample = async (sql: Sql, baselineId: string, feature: string) =>
  (await sql.query<{ values: number[] }>(
    'SELECT arrayFlatten(groupArray(values)) AS values FROM (SELECT values FROM baseline_sample_chunks WHERE baseline_id = {id:UUID} AND feature = {f:String} ORDER BY chunk)',
    { id: baselineId, f: feature },
  ))[0].values;

for (const backend of backends()) {
  describe(`baseline samples (${backend.name})`, () => {
    const dir = tempDir();
    let sql: Sql;
    const reference = events(REFERENCE.from, 2000, 0, 'ref-');
    beforeAll(async () => {
      sql = await backend.open(dir.path);
      await insertEvents(sql, [...reference, ...events(CURRENT.from, 1500, 0.3, 'cur-')]);
    });
    afterAll(async () => {
      await sql?.close();
      dir.remove();
    });

    it('freezes each feature as sorted chunks holding every sampled value once', async () => {
      const id = '00000000-0000-4000-8000-0000000000a1';
      await freezeSample(sql, id, { model: 'samples', ...REFERENCE }, ['x', 'k'], 1_000_000, 300);
      const x = await sortedSample(sql, id, 'x');
      const expected = reference.map((e) => e.num.x).sort((a, b) => a - b);
      expect(x).toEqual(expected);
      const rows = await sql.query<{ chunk: number; n: number }>(
        "SELECT chunk, length(values) AS n FROM baseline_sample_chunks WHERE baseline_id = {id:UUID} AND feature = 'x' ORDER BY chunk",
        { id },
      );
      // 2,000 values in chunks of 300: six full ones and the rest.
      expect(rows.map((r) => Number(r.n))).toEqual([300, 300, 300, 300, 300, 300, 200]);
      expect(rows.map((r) => Number(r.chunk))).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(Object.fromEntries(await sampleCounts(sql, { baselineId: id }))).toEqual({ x: 2000, k: 2000 });
    });

    it('gives KS and Wasserstein the same values from chunks as from the reference range itself', async () => {
      const baseline = await freezeBaseline(sql, { model: 'samples', ...REFERENCE }, { bins: 10, maxCategories: 10, sampleMax: 1_000_000 });
      const frozen = await ksTests(sql, { baselineId: baseline.baseline_id }, CURRENT, ['x', 'k', 'z'], 'asymp');
      const live = await ksTests(sql, { window: { model: 'samples', ...REFERENCE }, features: ['x', 'k', 'z'], keepPerMillion: 1_000_000 }, CURRENT, ['x', 'k', 'z'], 'asymp');
      expect(frozen).toHaveLength(3);
      expect(frozen).toEqual(live);
      expect(frozen.find((r) => r.feature === 'x')!.d_statistic).toBeGreaterThan(0.05);
    });

    it('thins a frozen sample to every k-th order statistic, which moves D by at most one over the kept count', async () => {
      const baseline = await freezeBaseline(sql, { model: 'samples', ...REFERENCE }, { bins: 10, maxCategories: 10, sampleMax: 1_000_000 });
      const full = await ksTests(sql, { baselineId: baseline.baseline_id }, CURRENT, ['x', 'k'], 'asymp');
      const thin = await ksTests(sql, { baselineId: baseline.baseline_id }, CURRENT, ['x', 'k'], 'asymp', 1_000_000, new Map([['x', 4]]));
      const [fx, tx] = [full, thin].map((rows) => rows.find((r) => r.feature === 'x')!);
      expect(fx.n_reference).toBe(2000);
      expect(tx.n_reference).toBe(500);
      expect(tx.n_current).toBe(fx.n_current);
      expect(Math.abs(tx.d_statistic - fx.d_statistic)).toBeLessThanOrEqual(1 / 500 + 1e-12);
      expect(Math.abs(tx.wasserstein - fx.wasserstein)).toBeLessThan(0.05 * fx.wasserstein);
      // A feature without a k keeps every value.
      expect(thin.find((r) => r.feature === 'k')).toEqual(full.find((r) => r.feature === 'k'));
    });

    it('still reads, counts and deletes the one-row-per-value sample of a baseline frozen before the chunks', async () => {
      const baseline = await freezeBaseline(sql, { model: 'samples', ...REFERENCE }, { bins: 10, maxCategories: 10, sampleMax: 1_000_000 });
      const id = baseline.baseline_id;
      const before = await ksTests(sql, { baselineId: id }, CURRENT, ['x', 'k'], 'asymp');
      // The layout of schema version 9 and earlier.
      await sql.command(
        'INSERT INTO baseline_samples (baseline_id, feature, value) SELECT baseline_id, feature, arrayJoin(values) FROM baseline_sample_chunks WHERE baseline_id = {id:UUID}',
        { id },
      );
      await sql.command('DELETE FROM baseline_sample_chunks WHERE baseline_id = {id:UUID} SETTINGS lightweight_deletes_sync = 2', { id });
      expect(await sortedSample(sql, id, 'x')).toEqual([]);
      expect(await ksTests(sql, { baselineId: id }, CURRENT, ['x', 'k'], 'asymp')).toEqual(before);
      expect((await sampleCounts(sql, { baselineId: id })).get('x')).toBe(2000);
      await deleteBaseline(sql, 'samples', id);
      const [left] = await sql.query<{ n: number }>('SELECT count() AS n FROM baseline_samples WHERE baseline_id = {id:UUID}', { id });
      expect(Number(left.n)).toBe(0);
    });
  });
}
