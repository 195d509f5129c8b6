import { describe, expect, it } from 'vitest';
import { fitReconstruction, reconstructionError } from '../../analyzers/multivariate/pca.ts';
import { binomialUpperTail, outOfRangeBaseline, shareCheck } from '../../analyzers/quality.ts';
import { seeded } from '../helpers.ts';

describe('PCA reconstruction model', () => {
  it('keeps the axes past the variance share, and the error is the distance to the dropped axes', () => {
    const random = seeded(1);
    // a, b correlated 0.8; c independent: eigenvalues ~1.8, 1, 0.2 of the correlation matrix.
    const rows = Array.from({ length: 20_000 }, () => {
      const a = random.normal();
      return [10 + 2 * a, 0.8 * a + 0.6 * random.normal(), random.normal() * 5];
    });
    const model = fitReconstruction(['a', 'b', 'c'], rows, 0.65)!;
    expect(model.components).toHaveLength(2);
    expect(model.explained_variance).toBeGreaterThan(0.9);
    expect(model.mean[0]).toBeCloseTo(10, 1);
    expect(model.std[0]).toBeCloseTo(2, 1);
    // The dropped axis is a-b, (1, -1, 0)/sqrt(2): a unit row along it is reconstructed as 0.
    const axis = [1 / Math.SQRT2, -1 / Math.SQRT2, 0];
    expect(reconstructionError(axis, model.components)).toBeCloseTo(1, 1);
    expect(reconstructionError([0, 0, 1], model.components)).toBeCloseTo(0, 1);
    for (const c of model.components) expect(Math.hypot(...c)).toBeCloseTo(1, 9);
  });

  it('never keeps every axis, leaves out constant features, and needs two features', () => {
    const random = seeded(2);
    const rows = Array.from({ length: 1_000 }, () => [random.normal(), random.normal(), 3, null]);
    const model = fitReconstruction(['a', 'b', 'k', 'gone'], rows, 0.99)!;
    expect(model.features).toEqual(['a', 'b']);
    expect(model.components).toHaveLength(1);
    expect(model.reference.mean).toBeGreaterThan(0);
    expect(fitReconstruction(['a'], rows.map((r) => [r[0]]), 0.65)).toBeNull();
  });
});

describe('quality share checks', () => {
  it('binomial upper tail', () => {
    // P(X >= 3 | n = 10, p = 0.1) = 1 - (0.9^10 + 10·0.1·0.9^9 + 45·0.01·0.9^8)
    expect(binomialUpperTail(3, 10, 0.1)).toBeCloseTo(1 - (0.9 ** 10 + 0.9 ** 9 + 0.45 * 0.9 ** 8), 12);
    expect(binomialUpperTail(0, 10, 0.1)).toBe(1);
    expect(binomialUpperTail(1, 10, 0)).toBe(0);
  });

  it('needs significance, the minimum effect and enough events', () => {
    const options = { alpha: 0.001, minEffect: 0.01, minWindowEvents: 100 };
    expect(shareCheck(400, 1_000, 0.01, options).drifted).toBe(true);
    expect(shareCheck(12, 1_000, 0.01, options).drifted).toBe(false);
    expect(shareCheck(40, 50, 0.01, options).drifted).toBe(false);
    expect(shareCheck(900, 50_000, 0.01, options)).toMatchObject({ drifted: false, share: 0.018 });
    expect(outOfRangeBaseline(999)).toBe(0.002);
  });
});

describe('PCA reconstruction model on extreme values', () => {
  it('leaves out features whose spread overflows, rather than store NaN', () => {
    const random = seeded(3);
    const rows = Array.from({ length: 500 }, () => [random.normal() * 1e200, random.normal() * 1e200]);
    expect(fitReconstruction(['a', 'b'], rows, 0.65)).toBeNull();
  });
});
