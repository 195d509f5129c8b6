import { describe, expect, it } from 'vitest';
import type { DriftReport, FeatureDrift } from '../../analyzers/drift.ts';
import { publishReport } from '../../analyzers/publish.ts';
import { createMetrics } from '../../core/metrics.ts';

const feature = (name: string, metrics: Record<string, number>, drifted = false) =>
  ({ feature: name, kind: 'numeric', metrics, drifted, score: metrics.psi ?? null, status: 'ok' }) as unknown as FeatureDrift;
const report = (features: FeatureDrift[]) =>
  ({ model: 'm', from: 0, to: 60_000, n_events: 10, features, drifted_features: [], prediction: null }) as unknown as DriftReport;

describe('publishReport', () => {
  it('removes the series it published before and not now, and only those', async () => {
    const metrics = createMetrics();
    let published = publishReport(metrics, report([feature('a', { psi: 0.3, ks_statistic: 0.2 }, true), feature('b', { psi: 0.1 })]), 10, new Map());
    published = publishReport(metrics, report([feature('a', { psi: 0.25 }, true)]), 10, published);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/driftwatch_feature_drift_score\{model="m",feature="a",method="psi"\} 0\.25/);
    expect(text).not.toMatch(/feature="a",method="ks_statistic"/);
    expect(text).not.toMatch(/feature="b"/);
    expect([...published.keys()]).toEqual(['a']);
  });
});

describe('publishReport over the feature cap', () => {
  it('aggregates the features beyond the cap into one __overflow__ series of worst values, data quality included', async () => {
    const metrics = createMetrics();
    const r = report([
      feature('a', { psi: 0.9, ks_p_value: 0.01 }, true),
      feature('b', { psi: 0.5, ks_p_value: 0.2 }, true),
      feature('c', { psi: 0.05, ks_p_value: 0.001 }),
    ]);
    (r as { data_quality: unknown }).data_quality = {
      n_events: 10,
      features: ['a', 'b', 'c'].map((f, i) => ({ feature: f, kind: 'numeric', present_share: 1, missing_share: i / 10, type_violation_share: 0 })),
      absent_features: [],
      new_features: [],
    };
    publishReport(metrics, r, 1, new Map());
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/driftwatch_feature_drift_score\{model="m",feature="a",method="psi"\} 0\.9\n/);
    expect(text).not.toMatch(/feature="b"/);
    expect(text).toMatch(/driftwatch_feature_drift_score\{model="m",feature="__overflow__",method="psi"\} 0\.5\n/);
    expect(text).toMatch(/driftwatch_feature_drift_score\{model="m",feature="__overflow__",method="ks_p_value"\} 0\.001\n/);
    expect(text).toMatch(/driftwatch_feature_drifted\{model="m",feature="__overflow__"\} 1\n/);
    expect(text).toMatch(/driftwatch_feature_missing_ratio\{model="m",feature="__overflow__"\} 0\.2\n/);
    expect(text).toMatch(/driftwatch_feature_missing_ratio\{model="m",feature="a"\} 0\n/);
    expect(text).toMatch(/driftwatch_features_over_metrics_cap\{model="m"\} 2\n/);
  });
});

describe('publishReport: multivariate drift and quality verdicts', () => {
  it('publishes the error, its band and verdicts, and removes them when a report has none', async () => {
    const metrics = createMetrics();
    const check = (drifted: boolean) => ({ share: 0.4, baseline: 0.01, p_value: 0, drifted });
    const r = report([feature('a', { psi: 0.1 }), feature('b', { psi: 0.05 })]);
    Object.assign(r, {
      multivariate: { reconstruction_error: 1.5, lower_threshold: 0.9, upper_threshold: 1.1, change: 0.5, drifted: true, status: 'ok' },
      data_quality: {
        n_events: 10,
        features: [
          { feature: 'a', kind: 'numeric', present_share: 0.6, missing_share: 0.4, type_violation_share: 0, out_of_range_share: 0.01, checks: { missing: check(true), type_violation: check(false), out_of_range: check(false) } },
          { feature: 'b', kind: 'numeric', present_share: 1, missing_share: 0, type_violation_share: 0, out_of_range_share: 0.3, checks: { missing: check(false), type_violation: check(false), out_of_range: check(true) } },
        ],
        absent_features: [],
        new_features: [],
      },
    });
    const published = publishReport(metrics, r, 1, new Map());
    let text = await metrics.registry.metrics();
    expect(text).toMatch(/driftwatch_multivariate_reconstruction_error\{model="m"\} 1\.5\n/);
    expect(text).toMatch(/driftwatch_multivariate_reconstruction_error_threshold\{model="m",bound="upper"\} 1\.1\n/);
    expect(text).toMatch(/driftwatch_multivariate_drifted\{model="m"\} 1\n/);
    expect(text).toMatch(/driftwatch_feature_quality_drifted\{model="m",feature="a",check="missing"\} 1\n/);
    expect(text).toMatch(/driftwatch_feature_quality_drifted\{model="m",feature="a",check="out_of_range"\} 0\n/);
    // b is beyond the cap of 1: its verdicts go into the overflow series.
    expect(text).toMatch(/driftwatch_feature_quality_drifted\{model="m",feature="__overflow__",check="out_of_range"\} 1\n/);
    expect(text).toMatch(/driftwatch_feature_out_of_range_ratio\{model="m",feature="__overflow__"\} 0\.3\n/);

    publishReport(metrics, report([feature('c', { psi: 0.1 })]), 10, published);
    text = await metrics.registry.metrics();
    expect(text).not.toMatch(/driftwatch_multivariate_reconstruction_error\{/);
    expect(text).not.toMatch(/driftwatch_multivariate_drifted\{/);
    expect(text).not.toMatch(/driftwatch_feature_quality_drifted\{/);
    expect(text).not.toMatch(/driftwatch_feature_out_of_range_ratio\{/);
  });
});
