import type { DriftReport, FeatureDrift } from '../analyzers/drift.ts';
import type { PerformanceReport } from '../analyzers/performance.ts';
import type { FeatureQuality } from '../analyzers/quality.ts';
import type { ShadowReport } from '../analyzers/shadow/report.ts';
import { dropOf } from '../analyzers/estimated/estimation.ts';
import { estimatedName, matches, parseMetric, type Rule } from './rules.ts';

/**
 * What a window's analysis produced, as the rules see it. Collected by the
 * scheduler as each analysis finishes (drift, performance, shadow), then
 * handed to the alert engine once.
 */
export interface WindowResults {
  drift: DriftReport[];
  /** Per model: the newest analysed window that has labels. */
  performance: Map<string, PerformanceReport>;
  shadow: ShadowReport[];
  /** Messages behind on Kafka, summed over partitions; null without Kafka. */
  kafkaLag: number | null;
}

export const emptyResults = (): WindowResults => ({ drift: [], performance: new Map(), shadow: [], kafkaLag: null });

/** One value a rule compares: a series is (rule, model, subject). */
export interface Signal {
  model: string;
  /** The feature or shadow model the value is about; '' for per-model and service-wide values. */
  subject: string;
  value: number;
}

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** A statistic of a feature's drift, or "drifted": the verdict as 1 or 0 (none without a verdict). */
function featureValue(f: FeatureDrift, name: string): number | undefined {
  if (name === 'drifted') return f.status === 'ok' ? Number(f.drifted) : undefined;
  return f.metrics[name];
}

/** A data-quality share, or a verdict on one as 1 or 0 ("drifted": any of them); none without the baseline's shares. */
function qualityValue(q: FeatureQuality, name: string): number | undefined {
  if (name === 'missing_share') return q.missing_share;
  if (name === 'type_violation_share') return q.type_violation_share;
  if (name === 'out_of_range_share') return q.out_of_range_share;
  if (!q.checks) return undefined;
  if (name === 'drifted') return Number(Object.values(q.checks).some((c) => c.drifted));
  const check = { missing_share_drifted: q.checks.missing, type_violation_share_drifted: q.checks.type_violation, out_of_range_share_drifted: q.checks.out_of_range }[name];
  return check ? Number(check.drifted) : undefined;
}

/** The values `rule` looks at in a window's results. Pure. */
export function signalsFor(rule: Rule, results: WindowResults): Signal[] {
  const metric = parseMetric(rule.metric);
  if (typeof metric === 'string') return [];
  const out: Signal[] = [];
  const push = (model: string, subject: string, value: number | null | undefined) => {
    if (finite(value)) out.push({ model, subject, value });
  };
  const drift = results.drift.filter((r) => matches(rule.models, r.model));
  switch (metric.family) {
    case 'drift':
      for (const r of drift) for (const f of r.features) if (matches(rule.features, f.feature)) push(r.model, f.feature, featureValue(f, metric.name));
      break;
    case 'prediction_drift':
      for (const r of drift) if (r.prediction) push(r.model, '', featureValue(r.prediction, metric.name));
      break;
    case 'errors':
      // Model-wide reports only: a segment's error rate is in its report, not alerted on.
      for (const r of drift) if (!r.segment) push(r.model, '', r.errors?.rate);
      break;
    case 'impact':
      // Model-wide reports, like errors: a segment's share is in its report.
      for (const r of drift) if (!r.segment) push(r.model, '', r.drift_impact?.share);
      break;
    case 'dataset':
      // Without any judged feature there is no share to speak of.
      for (const r of drift) if (r.features.some((f) => f.status === 'ok')) push(r.model, '', r.drifted_share);
      break;
    case 'quality':
      for (const r of drift) {
        for (const q of r.data_quality?.features ?? []) {
          if (matches(rule.features, q.feature)) push(r.model, q.feature, qualityValue(q, metric.name));
        }
      }
      break;
    case 'multivariate':
      for (const r of drift) {
        const m = r.multivariate;
        if (!m) continue;
        push(r.model, '', metric.name === 'drifted' ? (m.status === 'ok' ? Number(m.drifted) : undefined) : metric.name === 'change' ? m.change : m.reconstruction_error);
      }
      break;
    case 'performance':
      if (metric.name.startsWith('estimated_')) {
        // Estimates come with every model-wide report, labels or not.
        const { metric: name, drop } = estimatedName(metric.name);
        for (const r of drift) {
          const m = r.segment ? undefined : r.estimated_performance?.metrics[name];
          if (m) push(r.model, '', drop ? dropOf(m) : m.value);
        }
        break;
      }
      for (const [model, perf] of results.performance) {
        if (!matches(rule.models, model)) continue;
        push(model, '', metric.name === 'label_coverage' ? perf.label_coverage : perf.metrics[metric.name]);
      }
      break;
    case 'shadow':
      for (const s of results.shadow) {
        if (!matches(rule.models, s.model) || !matches(rule.shadows, s.shadow)) continue;
        const c = s.comparison;
        const value = {
          mismatch_share: c.mismatch_share,
          class_agreement: c.class_agreement,
          mean_abs_diff: c.mean_abs_diff,
          max_abs_diff: c.max_abs_diff,
          prediction_psi: s.prediction_drift?.score,
        }[metric.name];
        push(s.model, s.shadow, value);
      }
      break;
    case 'ingest':
      push('', '', results.kafkaLag);
      break;
  }
  return out;
}

/** The labels that tell a rule's series apart: model (none for service-wide values) and the subject's label. */
export function seriesLabels(rule: Rule): string[] {
  const metric = parseMetric(rule.metric);
  if (typeof metric === 'string' || metric.family === 'ingest') return [];
  const subject = subjectLabel(rule);
  return subject ? ['model', subject] : ['model'];
}

/** Which label names the subject of a rule's series goes under, for Alertmanager and Prometheus. */
export function subjectLabel(rule: Rule): 'feature' | 'shadow' | null {
  const metric = parseMetric(rule.metric);
  if (typeof metric === 'string') return null;
  if (metric.family === 'drift' || metric.family === 'quality') return 'feature';
  if (metric.family === 'shadow') return 'shadow';
  return null;
}
