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
