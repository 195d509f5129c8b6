import type { Baseline } from '../baseline.ts';
import { psi } from '../methods/psi.ts';
import { classificationMetrics, regressionMetrics } from '../performance.ts';
import type { ShadowRecord } from '../../store/shadow-models.ts';
import {
  labelledConfusion,
  labelledScoreSums,
  labelledThresholdConfusion,
  parityCounts,
  sampledCount,
  scoreEdges,
  shadowDistribution,
  skipCounts,
  type Compared,
  type Range,
} from '../../store/shadow-predictions.ts';
import type { Sql } from '../../store/sql.ts';
import { keyOf, sampleShareOf } from './scorer.ts';
import { comparedField, DEFAULT_THRESHOLD, DEFAULT_TOLERANCE } from './spec.ts';

/**
 * One window of a shadow model against what production logged: how often
 * they disagree (parity for a reference model, agreement for a challenger),
 * a challenger's prediction drift, and, on events whose labels arrived, both
 * models' performance side by side.
 */
export interface ShadowReport {
  model: string;
  shadow: string;
  revision: string;
  role: ShadowRecord['role'];
  from: number;
  to: number;
  sample_share: number;
  /** Events in the window picked by the sample. */
  n_sampled: number;
  n_scored: number;
  skipped: Record<string, number>;
  comparison: {
    tolerance: number;
    n_checked: number;
    /** Share of checked events whose logged prediction differs from the shadow's. */
    mismatch_share: number | null;
    n_compared: number;
    mean_abs_diff: number | null;
    max_abs_diff: number | null;
    n_class: number;
    class_agreement: number | null;
  };
  /** Challengers only: PSI of its predictions in the window against its predictions over the baseline period. */
  prediction_drift: { method: 'psi'; score: number | null; n_reference: number; n_current: number; status: 'ok' | 'no_baseline' | 'no_reference' } | null;
  performance: {
    n_labelled: number;
    /** The cut that made classes of a binary model's scores; null when classes come from a class output, or there are none. */
    threshold: number | null;
    champion: Record<string, number>;
    shadow: Record<string, number>;
  };
}

export interface ShadowReportDeps {
  sql: Sql;
  defaultSampleShare: number;
}

export function comparedOf(record: ShadowRecord): Compared {
  return {
    logged: record.spec.score ? comparedField(record.spec.score.compare_to) : null,
    tolerance: record.spec.score?.tolerance ?? DEFAULT_TOLERANCE,
  };
}

const ratio = (part: number, whole: number) => (whole > 0 ? part / whole : null);

export async function computeShadowReport(
  deps: ShadowReportDeps,
  record: ShadowRecord,
  window: Range,
  baseline: Pick<Baseline, 'from' | 'to'> | null,
): Promise<ShadowReport> {
  const { sql } = deps;
  const key = keyOf(record);
  const compared = comparedOf(record);
  const share = sampleShareOf(record, deps.defaultSampleShare);
  const [nSampled, skipped, parity] = await Promise.all([
    sampledCount(sql, record.model, window, share),
    skipCounts(sql, key, window),
    parityCounts(sql, key, window, compared),
  ]);

  const performance: ShadowReport['performance'] = { n_labelled: 0, threshold: null, champion: {}, shadow: {} };
  if (record.spec.class) {
    const cells = await labelledConfusion(sql, key, window, compared);
    const side = (who: 'champion' | 'shadow') => cells.filter((c) => c.who === who);
    const labels = new Set(cells.map((c) => c.actual));
    // Two classes named 0 and 1: report precision and recall of class 1, as for binary models elsewhere.
    const positive = labels.size <= 2 && [...labels].every((l) => l === '0' || l === '1') ? '1' : undefined;
    performance.n_labelled = side('shadow').reduce((a, c) => a + c.n, 0);
    performance.champion = classificationMetrics(side('champion'), positive);
    performance.shadow = classificationMetrics(side('shadow'), positive);
  }
  if (record.spec.score && compared.logged) {
    const sums = await labelledScoreSums(sql, key, window, compared);
    if (sums.n > 0) {
      performance.n_labelled = Math.max(performance.n_labelled, sums.n);
      if (sums.champion_auc !== null && sums.shadow_auc !== null) {
        // A binary model that logs a probability: its class is the score cut at the threshold, on both sides.
        const ofClass1 = compared.logged.kind === 'prediction' || compared.logged.cls === '1';
        if (!record.spec.class && ofClass1) {
          const threshold = record.spec.score.threshold ?? DEFAULT_THRESHOLD;
          const cells = await labelledThresholdConfusion(sql, key, window, compared, threshold);
          performance.threshold = threshold;
          performance.champion = classificationMetrics(cells.filter((c) => c.who === 'champion'), '1');
          performance.shadow = classificationMetrics(cells.filter((c) => c.who === 'shadow'), '1');
        }
        performance.champion.roc_auc = sums.champion_auc;
        performance.shadow.roc_auc = sums.shadow_auc;
      } else if (!record.spec.class) {
        const regression = (mae: number, rmse: number) =>
          regressionMetrics({ n: sums.n, mae, rmse, mape: null, label_variance: sums.label_variance });
        Object.assign(performance.champion, regression(sums.champion_mae, sums.champion_rmse));
        Object.assign(performance.shadow, regression(sums.shadow_mae, sums.shadow_rmse));
      }
    }
  }

  let drift: ShadowReport['prediction_drift'] = null;
  if (record.role === 'challenger') {
    drift = { method: 'psi', score: null, n_reference: 0, n_current: 0, status: 'no_baseline' };
    if (baseline) {
      const reference = { from: baseline.from, to: baseline.to };
      let by: { edges: number[] } | 'class';
      if (record.spec.score) {
        const { edges } = await scoreEdges(sql, key, reference);
        by = { edges };
      } else {
        by = 'class';
      }
      const [ref, cur] = await Promise.all([shadowDistribution(sql, key, reference, by), shadowDistribution(sql, key, window, by)]);
      const buckets = by === 'class' ? [...new Set([...ref.keys(), ...cur.keys()])].sort() : Array.from({ length: by.edges.length + 1 }, (_, i) => String(i));
      const refCounts = buckets.map((b) => ref.get(b) ?? 0);
      const curCounts = buckets.map((b) => cur.get(b) ?? 0);
      drift.n_reference = refCounts.reduce((a, b) => a + b, 0);
      drift.n_current = curCounts.reduce((a, b) => a + b, 0);
      if (drift.n_reference === 0) drift.status = 'no_reference';
      else {
        drift.status = 'ok';
        drift.score = drift.n_current > 0 ? psi(refCounts, curCounts) : null;
      }
    }
  }

  return {
    model: record.model,
    shadow: record.name,
    revision: record.revision,
    role: record.role,
    from: window.from,
    to: window.to,
    sample_share: share,
    n_sampled: nSampled,
    n_scored: parity.n_scored,
    skipped,
    comparison: {
      tolerance: compared.tolerance,
      n_checked: parity.n_checked,
      mismatch_share: ratio(parity.n_mismatch, parity.n_checked),
      n_compared: parity.n_compared,
      mean_abs_diff: parity.mean_abs_diff,
      max_abs_diff: parity.max_abs_diff,
      n_class: parity.n_class,
      class_agreement: ratio(parity.n_class_agree, parity.n_class),
    },
    prediction_drift: drift,
    performance,
  };
}
