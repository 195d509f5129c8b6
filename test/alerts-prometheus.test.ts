import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { alertExpression, prometheusRules } from '../alerts/prometheus.ts';
import { loadRules, parseRules } from '../alerts/rules.ts';
import { tempDir } from './helpers.ts';
import { ensurePrometheusTools } from './prometheus-helpers.ts';

/**
 * The Prometheus rule file `driftwatch rules` writes, checked and unit-tested
 * by the real promtool (Debian's prometheus package).
 */
const dir = tempDir('driftwatch-promtool-');
beforeAll(() => ensurePrometheusTools(), 300_000);
afterAll(() => dir.remove());

const promtool = (...args: string[]) => spawnSync('promtool', args, { cwd: dir.path, encoding: 'utf8' });

const RULES = parseRules(`
rules:
  - name: FeatureDrift
    metric: drift.psi
    threshold: 0.2
    resolve_threshold: 0.1
    for_windows: 3
    resolve_windows: 2
    models: [credit*]
    labels: {team: risk}
    annotations: {summary: "{{feature}} of {{model}} drifted (PSI {{value}})"}
  - name: LowAccuracy
    metric: performance.accuracy
    op: "<"
    threshold: 0.8
    severity: critical
  - name: Lag
    metric: ingest.kafka_lag
    threshold: 1000
  - name: QualityVerdict
    metric: quality.missing_share_drifted
    op: ">="
    threshold: 1
    features: [inc*]
  - name: AnyQualityVerdict
    metric: quality.drifted
    op: ">="
    threshold: 1
  - name: JointChange
    metric: multivariate.change
    threshold: 0.2
    resolve_threshold: 0.1
`);

describe('driftwatch rules -> Prometheus', () => {
  it('writes rules promtool accepts, for the shipped defaults and for a custom file', () => {
    writeFileSync(join(dir.path, 'defaults.yml'), prometheusRules(loadRules(undefined), 300_000));
    writeFileSync(join(dir.path, 'custom.yml'), prometheusRules(RULES, 60_000));
    const check = promtool('check', 'rules', 'defaults.yml', 'custom.yml');
    expect(check.stderr + check.stdout).toMatch(/defaults\.yml\s+SUCCESS: 11 rules found[\s\S]*custom\.yml\s+SUCCESS: 6 rules found/);
    expect(check.status).toBe(0);
    expect(alertExpression(RULES[1])).toBe('driftwatch_model_performance{metric="accuracy"} < 0.8');
    expect(alertExpression(RULES[2])).toBe('sum(driftwatch_kafka_consumer_lag_messages) > 1000');
    expect(alertExpression(loadRules(undefined)[0])).toBe('driftwatch_feature_drifted{feature!="@prediction"} >= 1');
    // Issue 19: quality verdicts per check (or any check), and the multivariate change with its hysteresis.
    expect(alertExpression(RULES[3])).toBe('driftwatch_feature_quality_drifted{check="missing", feature=~"inc.*"} >= 1');
    expect(alertExpression(RULES[4])).toBe('max by (model, feature) (driftwatch_feature_quality_drifted) >= 1');
    expect(alertExpression(RULES[5])).toMatch(/^driftwatch_multivariate_reconstruction_error_change_ratio > 0\.2\nor\n.* and on\(model\) ALERTS/);
    expect(alertExpression(loadRules(undefined).find((r) => r.name === 'MultivariateDrift')!)).toBe('driftwatch_multivariate_drifted >= 1');
    expect(alertExpression(loadRules(undefined).find((r) => r.name === 'EstimatedPerformanceDrop')!)).toMatch(/^driftwatch_model_performance_estimated\{metric="f1", stat="drop"\} > 0.03\n/);
  });

  it('passes promtool test rules: flapping never fires, sustained drift fires after its for, blips while resolving do not resolve', () => {
    writeFileSync(join(dir.path, 'rules.yml'), prometheusRules(RULES, 60_000));
    const series = (feature: string, values: string) => ({
      series: `driftwatch_feature_drift_score{model="credit",feature="${feature}",method="psi"}`,
      values,
    });
    const firing = (feature: string, value: string) => ({
      exp_labels: { alertname: 'FeatureDrift', severity: 'warning', team: 'risk', model: 'credit', feature, method: 'psi' },
      exp_annotations: { summary: `${feature} of credit drifted (PSI ${value})` },
    });
    const at = (minute: number, exp: object[]) => ({ eval_time: `${minute}m`, alertname: 'FeatureDrift', exp_alerts: exp });
    const tests = {
      rule_files: ['rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          // One window bad, one good, again and again: never three bad windows in a row.
          interval: '1m',
          input_series: [series('flappy', '0.3 0.05 0.3 0.05 0.3 0.05 0.3 0.05 0.3 0.05 0.3')],
          alert_rule_test: [0, 2, 4, 6, 8, 10].map((m) => at(m, [])),
        },
        {
          // Bad from minute 1: pending at 1 and 2, firing at 3 (three windows); good from minute 6,
          // still firing at 6 (keep_firing_for one window), resolved at 7.
          interval: '1m',
          input_series: [series('income', '0.05 0.3 0.3 0.3 0.3 0.3 0.05 0.05 0.05 0.05')],
          alert_rule_test: [at(1, []), at(2, []), at(3, [firing('income', '0.3')]), at(5, [firing('income', '0.3')]), at(7, []), at(9, [])],
        },
        {
          // Firing from minute 2; at 4 the value falls to 0.15 (under the threshold, over the resolve
          // threshold): still firing (hysteresis); at 5 one window at 0.05 and back up at 6: still firing
          // (keep_firing_for); from 7 good for good: resolved at 8.
          interval: '1m',
          input_series: [series('age', '0.3 0.3 0.3 0.3 0.15 0.05 0.3 0.05 0.05 0.05 0.05')],
          alert_rule_test: [
            at(2, [firing('age', '0.3')]),
            at(4, [firing('age', '0.15')]),
            at(5, [firing('age', '0.15')]),
            at(6, [firing('age', '0.3')]),
            at(8, []),
            at(10, []),
          ],
        },
        {
          // Other models are not this rule's business.
          interval: '1m',
          input_series: [{ series: 'driftwatch_feature_drift_score{model="fraud",feature="x",method="psi"}', values: '0.9x10' }],
          alert_rule_test: [at(5, [])],
        },
      ],
    };
    writeFileSync(join(dir.path, 'tests.yml'), stringify(tests));
    const run = promtool('test', 'rules', 'tests.yml');
    expect(run.stdout + run.stderr).toMatch(/SUCCESS/);
    expect(run.status).toBe(0);
  });

  it('promtool itself catches a wrong expectation (the tests above can fail)', () => {
    writeFileSync(
      join(dir.path, 'wrong.yml'),
      stringify({
        rule_files: ['rules.yml'],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: [{ series: 'driftwatch_feature_drift_score{model="credit",feature="f",method="psi"}', values: '0.3x10' }],
            alert_rule_test: [{ eval_time: '1m', alertname: 'FeatureDrift', exp_alerts: [] }, { eval_time: '1m', alertname: 'FeatureDrift', exp_alerts: [{ exp_labels: { feature: 'f' } }] }],
          },
        ],
      }),
    );
    const run = promtool('test', 'rules', 'wrong.yml');
    expect(run.status).not.toBe(0);
    expect(execFileSync('promtool', ['--version'], { encoding: 'utf8' })).toMatch(/promtool, version 2\./);
  });
});
