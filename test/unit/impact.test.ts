import { describe, expect, it } from 'vitest';
import { emptyResults, signalsFor } from '../../alerts/signals.ts';
import { parseRules } from '../../alerts/rules.ts';
import type { DriftReport, FeatureDrift } from '../../analyzers/drift.ts';
import { mutualInformation, spearmanToMutualInformation } from '../../analyzers/impact/association.ts';
import { referenceModel, type FrozenImpact } from '../../analyzers/impact/frozen.ts';
import { permutationImportance } from '../../analyzers/impact/permutation.ts';
import { withImpact } from '../../analyzers/impact/report.ts';
import { publishReport } from '../../analyzers/publish.ts';
import type { FeatureRow } from '../../analyzers/shadow/encode.ts';
import type { RowResult } from '../../analyzers/shadow/model.ts';
import { createMetrics } from '../../core/metrics.ts';
import type { ShadowRecord } from '../../store/shadow-models.ts';
import { summaryHtml, tableRows } from '../../ui/src/window-view.ts';
import type { DriftReport as UiReport } from '../../ui/src/types.ts';
import { seeded } from '../helpers.ts';

/** Pure parts of drift impact (analyzers/impact/): the statistics, the report fields, gauges, alert signals and the UI table. */

describe('mutual information', () => {
  it('is about 0 for independent variables and ln(k) for a variable determined by the other', () => {
    const { random } = seeded(7);
    const independent = new Map<string, number>();
    const determined = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const x = String(Math.floor(random() * 4));
      const y = String(Math.floor(random() * 4));
      independent.set(`${x}|${y}`, (independent.get(`${x}|${y}`) ?? 0) + 1);
      determined.set(`${x}|${x}`, (determined.get(`${x}|${x}`) ?? 0) + 1);
    }
    const cells = (m: Map<string, number>) => [...m].map(([k, n]) => ({ x: k.split('|')[0], y: k.split('|')[1], n }));
    expect(mutualInformation(cells(independent))).toBeLessThan(0.001);
    expect(mutualInformation(cells(determined))).toBeCloseTo(Math.log(4), 2);
    expect(mutualInformation([])).toBe(0);
  });

  it('takes off the bias of a small sample over many categories, so an unrelated feature does not look associated', () => {
    const { random } = seeded(11);
    const counts = new Map<string, number>();
    // 20 x 4 cells over 500 events: the plug-in estimate alone is about 19 * 3 / 1000 = 0.057 nats of nothing.
    for (let i = 0; i < 500; i++) {
      const key = `${Math.floor(random() * 20)}|${Math.floor(random() * 4)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const cells = [...counts].map(([k, n]) => ({ x: k.split('|')[0], y: k.split('|')[1], n }));
    expect(mutualInformation(cells)).toBeLessThan(0.02);
  });

  it('puts Spearman on the same scale: 0 at no correlation, growing with |rho| either sign', () => {
    expect(spearmanToMutualInformation(0)).toBe(0);
    expect(spearmanToMutualInformation(0.5)).toBeCloseTo(spearmanToMutualInformation(-0.5), 12);
    expect(spearmanToMutualInformation(0.9)).toBeGreaterThan(spearmanToMutualInformation(0.5));
    // A bivariate normal with r = 2 sin(pi/12) has this mutual information.
    const r = 2 * Math.sin(Math.PI / 12);
    expect(spearmanToMutualInformation(0.5)).toBeCloseTo(-0.5 * Math.log(1 - r * r), 12);
    expect(Number.isFinite(spearmanToMutualInformation(1))).toBe(true);
  });
});

describe('permutation importance', () => {
  const { normal } = seeded(3);
  const sample: FeatureRow[] = Array.from({ length: 500 }, () => ({ num: { a: normal(), b: normal() }, cat: { c: normal() > 0 ? 'x' : 'y' } }));
  // A model of a and c only: b is read and ignored.
  const predict = async (rows: readonly FeatureRow[]): Promise<RowResult[]> =>
    rows.map((r) => ({ ok: true, prediction: { score: 2 * r.num.a + (r.cat.c === 'x' ? 1 : 0), cls: r.num.a > 0 ? '1' : '0' } }));

  it('moves the score for the features the model uses and not for the one it ignores, the same every time', async () => {
    const first = await permutationImportance(sample, ['a', 'b', 'c'], 'score', predict);
    expect(first.raw.b).toBe(0);
    expect(first.raw.a).toBeGreaterThan(first.raw.c);
    expect(first.raw.c).toBeGreaterThan(0.3);
    expect(first.n).toBe(500);
    expect(await permutationImportance(sample, ['a', 'b', 'c'], 'score', predict)).toEqual(first);
  });

  it('for a class output, counts the events whose class changes', async () => {
    const r = await permutationImportance(sample, ['a', 'b', 'c'], 'class', predict);
    // Shuffling a flips about half the classes; b and c never do.
    expect(r.raw.a).toBeGreaterThan(0.35);
    expect(r.raw.a).toBeLessThan(0.65);
    expect(r.raw.b).toBe(0);
    expect(r.raw.c).toBe(0);
  });

  it('leaves out events the model cannot score', async () => {
    const skipping = async (rows: readonly FeatureRow[]): Promise<RowResult[]> =>
      rows.map((r) => (r.num.a > 1 ? { ok: false, reason: 'missing_feature' } : { ok: true, prediction: { score: r.num.a, cls: null } }));
    const r = await permutationImportance(sample, ['a'], 'score', skipping);
    expect(r.n).toBe(sample.filter((s) => s.num.a <= 1).length);
    expect(Number.isFinite(r.raw.a)).toBe(true);
  });
});

describe('the reference model', () => {
  it('is the newest registration with role reference; a challenger never is', () => {
    const rec = (name: string, role: 'reference' | 'challenger', at: number) => ({ name, role, registered_at: at }) as ShadowRecord;
    expect(referenceModel([rec('old', 'reference', 1), rec('new', 'reference', 2), rec('cand', 'challenger', 3)])?.name).toBe('new');
    expect(referenceModel([rec('cand', 'challenger', 3)])).toBeNull();
  });
});

const feature = (name: string, score: number, drifted: boolean) =>
  ({ feature: name, kind: 'numeric', metrics: { psi: score }, method: 'psi', n_reference: 10, n_current: 10, score, threshold: 0.1, drifted, status: 'ok' }) as FeatureDrift;
const report = (features: FeatureDrift[], prediction: FeatureDrift | null = null) =>
  ({
    model: 'm',
    from: 0,
    to: 60_000,
    n_events: 10,
    segment: null,
    features,
    drifted_features: features.filter((f) => f.drifted).map((f) => f.feature),
    drifted_share: 0.5,
    dataset_drifted: false,
    prediction,
    data_quality: null,
    performance: null,
  }) as DriftReport;
const frozen = (impacts: Record<string, number>): FrozenImpact => ({ method: 'permutation', source: 'onnx:x:1', n_sample: 10, computed_at: 0, impacts, raw: impacts });

describe('the report', () => {
  const r = withImpact(
    report([feature('loud', 0.9, true), feature('quiet', 0.3, true), feature('still', 0.01, false)], { ...feature('@prediction', 0.4, true) }),
    frozen({ loud: 0.05, quiet: 0.7, still: 0.25 }),
  );

  it('gives each feature its impact, keeps the order, and ranks the drifted ones by impact', () => {
    expect(r.features.map((f) => [f.feature, f.impact])).toEqual([['loud', 0.05], ['quiet', 0.7], ['still', 0.25]]);
    expect(r.impact_method).toBe('permutation');
    expect(r.drift_impact!.ranking.map((x) => x.feature)).toEqual(['quiet', 'loud']);
    expect(r.drift_impact!.share).toBeCloseTo(0.75, 12);
    expect(r.drift_impact!.prediction_drifted).toBe(true);
  });

  it('says so when impact could not be measured', () => {
    const none = withImpact(report([feature('a', 0.9, true)]), { ...frozen({}), method: null, source: 'association' });
    expect(none.features[0].impact).toBeNull();
    expect(none.impact_method).toBeNull();
    expect(none.drift_impact).toBeNull();
  });

  it('publishes driftwatch_feature_drift_impact per kept feature (the rest summed as __overflow__) and the drifted share', async () => {
    const metrics = createMetrics();
    let published = publishReport(metrics, r, 2, new Map());
    let text = await metrics.registry.metrics();
    expect(text).toMatch(/driftwatch_feature_drift_impact\{model="m",feature="loud"\} 0\.05\n/);
    expect(text).toMatch(/driftwatch_feature_drift_impact\{model="m",feature="quiet"\} 0\.7\n/);
    expect(text).toMatch(/driftwatch_feature_drift_impact\{model="m",feature="__overflow__"\} 0\.25\n/);
    expect(text).not.toMatch(/feature="still"/);
    expect(text).toMatch(/driftwatch_drifted_impact_ratio\{model="m"\} 0\.75\n/);
    // A window without impact takes the series away rather than leaving them stale.
    published = publishReport(metrics, report([feature('loud', 0.9, true)]), 2, published);
    text = await metrics.registry.metrics();
    expect(text).not.toMatch(/driftwatch_feature_drift_impact\{/);
    expect(text).not.toMatch(/driftwatch_drifted_impact_ratio\{/);
  });

  it('is what impact.drifted_share rules see, model-wide reports only', () => {
    const [rule] = parseRules('rules:\n  - name: I\n    metric: impact.drifted_share\n    threshold: 0.5\n', 'test');
    const results = emptyResults();
    results.drift.push(r, { ...r, segment: { tag: 'region', value: 'eu' } }, report([feature('a', 0.9, true)]));
    expect(signalsFor(rule, results)).toEqual([{ model: 'm', subject: '', value: r.drift_impact!.share }]);
  });

  it('shows an impact column the UI table sorts by, and a summary card', () => {
    const ui = { ...r, from: '1970-01-01T00:00:00Z', to: '1970-01-01T00:01:00Z' } as unknown as UiReport;
    expect(tableRows(ui.features, { sort: 'impact:desc' }).map((x) => x.f.feature)).toEqual(['quiet', 'still', 'loud']);
    expect(summaryHtml(ui)).toContain('75.0% of the impact on drifted features');
  });
});
