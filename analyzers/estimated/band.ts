/**
 * The confidence band of an estimate at a window's size, NannyML's way
 * (nannyml/sampling_error): at freeze time, the spread of each metric's
 * observation-level terms on the labelled reference; at window time,
 * standard error = spread / sqrt(n x the share of events the metric is
 * made of). That is the sampling error of the metric's realized value on n
 * events, so the realized value should fall within BAND_SIGMAS of an
 * unbiased estimate. Computed once per baseline; a window only divides.
 */
export const BAND_SIGMAS = 3;

/** One class's (or the whole window's) part of a metric's standard error. */
export interface ErrorPart {
  /** Population variance of the metric's observation-level terms on the reference. */
  variance: number;
  /** Share of the events that carry those terms (1 for accuracy, predicted positives for precision, ...). */
  fraction: number;
}

/** standard error at n = factor x sqrt(sum of variance / (n x fraction)) / number of parts. */
export interface ErrorComponent {
  parts: ErrorPart[];
  factor: number;
}

export type ClassificationMetric = 'accuracy' | 'precision' | 'recall' | 'f1' | 'roc_auc';
export const ESTIMATED_METRICS: readonly ClassificationMetric[] = ['accuracy', 'precision', 'recall', 'f1', 'roc_auc'];

export type ErrorComponents = Record<ClassificationMetric, ErrorComponent>;

export function samplingError(c: ErrorComponent, n: number): number | null {
  if (n <= 0 || c.parts.length === 0) return null;
  let sum = 0;
  for (const p of c.parts) {
    if (!(p.fraction > 0) || !Number.isFinite(p.variance)) return null;
    sum += p.variance / (n * p.fraction);
  }
  return (c.factor * Math.sqrt(sum)) / c.parts.length;
}

function variance(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let s = 0;
  for (const v of values) s += (v - mean) * (v - mean);
  return s / values.length;
}

/** One class against the rest: labels, predictions (0/1) and the uncalibrated scores of the reference. */
export interface OneVsRest {
  yTrue: readonly number[];
  yPred: readonly number[];
  score: readonly number[];
}

function counts(c: OneVsRest) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < c.yTrue.length; i++) {
    if (c.yPred[i] === 1 && c.yTrue[i] === 1) tp++;
    else if (c.yPred[i] === 1) fp++;
    else if (c.yTrue[i] === 1) fn++;
  }
  return { tp, fp, fn, n: c.yTrue.length };
}

/** TP terms are 1, the others 0: the precision, recall or F1 of one observation. */
const terms = (ones: number, zeros: number) => [...new Array<number>(ones).fill(1), ...new Array<number>(zeros).fill(0)];

const precisionPart = (c: OneVsRest): ErrorPart => {
  const k = counts(c);
  return { variance: variance(terms(k.tp, k.fp)), fraction: (k.tp + k.fp) / k.n };
};

const recallPart = (c: OneVsRest): ErrorPart => {
  const k = counts(c);
  return { variance: variance(terms(k.tp, k.fn)), fraction: (k.tp + k.fn) / k.n };
};

/** Binary F1 scales the terms so that their mean is F1 (NannyML's correcting factor); its multi-class parts do not. */
const f1Part = (c: OneVsRest, corrected: boolean): ErrorPart => {
  const k = counts(c);
  const relevant = k.tp + k.fp + k.fn;
  const factor = corrected && relevant > 0 ? relevant / (0.5 * (k.fn + k.fp) + k.tp) : 1;
  return { variance: variance(terms(k.tp, k.fp + k.fn)) * factor * factor, fraction: relevant / k.n };
};

/**
 * ROC AUC as a Mann-Whitney statistic: for each positive, the share of the
 * negatives ranked below it; the spread of those shares over the
 * positives. The rarer class is the positive one. As in NannyML, a positive
 * ranked first is left out of the terms (and still counted below the others).
 */
const aucPart = (c: OneVsRest): ErrorPart => {
  const flip = c.yTrue.reduce((a, b) => a + b, 0) / c.yTrue.length > 0.5;
  const y = c.yTrue.map((v) => (flip ? 1 - v : v));
  const s = c.score.map((v) => (flip ? 1 - v : v));
  const order = s.map((_, i) => i).sort((a, b) => s[a] - s[b]);
  const nPos = y.reduce((a, b) => a + b, 0);
  const nNeg = y.length - nPos;
  const ser: number[] = [];
  order.forEach((idx, rank) => {
    if (y[idx] === 1 && rank > 0) ser.push((rank - ser.length) / nNeg);
  });
  return { variance: variance(ser), fraction: nPos / y.length };
};

/** Binary: one part per metric, of the positive class. */
export function binaryComponents(positive: OneVsRest): ErrorComponents {
  const correct = positive.yTrue.map((y, i) => Number(y === positive.yPred[i]));
  return {
    accuracy: { parts: [{ variance: variance(correct), fraction: 1 }], factor: 1 },
    precision: { parts: [precisionPart(positive)], factor: 1 },
    recall: { parts: [recallPart(positive)], factor: 1 },
    f1: { parts: [f1Part(positive, true)], factor: 1 },
    roc_auc: { parts: [aucPart(positive)], factor: 1 },
  };
}

/** Multi-class: macro averages have one part per class; ROC AUC's spread is widened by 1.2 as NannyML found it needs. */
export function multiclassComponents(perClass: readonly OneVsRest[], correct: readonly number[]): ErrorComponents {
  return {
    accuracy: { parts: [{ variance: variance(correct), fraction: 1 }], factor: 1 },
    precision: { parts: perClass.map(precisionPart), factor: 1 },
    recall: { parts: perClass.map(recallPart), factor: 1 },
    f1: { parts: perClass.map((c) => f1Part(c, false)), factor: 1 },
    roc_auc: { parts: perClass.map(aucPart), factor: 1.2 },
  };
}
