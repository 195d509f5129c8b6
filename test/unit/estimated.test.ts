import { describe, expect, it } from 'vitest';
import { calibrate, calibrationLookup, fitIsotonic } from '../../analyzers/estimated/calibration.ts';
import { estimatedAuc } from '../../analyzers/estimated/estimation.ts';
import { samplingError } from '../../analyzers/estimated/band.ts';
import { estimatedCard } from '../../ui/src/estimated.ts';

describe('isotonic calibration', () => {
  // scikit-learn 1.9.1 IsotonicRegression(out_of_bounds="clip") on the same points (NannyML's calibrator).
  const scores = [0.1, 0.2, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.7, 0.9];
  const labels = [0, 1, 0, 0, 1, 0, 1, 1, 0, 1];

  it('fits the knots scikit-learn fits: ties pooled, violators pooled, flat interiors dropped', () => {
    const c = fitIsotonic(scores, labels);
    expect(c.x).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.9]);
    const sk = [0.0, 1 / 3, 1 / 3, 0.5, 0.5, 2 / 3, 2 / 3, 1.0];
    c.y.forEach((v, i) => expect(v).toBeCloseTo(sk[i], 12));
  });

  it('interpolates between knots and clips outside them, as scikit-learn predicts', () => {
    const c = fitIsotonic(scores, labels);
    const sk = [0.0, 0.1666666666666666, 0.41666666666666663, 0.5, 0.6666666666666666, 0.8333333333333334, 1.0];
    [0.0, 0.15, 0.35, 0.45, 0.65, 0.8, 1.0].forEach((s, i) => expect(calibrate(c, s)).toBeCloseTo(sk[i], 12));
  });

  it("gives the engine's lookup arrays the same values, knots crowded into one cell included", () => {
    // Points crowded within 1e-5 next to sparse ones: the lookup must pick a cell size whose pad holds every cell.
    const s = [...Array.from({ length: 40 }, (_, i) => 0.5 + i * 2.5e-7), 0.2, 0.8];
    const y = [...Array.from({ length: 40 }, (_, i) => i % 2), 0, 1];
    const c = fitIsotonic(s, y);
    const l = calibrationLookup(c);
    expect(l.pad).toBeLessThanOrEqual(16);
    const at = (v: number) => {
      const cell = Math.min(Math.floor(v * l.cells), l.cells - 1);
      let j = l.start[cell];
      for (let t = 1; t <= l.pad; t++) j += Number(v >= l.x[j + t - 1]);
      const [x0, x1, y0, y1] = [l.x[j - 1], l.x[j], l.y[j - 1], l.y[j]];
      return y0 + ((v - x0) * (y1 - y0)) / (x1 - x0);
    };
    for (const v of [0, 0.1, 0.2, 0.35, 0.5, 0.5000031, 0.50000512, 0.6, 0.8, 0.95, 1]) expect(at(v), String(v)).toBeCloseTo(calibrate(c, v), 12);
  });
});

describe('estimates', () => {
  it('ROC AUC from expected counts: a perfectly separating calibrated score gives 1, a constant one 0.5', () => {
    expect(estimatedAuc([{ k: 0, b: 9000, n: 10, p: 10 }, { k: 0, b: 1000, n: 10, p: 0 }], 1)).toBeCloseTo(1, 12);
    expect(estimatedAuc([{ k: 0, b: 5000, n: 10, p: 5 }], 1)).toBeCloseTo(0.5, 12);
    expect(estimatedAuc([{ k: 0, b: 5000, n: 10, p: 10 }], 1)).toBeNull();
  });

  it('sampling error shrinks with the square root of the window, per class part', () => {
    const c = { parts: [{ variance: 0.25, fraction: 1 }], factor: 1 };
    expect(samplingError(c, 100)).toBeCloseTo(0.05, 12);
    expect(samplingError(c, 10_000)).toBeCloseTo(0.005, 12);
    expect(samplingError({ parts: [{ variance: 0.25, fraction: 0.25 }, { variance: 0.25, fraction: 0.25 }], factor: 1.2 }, 100)).toBeCloseTo((1.2 * Math.sqrt(0.02)) / 2, 12);
    expect(samplingError({ parts: [{ variance: 0.25, fraction: 0 }], factor: 1 }, 100)).toBeNull();
  });
});

describe('the window view card', () => {
  const metric = (value: number, upper: number, reference: number | null, realized: number | null = null) => ({ value, lower: value - 0.02, upper, sampling_error: 0.01, realized, reference });

  it('shows each estimate with its band and turns bad when a band lies below the baseline', () => {
    const ok = estimatedCard({ method: 'cbpe', task: 'binary', n_events: 10, n_labelled: 0, band_sigmas: 3, metrics: { f1: metric(0.7, 0.75, 0.72, 0.69) } })!;
    expect(ok[1]).toContain('f1 0.700');
    expect(ok[1]).toContain('realized 0.690');
    expect(ok[2]).toBeUndefined();
    const bad = estimatedCard({ method: 'cbpe', task: 'binary', n_events: 10, n_labelled: 0, band_sigmas: 3, metrics: { f1: metric(0.6, 0.65, 0.72) } })!;
    expect(bad[2]).toBe('bad');
    expect(estimatedCard(null)).toBeNull();
  });
});
