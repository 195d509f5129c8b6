import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseSettingsFile } from '../core/settings-file.ts';
import { ESTIMATED_METRICS, type ClassificationMetric } from '../analyzers/estimated/band.ts';

// Selectors are name patterns (core/patterns.ts), as API keys' models are.
export { matches } from '../core/patterns.ts';

/**
 * Alert rules, written by people in YAML: which results to watch, when a
 * series starts to count as bad (threshold), when it counts as good again
 * (resolve_threshold: hysteresis, so a value hovering at the threshold does
 * not flap), and how many consecutive windows each takes. Parsed once, with
 * every problem reported by its place in the file.
 */
export const METRIC_FAMILIES = {
  drift: 'per feature: drift.drifted (the verdict, 1 or 0) or a drift statistic of the window, drift.<method> (psi, jensen_shannon, hellinger, ks_statistic, ks_p_value, wasserstein_normalized, chi2_statistic, chi2_p_value, l_infinity)',
  prediction_drift: "per model: the same for the model's own output, prediction_drift.drifted or prediction_drift.<method>",
  dataset: 'per model: dataset.drifted_share, the share of judged features that drifted',
  quality:
    'per feature: quality.missing_share, quality.type_violation_share, quality.out_of_range_share (numeric), their verdicts against the baseline quality.<share>_drifted (1 or 0), or quality.drifted (any of them)',
  performance:
    'per model: performance.<metric> (accuracy, f1, precision, recall, roc_auc, log_loss, mae, rmse, r2, ...) of the newest window with labels, or performance.label_coverage; estimated without labels (CBPE) for every window: performance.estimated_<metric> (accuracy, precision, recall, f1, roc_auc), or performance.estimated_<metric>_drop, how far the estimate\'s band lies below the baseline',
  shadow: 'per shadow model: shadow.mismatch_share, shadow.class_agreement, shadow.prediction_psi, shadow.mean_abs_diff, shadow.max_abs_diff',
  ingest: 'service-wide: ingest.kafka_lag, messages behind the end of the topics',
  errors: 'per model: errors.rate, the share of the window\'s events that were failed predictions (status "error")',
  multivariate:
    'per model: multivariate.reconstruction_error (mean PCA reconstruction error of the numeric features), multivariate.change (relative to the baseline\'s), or multivariate.drifted (outside the band, 1 or 0)',
  impact: "per model: impact.drifted_share, the share of what moves the model's output held by the features that drifted (drift_impact.share)",
} as const;

const FIXED: Record<string, readonly string[]> = {
  dataset: ['drifted_share'],
  quality: [
    'missing_share',
    'type_violation_share',
    'out_of_range_share',
    'missing_share_drifted',
    'type_violation_share_drifted',
    'out_of_range_share_drifted',
    'drifted',
  ],
  multivariate: ['reconstruction_error', 'change', 'drifted'],
  shadow: ['mismatch_share', 'class_agreement', 'prediction_psi', 'mean_abs_diff', 'max_abs_diff'],
  ingest: ['kafka_lag'],
  errors: ['rate'],
  impact: ['drifted_share'],
};

export type Family = keyof typeof METRIC_FAMILIES;
export type Op = '>' | '>=' | '<' | '<=';

/** "drift.psi" -> { family: drift, name: psi }, or why it is not a metric. */
export function parseMetric(metric: string): { family: Family; name: string } | string {
  const dot = metric.indexOf('.');
  const family = metric.slice(0, dot) as Family;
  const name = metric.slice(dot + 1);
  if (dot <= 0 || !(family in METRIC_FAMILIES) || !/^[a-z][a-z0-9_]*$/.test(name)) {
    return `unknown metric "${metric}"; one of: ${Object.entries(METRIC_FAMILIES).map(([f, d]) => `${f}.* (${d})`).join('; ')}`;
  }
  const fixed = FIXED[family];
  if (fixed && !fixed.includes(name)) return `unknown metric "${metric}"; ${family} has: ${fixed.map((n) => `${family}.${n}`).join(', ')}`;
  if (family === 'performance' && name.startsWith('estimated_') && !ESTIMATED.has(estimatedName(name).metric)) {
    return `unknown metric "${metric}"; estimated performance has: ${[...ESTIMATED].map((m) => `performance.estimated_${m}, performance.estimated_${m}_drop`).join(', ')}`;
  }
  return { family, name };
}

const ESTIMATED: ReadonlySet<string> = new Set(ESTIMATED_METRICS);

/** "estimated_f1_drop" -> { metric: f1, drop: true }. */
export function estimatedName(name: string): { metric: ClassificationMetric; drop: boolean } {
  const bare = name.slice('estimated_'.length);
  const drop = bare.endsWith('_drop');
  return { metric: (drop ? bare.slice(0, -'_drop'.length) : bare) as ClassificationMetric, drop };
}

const selector = z.array(z.string().min(1).max(256)).min(1).default(['*']);

const RuleSchema = z
  .object({
    // Also the Prometheus alertname of the generated rule.
    name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,127}$/, 'a letter, then letters, digits or _'),
    metric: z.string(),
    op: z.enum(['>', '>=', '<', '<=']).default('>'),
    threshold: z.number(),
    resolve_threshold: z.number().optional(),
    for_windows: z.number().int().min(1).max(1000).default(1),
    resolve_windows: z.number().int().min(1).max(1000).default(1),
    severity: z.enum(['critical', 'warning', 'info']).default('warning'),
    models: selector,
    features: selector,
    shadows: selector,
    labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'a Prometheus label name'), z.string()).default({}),
    annotations: z.record(z.string(), z.string()).default({}),
    webhook: z
      .object({ url: z.url(), headers: z.record(z.string(), z.string()).default({}) })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((rule, ctx) => {
    const parsed = parseMetric(rule.metric);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', path: ['metric'], message: parsed });
    const resolve = rule.resolve_threshold;
    if (resolve !== undefined) {
      const above = rule.op === '>' || rule.op === '>=';
      if (above ? resolve > rule.threshold : resolve < rule.threshold) {
        ctx.addIssue({
          code: 'custom',
          path: ['resolve_threshold'],
          message: `must be on the good side of threshold (${above ? '<=' : '>='} ${rule.threshold}) for the alert to resolve`,
        });
      }
    }
    for (const reserved of ['alertname', 'model', 'feature', 'shadow', 'severity', 'rule', 'method']) {
      if (reserved in rule.labels) ctx.addIssue({ code: 'custom', path: ['labels', reserved], message: `"${reserved}" is set by driftwatch` });
    }
  });

const FileSchema = z
  .object({ rules: z.array(RuleSchema).max(1000) })
  .strict()
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.rules.forEach((rule, i) => {
      if (seen.has(rule.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `"${rule.name}" is used twice` });
      seen.add(rule.name);
    });
  });

export type Rule = z.output<typeof RuleSchema> & { resolve_threshold: number };

export class RulesError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid alert rules in ${source}:\n  ${problems.join('\n  ')}`);
    this.name = 'RulesError';
  }
}

/** Parses rules YAML; throws RulesError listing each problem as `path: message` (line numbers for YAML syntax). */
export function parseRules(text: string, source = 'rules'): Rule[] {
  const result = parseSettingsFile(text, FileSchema);
  if (!result.ok) throw new RulesError(source, result.problems);
  return result.value.rules.map((r) => ({ ...r, resolve_threshold: r.resolve_threshold ?? r.threshold }));
}

export const DEFAULT_RULES_PATH = new URL('./default-rules.yaml', import.meta.url);

/** The rules at `path`, or the shipped defaults when no path is configured. */
export function loadRules(path: string | undefined): Rule[] {
  const source = path ?? DEFAULT_RULES_PATH.pathname;
  let text: string;
  try {
    text = readFileSync(path ?? DEFAULT_RULES_PATH, 'utf8');
  } catch (err) {
    throw new RulesError(source, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseRules(text, source);
}

export function breaches(op: Op, value: number, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}
