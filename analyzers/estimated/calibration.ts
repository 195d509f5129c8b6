/**
 * Isotonic calibration of logged scores against the baseline's labels, as
 * scikit-learn's IsotonicRegression(out_of_bounds="clip", increasing=True)
 * fits it (NannyML's CBPE calibrator): tied scores pooled into their mean
 * label, pool-adjacent-violators, only the knots where the fitted step
 * changes kept, and linear interpolation between knots when applied.
 * No kept npm package does isotonic regression, and PAV is twenty lines.
 */
export interface IsotonicCalibrator {
  /** Strictly increasing knot scores. */
  x: number[];
  /** Non-decreasing calibrated probabilities at the knots. */
  y: number[];
}

export function fitIsotonic(scores: readonly number[], labels: readonly number[]): IsotonicCalibrator {
  if (scores.length !== labels.length) throw new Error('scores and labels differ in length');
  if (scores.length === 0) return { x: [], y: [] };
  const order = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  // Tied scores become one point with their mean label and their count as weight.
  const ux: number[] = [];
  const uy: number[] = [];
  const uw: number[] = [];
  for (const i of order) {
    const last = ux.length - 1;
    if (last >= 0 && scores[i] === ux[last]) {
      uy[last] += labels[i];
      uw[last] += 1;
    } else {
      ux.push(scores[i]);
      uy.push(labels[i]);
      uw.push(1);
    }
  }
  for (let i = 0; i < uy.length; i++) uy[i] /= uw[i];
  // Pool adjacent violators: blocks of (mean, weight, first index).
  const mean: number[] = [];
  const weight: number[] = [];
  const start: number[] = [];
  for (let i = 0; i < uy.length; i++) {
    mean.push(uy[i]);
    weight.push(uw[i]);
    start.push(i);
    while (mean.length > 1 && mean[mean.length - 2] > mean[mean.length - 1]) {
      const m2 = mean.pop()!;
      const w2 = weight.pop()!;
      start.pop();
      const last = mean.length - 1;
      mean[last] = (mean[last] * weight[last] + m2 * w2) / (weight[last] + w2);
      weight[last] += w2;
    }
  }
  const fitted = new Array<number>(uy.length);
  for (let b = 0; b < mean.length; b++) {
    const end = b + 1 < start.length ? start[b + 1] : uy.length;
    for (let i = start[b]; i < end; i++) fitted[i] = mean[b];
  }
  // Interior points of a flat run change nothing under interpolation (scikit-learn drops them too).
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < fitted.length; i++) {
    const interior = i > 0 && i < fitted.length - 1 && fitted[i - 1] === fitted[i] && fitted[i] === fitted[i + 1];
    if (!interior) {
      x.push(ux[i]);
      y.push(fitted[i]);
    }
  }
  return { x, y };
}

/** The calibrated probability of one score: linear between knots, clipped to the end knots outside them. */
export function calibrate(c: IsotonicCalibrator, s: number): number {
  const { x, y } = c;
  if (x.length === 0) return s;
  if (s <= x[0]) return y[0];
  if (s >= x[x.length - 1]) return y[y.length - 1];
  let lo = 0;
  let hi = x.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x[mid] <= s) lo = mid;
    else hi = mid;
  }
  return y[lo] + ((s - x[lo]) * (y[hi] - y[lo])) / (x[hi] - x[lo]);
}

/**
 * The calibrator sampled at scores i / resolution, i = 0..resolution: what
 * the engine interpolates in (an array lookup per event, where the knots
 * would need a search). Between knots the calibrator is linear, so the
 * table is exact except within the one cell around each knot.
 */
export function calibrationGrid(c: IsotonicCalibrator, resolution: number): number[] {
  return Array.from({ length: resolution + 1 }, (_, i) => calibrate(c, i / resolution));
}
