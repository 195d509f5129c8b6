import { describe, expect, it } from 'vitest';
import type { DriftReport } from '../../analyzers/drift.ts';
import type { ShadowReport } from '../../analyzers/shadow/report.ts';
import { alertLabels, renderAnnotations } from '../../alerts/notify.ts';
import { loadRules, matches, parseRules, RulesError, type Rule } from '../../alerts/rules.ts';
import { emptyResults, signalsFor } from '../../alerts/signals.ts';
import { INACTIVE, step, type SeriesState } from '../../alerts/state.ts';

const rule = (yaml: string): Rule => parseRules(`rules:\n  - ${yaml.trim().split('\n').join('\n    ')}`)[0];

describe('rules files', () => {
  it('ship a default set that parses', () => {
    expect(loadRules(undefined).map((r) => r.name)).toEqual(['FeatureDrift', 'PredictionDrift', 'DatasetDrift', 'MissingValues', 'TypeViolations', 'PredictionErrors', 'ShadowParity', 'KafkaLag', 'MultivariateDrift', 'ImpactfulDrift', 'EstimatedPerformanceDrop']);
  });

  it('fill in defaults: op >, one window each way, resolve at the threshold, every model and feature', () => {
    expect(rule('name: A\nmetric: drift.psi\nthreshold: 0.2')).toMatchObject({
      op: '>',
      for_windows: 1,
      resolve_windows: 1,
      resolve_threshold: 0.2,
      severity: 'warning',
      models: ['*'],
      features: ['*'],
    });
  });

  it('name every problem by its place in the file', () => {
    const attempt = (text: string) => {
      try {
        parseRules(text, 'x.yaml');
      } catch (err) {
        expect(err).toBeInstanceOf(RulesError);
        return (err as RulesError).problems;
      }
      throw new Error('parsed');
    };
    expect(
      attempt(`rules:
  - name: 1bad
    metric: accuracy
    threshold: "high"
    op: "=="
  - name: Ok
    metric: shadow.mismatch
    threshold: 0.1
    labels: {model: x}
  - name: Ok
    metric: quality.missing_share
    op: "<"
    threshold: 0.5
    resolve_threshold: 0.4
`),
    ).toEqual([
      'rules[0].name: a letter, then letters, digits or _',
      'rules[0].op: Invalid option: expected one of ">"|">="|"<"|"<="',
      'rules[0].threshold: Invalid input: expected number, received string',
      'rules[1].metric: unknown metric "shadow.mismatch"; shadow has: shadow.mismatch_share, shadow.class_agreement, shadow.prediction_psi, shadow.mean_abs_diff, shadow.max_abs_diff',
      'rules[1].labels.model: "model" is set by driftwatch',
      'rules[2].resolve_threshold: must be on the good side of threshold (>= 0.5) for the alert to resolve',
    ]);
    expect(attempt('rules:\n  - {name: A, metric: drift.psi, threshold: 1}\n  - {name: A, metric: drift.ks_statistic, threshold: 1}\n')).toEqual([
      'rules[1].name: "A" is used twice',
    ]);
    expect(attempt('rules:\n  - name: A\n   metric: x\n')[0]).toMatch(/at line 3, column \d+/);
  });

  it('match models and features by name, prefix* or *', () => {
    expect(matches(['*'], 'x')).toBe(true);
    expect(matches(['credit*'], 'credit-risk')).toBe(true);
    expect(matches(['credit*'], 'fraud')).toBe(false);
    expect(matches(['fraud', 'ads'], 'ads')).toBe(true);
  });
});

describe('the alert state machine', () => {
  const r = rule('name: A\nmetric: drift.psi\nthreshold: 0.2\nresolve_threshold: 0.1\nfor_windows: 3\nresolve_windows: 2');
  const run = (values: (number | null)[]) => {
    let s: SeriesState = INACTIVE;
    return values.map((v, i) => (s = step(s, v, r, (i + 1) * 1000)).status);
  };

  it('fires after for_windows consecutive breaches, not before', () => {
    expect(run([0.3, 0.3, 0.3, 0.3])).toEqual(['pending', 'pending', 'firing', 'firing']);
  });

  it('never fires on flapping input', () => {
    expect(run([0.3, 0.05, 0.3, 0.05, 0.3, 0.3, 0.05, 0.3])).not.toContain('firing');
  });

  it('holds while the value is past the resolve threshold, and resolves after resolve_windows good windows', () => {
    expect(run([0.3, 0.3, 0.3, 0.15, 0.15, 0.05, 0.3, 0.05, 0.05, 0.05])).toEqual([
      'pending', 'pending', 'firing', 'firing', 'firing', 'firing', 'firing', 'firing', 'resolved', 'inactive',
    ]);
  });

  it('keeps when it began, fired and resolved; a missing value counts as good', () => {
    let s: SeriesState = INACTIVE;
    for (const [i, v] of [0.3, 0.3, 0.3, null, null].entries()) s = step(s, v, r, (i + 1) * 1000);
    expect(s).toMatchObject({ status: 'resolved', active_since: 1000, fired_at: 3000, resolved_at: 5000, value: null, window_end: 5000 });
  });

  it('works downwards for "<" rules', () => {
    const low = rule('name: L\nmetric: performance.accuracy\nop: "<"\nthreshold: 0.8\nresolve_threshold: 0.85');
    let s: SeriesState = INACTIVE;
    const seen = [0.7, 0.82, 0.9].map((v, i) => (s = step(s, v, low, i)).status);
    expect(seen).toEqual(['firing', 'firing', 'resolved']);
  });
});

describe('signals', () => {
  const drift = {
    model: 'credit',
    features: [
      { feature: 'income', metrics: { psi: 0.4 }, status: 'ok' },
      { feature: 'age', metrics: { psi: 0.01 }, status: 'ok' },
    ],
    drifted_share: 0.5,
    prediction: { feature: '@prediction', metrics: { psi: 0.3 } },
    data_quality: { features: [{ feature: 'income', missing_share: 0.25, type_violation_share: 0 }] },
  } as unknown as DriftReport;
  const shadow = { model: 'credit', shadow: 'v7', comparison: { mismatch_share: 0.02 }, prediction_drift: null } as unknown as ShadowReport;
  const results = { ...emptyResults(), drift: [drift], shadow: [shadow], performance: new Map([['credit', { label_coverage: 0.4, metrics: { accuracy: 0.9 } } as never]]), kafkaLag: 12 };

  it('pick each family out of a window', () => {
    expect(signalsFor(rule('name: A\nmetric: drift.psi\nthreshold: 0\nfeatures: [inc*]'), results)).toEqual([{ model: 'credit', subject: 'income', value: 0.4 }]);
    expect(signalsFor(rule('name: A\nmetric: prediction_drift.psi\nthreshold: 0'), results)).toEqual([{ model: 'credit', subject: '', value: 0.3 }]);
    expect(signalsFor(rule('name: A\nmetric: dataset.drifted_share\nthreshold: 0'), results)).toEqual([{ model: 'credit', subject: '', value: 0.5 }]);
    expect(signalsFor(rule('name: A\nmetric: quality.missing_share\nthreshold: 0'), results)).toEqual([{ model: 'credit', subject: 'income', value: 0.25 }]);
    expect(signalsFor(rule('name: A\nmetric: performance.accuracy\nthreshold: 0'), results)).toEqual([{ model: 'credit', subject: '', value: 0.9 }]);
    expect(signalsFor(rule('name: A\nmetric: performance.label_coverage\nthreshold: 0'), results)).toEqual([{ model: 'credit', subject: '', value: 0.4 }]);
    expect(signalsFor(rule('name: A\nmetric: shadow.mismatch_share\nthreshold: 0'), results)).toEqual([{ model: 'credit', subject: 'v7', value: 0.02 }]);
    expect(signalsFor(rule('name: A\nmetric: shadow.prediction_psi\nthreshold: 0'), results)).toEqual([]);
    expect(signalsFor(rule('name: A\nmetric: ingest.kafka_lag\nthreshold: 0'), results)).toEqual([{ model: '', subject: '', value: 12 }]);
    expect(signalsFor(rule('name: A\nmetric: drift.psi\nthreshold: 0\nmodels: [fraud]'), results)).toEqual([]);
  });

  it('pick multivariate drift and data-quality verdicts out of a window', () => {
    const check = (drifted: boolean) => ({ share: 0.4, baseline: 0.01, p_value: drifted ? 0 : 0.5, drifted });
    const report = {
      model: 'credit',
      features: [],
      multivariate: { reconstruction_error: 1.3, change: 0.6, drifted: true, status: 'ok' },
      data_quality: {
        features: [
          { feature: 'income', missing_share: 0.4, type_violation_share: 0, out_of_range_share: 0.002, checks: { missing: check(true), type_violation: check(false), out_of_range: check(false) } },
          { feature: 'region', missing_share: 0, type_violation_share: 0, checks: { missing: check(false), type_violation: check(false) } },
          { feature: 'old', missing_share: 0, type_violation_share: 0 },
        ],
      },
    } as unknown as DriftReport;
    const window = { ...emptyResults(), drift: [report] };
    const values = (metric: string) => signalsFor(rule(`name: A\nmetric: ${metric}\nthreshold: 0`), window).map((s) => [s.subject, s.value]);
    expect(values('multivariate.reconstruction_error')).toEqual([['', 1.3]]);
    expect(values('multivariate.change')).toEqual([['', 0.6]]);
    expect(values('multivariate.drifted')).toEqual([['', 1]]);
    expect(values('quality.missing_share_drifted')).toEqual([['income', 1], ['region', 0]]);
    expect(values('quality.out_of_range_share_drifted')).toEqual([['income', 0]]);
    expect(values('quality.out_of_range_share')).toEqual([['income', 0.002]]);
    expect(values('quality.drifted')).toEqual([['income', 1], ['region', 0]]);
    // No verdict without enough events: nothing to compare, rather than a 0.
    const thin = { ...window, drift: [{ ...report, multivariate: { ...report.multivariate!, drifted: false, status: 'insufficient_data' } }] } as typeof window;
    expect(signalsFor(rule('name: A\nmetric: multivariate.drifted\nthreshold: 0'), thin)).toEqual([]);
    expect(() => rule('name: A\nmetric: multivariate.psi\nthreshold: 0')).toThrow(/multivariate has: multivariate.reconstruction_error/);
  });

  it('label and annotate notices like Prometheus would', () => {
    const r = rule('name: FeatureDrift\nmetric: drift.psi\nthreshold: 0.2\nlabels: {team: risk}\nannotations: {summary: "{{feature}} of {{model}}: {{value}} > {{threshold}}"}');
    const notice = { rule: r, model: 'credit', subject: 'income', state: { ...INACTIVE, value: 0.41234 } };
    expect(alertLabels(notice)).toEqual({ alertname: 'FeatureDrift', severity: 'warning', team: 'risk', model: 'credit', feature: 'income' });
    expect(renderAnnotations(notice)).toEqual({ summary: 'income of credit: 0.4123 > 0.2' });
  });
});

describe('the drift verdict as an alert metric', () => {
  it('is 1 for a drifted feature, 0 for a judged one, and absent without a verdict', () => {
    const report = {
      model: 'm',
      features: [
        { feature: 'a', metrics: {}, drifted: true, status: 'ok' },
        { feature: 'b', metrics: {}, drifted: false, status: 'ok' },
        { feature: 'c', metrics: {}, drifted: false, status: 'insufficient_data' },
      ],
      prediction: { feature: '@prediction', metrics: {}, drifted: true, status: 'ok' },
    } as unknown as DriftReport;
    const results = { ...emptyResults(), drift: [report] };
    expect(signalsFor(rule('name: A\nmetric: drift.drifted\nop: ">="\nthreshold: 1'), results)).toEqual([
      { model: 'm', subject: 'a', value: 1 },
      { model: 'm', subject: 'b', value: 0 },
    ]);
    expect(signalsFor(rule('name: A\nmetric: prediction_drift.drifted\nop: ">="\nthreshold: 1'), results)).toEqual([{ model: 'm', subject: '', value: 1 }]);
  });
});

describe('estimated performance as an alert metric', () => {
  const estimated = (model: string, f1: { value: number; upper: number; reference: number | null }, segment: unknown = null) =>
    ({
      model,
      segment,
      features: [],
      estimated_performance: { metrics: { f1: { ...f1, lower: 0, sampling_error: 0.01, realized: null }, accuracy: { value: 0.8, upper: 0.85, lower: 0.75, reference: 0.9, realized: null } } },
    }) as unknown as DriftReport;

  it('is the estimate, or how far its band lies below the baseline, for model-wide reports only', () => {
    const results = {
      ...emptyResults(),
      drift: [estimated('credit', { value: 0.7, upper: 0.75, reference: 0.8 }), estimated('credit', { value: 0.1, upper: 0.2, reference: 0.9 }, { tag: 'r', value: 'eu' }), estimated('fraud', { value: 0.6, upper: 0.9, reference: 0.8 })],
    };
    expect(signalsFor(rule('name: A\nmetric: performance.estimated_f1\nop: "<"\nthreshold: 0.5'), results)).toEqual([
      { model: 'credit', subject: '', value: 0.7 },
      { model: 'fraud', subject: '', value: 0.6 },
    ]);
    const drop = signalsFor(rule('name: A\nmetric: performance.estimated_f1_drop\nthreshold: 0.03'), results);
    expect(drop.map((d) => d.model)).toEqual(['credit', 'fraud']);
    expect(drop[0].value).toBeCloseTo(0.05, 12);
    // The band reaches the baseline: no drop beyond noise.
    expect(drop[1].value).toBe(0);
    expect(signalsFor(rule('name: A\nmetric: performance.estimated_recall\nthreshold: 0'), results)).toEqual([]);
    // Labels are another family: estimates never stand in for realized metrics.
    expect(signalsFor(rule('name: A\nmetric: performance.f1\nthreshold: 0'), results)).toEqual([]);
  });

  it('names the estimated metrics when a rule asks for one that does not exist', () => {
    expect(() => rule('name: A\nmetric: performance.estimated_log_loss\nthreshold: 0')).toThrow(/performance\.estimated_f1_drop/);
  });

  it('fires the default rule after two windows with the band 0.03 below the baseline', () => {
    const drop = loadRules(undefined).find((r) => r.name === 'EstimatedPerformanceDrop')!;
    let s: SeriesState = INACTIVE;
    const seen = [0.05, 0.05, 0.02, 0.005, 0.0].map((v, i) => (s = step(s, v, drop, i)).status);
    expect(seen).toEqual(['pending', 'firing', 'firing', 'firing', 'resolved']);
  });
});
