/**
 * Model performance from labels that arrived, computed from aggregates the
 * store returns (store/performance.ts): a confusion table, calibration bins,
 * and sums for regression. Pure functions.
 */
export type Task = 'binary' | 'classification' | 'regression';

export interface ConfusionCell {
  predicted: string;
  actual: string;
  n: number;
}

export interface CalibrationBin {
  n: number;
  mean_score: number;
  mean_label: number;
}

export interface RegressionSums {
  n: number;
  mae: number;
  rmse: number;
  mape: number | null;
  label_variance: number;
}

/** Accuracy, and precision, recall and F1 of `positive` (binary) or macro-averaged over classes. */
export function classificationMetrics(cells: readonly ConfusionCell[], positive?: string): Record<string, number> {
  let total = 0;
  let correct = 0;
  const classes = new Set<string>();
  for (const c of cells) {
    total += c.n;
    if (c.predicted === c.actual) correct += c.n;
    classes.add(c.predicted);
    classes.add(c.actual);
  }
  if (total === 0) return {};
  const perClass = (cls: string) => {
    let tp = 0;
    let predicted = 0;
    let actual = 0;
    for (const c of cells) {
      if (c.predicted === cls) predicted += c.n;
      if (c.actual === cls) actual += c.n;
      if (c.predicted === cls && c.actual === cls) tp += c.n;
    }
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = actual > 0 ? tp / actual : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    return { precision, recall, f1 };
  };
  let scores: { precision: number; recall: number; f1: number };
  if (positive !== undefined) {
    scores = perClass(positive);
  } else {
    const all = [...classes].map(perClass);
    scores = {
      precision: all.reduce((a, s) => a + s.precision, 0) / all.length,
      recall: all.reduce((a, s) => a + s.recall, 0) / all.length,
      f1: all.reduce((a, s) => a + s.f1, 0) / all.length,
    };
  }
  return { accuracy: correct / total, ...scores };
}

/** Expected calibration error: the label-weighted gap between mean score and label rate per score bin. */
export function expectedCalibrationError(bins: readonly CalibrationBin[]): number {
  const total = bins.reduce((a, b) => a + b.n, 0);
  if (total === 0) return 0;
  return bins.reduce((a, b) => a + (b.n / total) * Math.abs(b.mean_score - b.mean_label), 0);
}

export function regressionMetrics(sums: RegressionSums): Record<string, number> {
  if (sums.n === 0) return {};
  const out: Record<string, number> = { mae: sums.mae, rmse: sums.rmse };
  if (sums.mape !== null) out.mape = sums.mape;
  if (sums.label_variance > 0) out.r2 = 1 - (sums.rmse * sums.rmse) / sums.label_variance;
  return out;
}

export interface PerformanceReport {
  task: Task | null;
  n_events: number;
  n_labelled: number;
  /** Share of the window's events with a label so far. */
  label_coverage: number;
  label_delay_p50_s: number | null;
  label_delay_p90_s: number | null;
  metrics: Record<string, number>;
}
