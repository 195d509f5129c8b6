import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { edgesFrom } from '../../analyzers/baseline.ts';
import { rankFeatures, type FeatureDrift } from '../../analyzers/drift.ts';
import { chiSquare } from '../../analyzers/methods/chi-square.ts';
import { hellinger } from '../../analyzers/methods/hellinger.ts';
import { jensenShannon } from '../../analyzers/methods/jensen-shannon.ts';
import { lInfinity } from '../../analyzers/methods/l-infinity.ts';
import { ksMethodFor } from '../../analyzers/methods/ks.ts';
import { ks2sampAsympPValue, kolmogorovSf } from '../../analyzers/methods/kolmogorov.ts';
import { psi } from '../../analyzers/methods/psi.ts';
import { METHODS } from '../../analyzers/methods/registry.ts';

// Produced by scripts/fixtures/stats_reference.py (scipy / numpy).
const fixtures = JSON.parse(readFileSync(new URL('../fixtures/stats-reference.json', import.meta.url), 'utf8'));
const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe('psi', () => {
  for (const c of fixtures.psi) {
    it(`matches the reference formula: ${c.name}`, () => {
      const value = psi(c.reference, c.current);
      if (c.psi === 0) expect(value).toBe(0);
      else expect(relative(value, c.psi)).toBeLessThan(1e-9);
    });
  }
  it('grows with the shift and is symmetric in its arguments', () => {
    const ref = [100, 100, 100, 100];
    expect(psi(ref, [90, 100, 100, 110])).toBeLessThan(psi(ref, [50, 100, 100, 150]));
    expect(psi([1, 2, 3], [3, 2, 1])).toBeCloseTo(psi([3, 2, 1], [1, 2, 3]), 12);
  });
  it('refuses bins of different lengths', () => {
    expect(() => psi([1, 2], [1, 2, 3])).toThrow(/differ in length/);
  });
});

describe('chiSquare', () => {
  for (const c of fixtures.chi2) {
    it(`matches scipy.stats.chi2_contingency: ${c.name}`, () => {
      const result = chiSquare(c.reference, c.current);
      expect(result.dof).toBe(c.dof);
      expect(relative(result.statistic, c.statistic)).toBeLessThan(1e-9);
      expect(Math.abs(result.p_value - c.p_value)).toBeLessThan(1e-6);
    });
  }
  it('gives p = 1 when one side is empty', () => {
    expect(chiSquare([1, 2], [0, 0]).p_value).toBe(1);
  });
});

describe('distances between binned shares', () => {
  for (const c of fixtures.distances) {
    it(`match scipy / numpy: ${c.name}`, () => {
      for (const [fn, expected] of [
        [jensenShannon, c.jensen_shannon],
        [hellinger, c.hellinger],
        [lInfinity, c.l_infinity],
      ] as const) {
        const value = fn(c.reference, c.current);
        if (expected === 0) expect(value).toBeCloseTo(0, 7);
        else expect(relative(value, expected)).toBeLessThan(1e-9);
      }
    });
  }
});

describe('kolmogorovSf (scipy.stats.kstwo.sf)', () => {
  it('matches scipy to 1e-9 everywhere on the grid, every branch included (Durbin matrix, Pomeranz, small n)', () => {
    expect(fixtures.kstwo.length).toBeGreaterThan(130);
    for (const c of fixtures.kstwo) {
      const value = kolmogorovSf(c.n, c.x);
      expect(value, `n=${c.n} x=${c.x}`).not.toBeNull();
      expect(Math.abs(value! - c.sf), `n=${c.n} x=${c.x}`).toBeLessThan(1e-9);
    }
  });
  it('gives scipy ks_2samp asymp p-values for the large fixture samples', () => {
    for (const c of fixtures.ks.filter((k: { reference: number[]; current: number[] }) => Math.max(k.reference.length, k.current.length) > 10_000)) {
      const p = ks2sampAsympPValue(c.asymp.statistic, c.reference.length, c.current.length);
      expect(p).not.toBeNull();
      expect(Math.abs(p! - c.asymp.p_value), c.name).toBeLessThan(1e-6);
    }
  });
});

describe('KS method choice', () => {
  it('follows scipy method="auto": exact up to 10000 per sample', () => {
    for (const c of fixtures.ks) {
      const method = ksMethodFor(c.reference.length, c.current.length);
      expect(c.auto.p_value).toBe(c[method].p_value);
    }
  });
});

describe('bin edges', () => {
  it('keeps edges strictly increasing and a constant feature usable', () => {
    expect(edgesFrom(0, [1, 1, 2, 2], 3)).toEqual([0, 1, 2, 3]);
    expect(edgesFrom(5, [5, 5], 5)).toEqual([5, 5]);
  });
});

describe('method registry', () => {
  it('describes every method once', () => {
    const names = METHODS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const m of METHODS) expect(m.appliesTo.length).toBeGreaterThan(0);
  });
});

describe('rankFeatures', () => {
  const f = (feature: string, score: number | null, drifted: boolean) => ({ feature, score, drifted }) as FeatureDrift;
  it('puts drifted features first, then by score', () => {
    const ranked = rankFeatures([f('a', 0.1, false), f('b', 0.5, true), f('c', null, false), f('d', 0.3, true), f('e', 0.15, false)]);
    expect(ranked.map((x) => x.feature)).toEqual(['b', 'd', 'e', 'a', 'c']);
  });
});

describe('calibrated PSI threshold', () => {
  it('is the chi-square quantile of the occupied bins times 1/n_ref + 1/n_cur, floored at the minimum effect', async () => {
    const { calibratedPsiThreshold, psiNullQuantile, occupiedBins } = await import('../../analyzers/methods/psi-threshold.ts');
    // scipy.stats.chi2.ppf(0.999, 9) = 27.877164871256568
    expect(psiNullQuantile(10, 50_000, 1_000, 0.001)).toBeCloseTo(27.877164871256568 * (1 / 50_000 + 1 / 1_000), 12);
    expect(occupiedBins([0, 5, 5, 0], [0, 4, 6, 1])).toBe(3);
    const ref = [0, ...Array(10).fill(100_000), 0];
    expect(calibratedPsiThreshold(ref, [0, ...Array(10).fill(100), 0], { alpha: 0.001, minEffect: 0.005 })).toBeCloseTo(27.877164871256568 * (1 / 1e6 + 1 / 1e3), 12);
    expect(calibratedPsiThreshold(ref, [0, ...Array(10).fill(200_000), 0], { alpha: 0.001, minEffect: 0.005 })).toBe(0.005);
  });

  it('leaves bins empty on both sides out of PSI', () => {
    expect(psi([0, 100, 100, 0], [0, 10, 10, 0])).toBe(0);
    expect(psi([0, 100, 120, 0], [0, 10, 10, 0])).toBeCloseTo(psi([100, 120], [10, 10]), 15);
  });
});
