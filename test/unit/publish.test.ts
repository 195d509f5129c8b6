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
