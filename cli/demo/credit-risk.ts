/**
 * A credit-risk classifier's traffic, generated: twelve features (eight
 * numeric, four categorical) drawn independently, a logistic model's
 * probability of default as the prediction, and labels that arrive later for
 * some events. `shifted` moves exactly the features in SHIFTED_FEATURES.
 */
export const MODEL = 'credit-risk';
export const MODEL_VERSION = '2026.11.1';
export const SHIFTED_FEATURES = ['annual_income', 'credit_score', 'loan_purpose'] as const;
export const LABEL_SHARE = 0.4;

export { mulberry32 as rng } from '../../core/random.ts';

export class Draw {
  constructor(readonly random: () => number) {}
  normal(mean: number, sd: number): number {
    const u = 1 - this.random();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.random());
  }
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(this.normal(0, sigma));
  }
  poisson(mean: number): number {
    const limit = Math.exp(-mean);
    let k = 0;
    for (let p = this.random(); p > limit; p *= this.random()) k++;
    return k;
  }
  pick<T extends string | number>(weights: readonly (readonly [T, number])[]): T {
    let r = this.random();
    for (const [value, w] of weights) if ((r -= w) < 0) return value;
    return weights[weights.length - 1][0];
  }
}

const clip = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const round = (x: number, digits: number) => Number(x.toFixed(digits));

const EMPLOYMENT = [['salaried', 0.62], ['self_employed', 0.17], ['contractor', 0.14], ['unemployed', 0.07]] as const;
const HOME = [['rent', 0.41], ['mortgage', 0.44], ['own', 0.15]] as const;
const REGION = [['north', 0.26], ['south', 0.3], ['east', 0.22], ['west', 0.22]] as const;
const CHANNEL = [['web', 0.55], ['app', 0.35], ['branch', 0.1]] as const;
const TERM = [[12, 0.1], [24, 0.2], [36, 0.4], [48, 0.15], [60, 0.15]] as const;
const PURPOSE = [
  ['debt_consolidation', 0.38], ['credit_card', 0.2], ['home_improvement', 0.12], ['car', 0.12],
  ['medical', 0.06], ['education', 0.05], ['other', 0.07],
] as const;
const PURPOSE_SHIFTED = [
  ['debt_consolidation', 0.3], ['credit_card', 0.12], ['home_improvement', 0.08], ['car', 0.08],
  ['medical', 0.2], ['education', 0.15], ['other', 0.07],
] as const;

export interface DemoEvent {
  event_id: string;
  model: string;
  model_version: string;
  timestamp: number;
  features: Record<string, number | string | null>;
  prediction: number;
  scores: Record<string, number>;
  latency_ms: number;
  tags: Record<string, string>;
}

export function makeEvent(draw: Draw, id: string, timestamp: number, shifted: boolean): DemoEvent {
  const income = draw.logNormal(shifted ? 52_000 * 0.72 : 52_000, 0.45);
  const creditScore = clip(Math.round(draw.normal(shifted ? 645 : 690, 55)), 300, 850);
  const dti = clip(draw.normal(0.32, 0.11), 0, 1.2);
  const employment = draw.pick(EMPLOYMENT);
  const features: Record<string, number | string | null> = {
    age: clip(Math.round(draw.normal(41, 11)), 18, 85),
    annual_income: Math.round(income),
    loan_amount: Math.round(draw.logNormal(14_000, 0.6)),
    loan_term_months: draw.pick(TERM),
    credit_score: creditScore,
    debt_to_income: round(dti, 4),
    open_accounts: draw.poisson(6),
    // About 2% of applicants leave this blank.
    years_employed: draw.random() < 0.02 ? null : round(-6 * Math.log(1 - draw.random()), 1),
    employment_type: employment,
    home_ownership: draw.pick(HOME),
    loan_purpose: draw.pick(shifted ? PURPOSE_SHIFTED : PURPOSE),
    region: draw.pick(REGION),
  };
  const logit =
    -1.6 - 0.012 * (creditScore - 690) - 0.5 * Math.log(income / 52_000) + 2.2 * (dti - 0.32) +
    (employment === 'unemployed' ? 0.8 : 0);
  const p = round(1 / (1 + Math.exp(-logit)), 5);
  return {
    event_id: id,
    model: MODEL,
    model_version: MODEL_VERSION,
    timestamp,
    features,
    prediction: p,
    scores: { default: p, repaid: round(1 - p, 5) },
    latency_ms: round(draw.logNormal(12, 0.3), 2),
    tags: { region: features.region as string, channel: draw.pick(CHANNEL) },
  };
}

/** The ground truth for an event: default (1) with the model's probability. */
export function makeLabel(draw: Draw, event: DemoEvent) {
  return { event_id: event.event_id, model: event.model, label: draw.random() < event.prediction ? 1 : 0 };
}
