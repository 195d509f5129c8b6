import { stringify } from 'yaml';
import { estimatedName, parseMetric, type Rule } from './rules.ts';
import { seriesLabels } from './signals.ts';

/**
 * The same rules as a Prometheus alerting-rule file, for teams that would
 * rather have Prometheus evaluate them over driftwatch's /metrics:
 *
 * - consecutive windows become durations: `for` is (for_windows - 1)
 *   windows (the gauge changes once per window, so N bad windows in a row
 *   have been true for N - 1 window lengths when the N-th lands), and
 *   `keep_firing_for` is (resolve_windows - 1) windows, so a one-window blip
 *   back to normal does not resolve an alert that needs two;
 * - hysteresis becomes a second clause that keeps a firing alert while its
 *   value is past the resolve threshold, joined to its own ALERTS series.
 */

const escapeRegex = (s: string) => s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
const quote = (s: string) => JSON.stringify(s);

/** A selector list as a label matcher: "*" matches anything, "prefix*" a prefix. */
function matcher(label: string, patterns: readonly string[]): string | null {
  if (patterns.includes('*')) return null;
  const alternatives = patterns.map((p) => (p.endsWith('*') ? `${escapeRegex(p.slice(0, -1))}.*` : escapeRegex(p)));
  return `${label}=~${quote(alternatives.join('|'))}`;
}

/** PromQL for the value series a rule compares. */
function select(rule: Rule): string {
  const metric = parseMetric(rule.metric);
  if (typeof metric === 'string') throw new Error(metric);
  const models = matcher('model', rule.models);
  const features = matcher('feature', rule.features);
  const shadows = matcher('shadow', rule.shadows);
  const series = (name: string, ...matchers: (string | null)[]) => {
    const list = matchers.filter((m): m is string => m !== null);
    return list.length > 0 ? `${name}{${list.join(', ')}}` : name;
  };
  switch (metric.family) {
    case 'drift':
      return metric.name === 'drifted'
        ? series('driftwatch_feature_drifted', 'feature!="@prediction"', models, features)
        : series('driftwatch_feature_drift_score', `method=${quote(metric.name)}`, 'feature!="@prediction"', models, features);
    case 'prediction_drift':
      return metric.name === 'drifted'
        ? series('driftwatch_feature_drifted', 'feature="@prediction"', models)
        : series('driftwatch_feature_drift_score', `method=${quote(metric.name)}`, 'feature="@prediction"', models);
    case 'dataset':
      return series('driftwatch_drifted_features_ratio', models);
    case 'impact':
      return series('driftwatch_drifted_impact_ratio', models);
    case 'quality': {
      const share = { missing_share: 'driftwatch_feature_missing_ratio', type_violation_share: 'driftwatch_feature_type_violation_ratio', out_of_range_share: 'driftwatch_feature_out_of_range_ratio' }[metric.name];
      if (share) return series(share, models, features);
      if (metric.name === 'drifted') return `max by (model, feature) (${series('driftwatch_feature_quality_drifted', models, features)})`;
      return series('driftwatch_feature_quality_drifted', `check=${quote(metric.name.replace(/_share_drifted$/, ''))}`, models, features);
    }
    case 'multivariate':
      return series(
        { reconstruction_error: 'driftwatch_multivariate_reconstruction_error', change: 'driftwatch_multivariate_reconstruction_error_change_ratio', drifted: 'driftwatch_multivariate_drifted' }[metric.name]!,
        models,
      );
    case 'performance':
      if (metric.name.startsWith('estimated_')) {
        const { metric: name, drop } = estimatedName(metric.name);
        return series('driftwatch_model_performance_estimated', `metric=${quote(name)}`, `stat=${quote(drop ? 'drop' : 'value')}`, models);
      }
      return metric.name === 'label_coverage'
        ? series('driftwatch_label_coverage_ratio', models)
        : series('driftwatch_model_performance', `metric=${quote(metric.name)}`, models);
    case 'shadow': {
      const gauge = {
        mismatch_share: ['driftwatch_shadow_mismatch_ratio'],
        class_agreement: ['driftwatch_shadow_class_agreement_ratio'],
        prediction_psi: ['driftwatch_shadow_prediction_psi'],
        mean_abs_diff: ['driftwatch_shadow_abs_diff', 'stat="mean"'],
        max_abs_diff: ['driftwatch_shadow_abs_diff', 'stat="max"'],
      }[metric.name]!;
      return series(gauge[0], gauge[1] ?? null, models, shadows);
    }
    case 'ingest':
      return 'sum(driftwatch_kafka_consumer_lag_messages)';
    case 'errors':
      return series('driftwatch_prediction_error_ratio', models);
  }
}

export function promDuration(ms: number): string {
  if (ms <= 0) return '0s';
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** {{model}}, {{feature}}, {{shadow}}, {{value}} as Prometheus templates; thresholds filled in. */
function template(text: string, rule: Rule): string {
  const fixed: Record<string, string> = {
    threshold: String(rule.threshold),
    resolve_threshold: String(rule.resolve_threshold),
    for_windows: String(rule.for_windows),
    metric: rule.metric,
    model: '{{ $labels.model }}',
    feature: '{{ $labels.feature }}',
    shadow: '{{ $labels.shadow }}',
    value: '{{ $value | printf "%.4g" }}',
  };
  return text.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, name: string) => fixed[name] ?? m);
}

export function alertExpression(rule: Rule): string {
  const series = select(rule);
  // The labels that identify a series of this rule, for the join with its own ALERTS.
  const by = seriesLabels(rule);
  const fires = `${series} ${rule.op} ${rule.threshold}`;
  if (rule.resolve_threshold === rule.threshold) return fires;
  const firing = `ALERTS{alertname=${quote(rule.name)}, alertstate="firing"}`;
  return `${fires}\nor\n(${series} ${rule.op} ${rule.resolve_threshold}) and on(${by.join(', ')}) ${firing}`;
}

export function prometheusRules(rules: readonly Rule[], windowMs: number): string {
  const doc = {
    groups: [
      {
        name: 'driftwatch',
        rules: rules.map((rule) => ({
          alert: rule.name,
          expr: alertExpression(rule),
          for: promDuration((rule.for_windows - 1) * windowMs),
          keep_firing_for: promDuration((rule.resolve_windows - 1) * windowMs),
          labels: { severity: rule.severity, ...rule.labels },
          annotations: Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, template(v, rule)])),
        })),
      },
    ],
  };
  return `# Generated by \`driftwatch rules\` from driftwatch's alert rules; edit those and regenerate.\n${stringify(doc, { lineWidth: 0 })}`;
}
