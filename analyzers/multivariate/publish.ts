import type { Metrics } from '../../core/metrics.ts';
import type { DriftReport } from '../drift.ts';

/** Moves a window's multivariate drift into its gauges; a report without one removes them rather than leave them stale. */
export function publishMultivariate(metrics: Metrics, report: DriftReport): void {
  const model = report.model;
  const m = report.multivariate;
  if (!m || m.reconstruction_error === null || m.lower_threshold === null || m.upper_threshold === null) {
    metrics.multivariateError.remove({ model });
    metrics.multivariateChange.remove({ model });
    metrics.multivariateDrifted.remove({ model });
    for (const bound of ['lower', 'upper']) metrics.multivariateThreshold.remove({ model, bound });
    return;
  }
  metrics.multivariateError.set({ model }, m.reconstruction_error);
  metrics.multivariateThreshold.set({ model, bound: 'lower' }, m.lower_threshold);
  metrics.multivariateThreshold.set({ model, bound: 'upper' }, m.upper_threshold);
  if (m.change !== null) metrics.multivariateChange.set({ model }, m.change);
  else metrics.multivariateChange.remove({ model });
  // Without a verdict (too few events) there is no 0 to report either.
  if (m.status === 'ok') metrics.multivariateDrifted.set({ model }, Number(m.drifted));
  else metrics.multivariateDrifted.remove({ model });
}
