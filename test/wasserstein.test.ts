import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeBaseline } from '../analyzers/baseline.ts';
import { computeDrift, type FeatureDrift } from '../analyzers/drift.ts';
import type { Sql } from '../store/sql.ts';
import { backends, tempDir } from './helpers.ts';

/**
 * Wasserstein-1 (and KS) at a million values a side against scipy, on
 * discrete and continuous features. The values are generated in the engine
 * by the formula scripts/fixtures/wasserstein_reference.py uses (see there),
 * so only scipy's answers are committed.
 */
interface Side {
  kind: 'poisson' | 'continuous';
  key: number;
  thresholds?: number[];
  scale?: number;
  shift?: number;
  n: number;
  sum: number;
  min: number;
  max: number;
}
interface Case {
  feature: string;
  reference: Side;
  current: Side;
  wasserstein: number;
  ks_statistic: number;
  ks_p_value: number;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/wasserstein-1m.json', import.meta.url), 'utf8')) as { n: number; cases: Case[] };

/** splitmix64 of an UInt64 expression (ClickHouse's UInt64 arithmetic wraps, like numpy's). */
function splitmix64(x: string): string {
  const z0 = `(${x} + 0x9E3779B97F4A7C15)`;
  const z1 = `(bitXor(${z0}, bitShiftRight(${z0}, 30)) * 0xBF58476D1CE4E5B9)`;
  const z2 = `(bitXor(${z1}, bitShiftRight(${z1}, 27)) * 0x94D049BB133111EB)`;
  return `bitXor(${z2}, bitShiftRight(${z2}, 31))`;
}

/** The generator's uniform in [0, 1): the top 53 bits of splitmix64(key * 2^32 + counter). */
const uniform = (key: string, counter: string) =>
  `(toFloat64(bitShiftRight(${splitmix64(`(bitShiftLeft(toUInt64(${key}), 32) + toUInt64(${counter}))`)}, 11)) / 9007199254740992.0)`;

/** SQL for feature i's value at row `number`, with its parameters bound under names ending in i. */
function valueSql(side: Side, i: number, params: Record<string, unknown>): string {
  params[`key${i}`] = side.key;
  if (side.kind === 'poisson') {
    params[`t${i}`] = side.thresholds;
    return `toFloat64(arrayCount(t -> t <= ${uniform(`{key${i}:UInt64}`, 'number')}, {t${i}:Array(Float64)}))`;
  }
  params[`scale${i}`] = side.scale;
  params[`shift${i}`] = side.shift;
  const u = (j: number) => uniform(`{key${i}:UInt64}`, `number * 4 + ${j}`);
  return `((((${u(0)} + ${u(1)}) + ${u(2)}) + ${u(3)}) - 2.0) * {scale${i}:Float64} + {shift${i}:Float64}`;
}

const NOW = Date.now();
const REF_START = NOW - 3 * 3_600_000;
const CUR_START = NOW - 3_600_000;
const MODEL = 'w1';

for (const backend of backends()) {
  describe(`Wasserstein-1 at ${fixture.n.toLocaleString('en-US')} values a side against scipy: ${backend.name}`, () => {
    const dir = tempDir();
    let sql: Sql;
    let byFeature: Map<string, FeatureDrift>;
    beforeAll(async () => {
      sql = await backend.open(dir.path);
      for (const [which, start, prefix] of [['reference', REF_START, 'r'], ['current', CUR_START, 'c']] as const) {
        const params: Record<string, unknown> = { n: fixture.n, start, prefix, model: MODEL, names: fixture.cases.map((c) => c.feature) };
        const values = fixture.cases.map((c, i) => valueSql(c[which], i, params));
        await sql.command(
          `INSERT INTO events (model, event_id, model_version, ts, num, cat, missing, prediction_num, prediction_cat, scores, latency_ms, tags)
           SELECT {model:String}, concat({prefix:String}, toString(number)), 'v1',
                  fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number * 3000000, {n:UInt64})), 'UTC'),
                  mapFromArrays({names:Array(String)}, [${values.join(', ')}]), map(), [], NULL, NULL, map(), 1.0, map()
           FROM numbers({n:UInt64})`,
          params,
        );
      }
      const baseline = await freezeBaseline(sql, { model: MODEL, from: REF_START, to: CUR_START }, { bins: 10, maxCategories: 10, sampleMax: fixture.n });
      const report = await computeDrift(sql, baseline, { model: MODEL, from: CUR_START, to: NOW }, { psiThreshold: 0.2, minWindowEvents: 1, maxCategories: 10 });
      byFeature = new Map(report.features.map((f) => [f.feature, f]));
    }, 300_000);
    afterAll(async () => {
      await sql?.close();
      dir.remove();
    });

    it('generates the same values as the fixture script', async () => {
      const rows = await sql.query<{ side: string; feature: string; n: number; sum: number; min: number; max: number }>(
        `SELECT if(startsWith(event_id, 'r'), 'reference', 'current') AS side, f AS feature,
                count() AS n, sum(v) AS sum, min(v) AS min, max(v) AS max
         FROM events FINAL ARRAY JOIN mapKeys(num) AS f, mapValues(num) AS v
         WHERE model = {model:String} GROUP BY side, feature`,
        { model: MODEL },
      );
      expect(rows).toHaveLength(2 * fixture.cases.length);
      for (const r of rows) {
        const want = fixture.cases.find((c) => c.feature === r.feature)![r.side as 'reference' | 'current'];
        const at = `${r.feature} ${r.side}`;
        expect(Number(r.n), at).toBe(want.n);
        expect([r.min, r.max], at).toEqual([want.min, want.max]);
        // The engine sums in its own order; fsum is exact.
        expect(Math.abs(r.sum - want.sum), at).toBeLessThan(1e-9 * Math.max(1, Math.abs(want.sum)));
      }
    });

    it('matches scipy.stats.wasserstein_distance to 1e-9 relative, discrete and continuous', () => {
      for (const c of fixture.cases) {
        const f = byFeature.get(c.feature)!;
        expect(f.n_reference, c.feature).toBe(c.reference.n);
        expect(f.n_current, c.feature).toBe(c.current.n);
        expect(Math.abs(f.metrics.wasserstein - c.wasserstein) / c.wasserstein, `${c.feature}: ${f.metrics.wasserstein} vs scipy ${c.wasserstein}`).toBeLessThan(1e-9);
      }
    });

    it('matches scipy.stats.ks_2samp (asymp) in the same pass', () => {
      for (const c of fixture.cases) {
        const f = byFeature.get(c.feature)!;
        expect(Math.abs(f.metrics.ks_statistic - c.ks_statistic) / c.ks_statistic, c.feature).toBeLessThan(1e-9);
        expect(Math.abs(f.metrics.ks_p_value - c.ks_p_value), c.feature).toBeLessThan(1e-9);
      }
    });
  });
}
