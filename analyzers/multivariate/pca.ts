import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/**
 * What a baseline freezes for multivariate drift: a PCA of the standardized
 * numeric features of a sample of its reference events (as NannyML's data
 * reconstruction drift does), and the spread of the reconstruction error
 * over those same events, which the window's verdict is calibrated on.
 */
export interface ReconstructionModel {
  /** The numeric features it covers, in the order of every vector below. */
  features: string[];
  /** StandardScaler of the sample: a missing value is imputed with the mean (standardized: 0). */
  mean: number[];
  std: number[];
  /** The kept principal axes, each a unit vector over `features`, largest variance first. */
  components: number[][];
  /** Share of the standardized variance the kept components explain (at least variance_share). */
  explained_variance: number;
  /** The share asked for (MULTIVARIATE_VARIANCE; NannyML's default 0.65). */
  variance_share: number;
  /** Per-event reconstruction error over the reference sample: its mean, its standard deviation and how many events. */
  reference: { n: number; mean: number; std: number };
}

/** Sample means and population stds per column, over the values present (null: missing). */
function scaler(rows: readonly (readonly (number | null)[])[], d: number): { mean: number[]; std: number[] } {
  const sum = new Array<number>(d).fill(0);
  const sq = new Array<number>(d).fill(0);
  const n = new Array<number>(d).fill(0);
  for (const row of rows) {
    for (let j = 0; j < d; j++) {
      const v = row[j];
      if (v === null || !Number.isFinite(v)) continue;
      sum[j] += v;
      n[j]++;
    }
  }
  const mean = sum.map((s, j) => (n[j] > 0 ? s / n[j] : 0));
  for (const row of rows) {
    for (let j = 0; j < d; j++) {
      const v = row[j];
      if (v === null || !Number.isFinite(v)) continue;
      sq[j] += (v - mean[j]) ** 2;
    }
  }
  return { mean, std: sq.map((s, j) => (n[j] > 0 ? Math.sqrt(s / n[j]) : 0)) };
}

/** A row standardized with the model's scaler; missing values become 0 (the mean). */
export function standardize(row: readonly (number | null)[], mean: readonly number[], std: readonly number[]): number[] {
  return mean.map((m, j) => {
    const v = row[j];
    return v === null || !Number.isFinite(v) ? 0 : (v - m) / std[j];
  });
}

/** Euclidean distance between a standardized row and its projection on orthonormal components. */
export function reconstructionError(x: readonly number[], components: readonly (readonly number[])[]): number {
  let norm = 0;
  for (const v of x) norm += v * v;
  for (const c of components) {
    let dot = 0;
    for (let j = 0; j < x.length; j++) dot += x[j] * c[j];
    norm -= dot * dot;
  }
  return Math.sqrt(Math.max(0, norm));
}

/**
 * Fits the model on sampled rows (values in `features` order, null where
 * missing). Features without spread in the sample carry no joint
 * information and are left out. Needs two features and more rows than
 * features; returns null otherwise.
 *
 * The decomposition is ml-matrix's symmetric eigendecomposition of the
 * covariance of the standardized rows (the same axes and variances as
 * sklearn's SVD-based PCA on centred data). Components are kept, largest
 * first, until their share of the variance exceeds `varianceShare`, as
 * sklearn does for a fractional n_components, but never all of them: with
 * every axis kept every reconstruction would be exact and the error always 0.
 */
export function fitReconstruction(
  features: readonly string[],
  rows: readonly (readonly (number | null)[])[],
  varianceShare: number,
): ReconstructionModel | null {
  const all = scaler(rows, features.length);
  const keep = features.map((_, j) => j).filter((j) => all.std[j] > 0 && Number.isFinite(all.std[j]));
  const d = keep.length;
  if (d < 2 || rows.length <= d) return null;
  const mean = keep.map((j) => all.mean[j]);
  const std = keep.map((j) => all.std[j]);
  const x = rows.map((row) => standardize(keep.map((j) => row[j]), mean, std));

  // Covariance of the standardized rows; they are centred (imputed values sit at the mean, 0).
  const cov = new Matrix(d, d);
  for (const r of x) {
    for (let a = 0; a < d; a++) {
      const ra = r[a];
      if (ra === 0) continue;
      for (let b = a; b < d; b++) cov.set(a, b, cov.get(a, b) + ra * r[b]);
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov.get(a, b) / rows.length;
      cov.set(a, b, v);
      cov.set(b, a, v);
    }
  }
  const evd = new EigenvalueDecomposition(cov, { assumeSymmetric: true });
  const vectors = evd.eigenvectorMatrix;
  const order = evd.realEigenvalues.map((value, i) => ({ value: Math.max(0, value), i })).sort((p, q) => q.value - p.value);
  const totalVariance = order.reduce((s, e) => s + e.value, 0);
  if (!(totalVariance > 0)) return null;
  const components: number[][] = [];
  let explained = 0;
  for (const e of order) {
    if (components.length >= d - 1 || explained / totalVariance > varianceShare) break;
    components.push(vectors.getColumn(e.i));
    explained += e.value;
  }

  const errors = x.map((r) => reconstructionError(r, components));
  const errorMean = errors.reduce((s, e) => s + e, 0) / errors.length;
  const errorStd = Math.sqrt(errors.reduce((s, e) => s + (e - errorMean) ** 2, 0) / Math.max(1, errors.length - 1));
  return {
    features: keep.map((j) => features[j]),
    mean,
    std,
    components,
    explained_variance: explained / totalVariance,
    variance_share: varianceShare,
    reference: { n: errors.length, mean: errorMean, std: errorStd },
  };
}
