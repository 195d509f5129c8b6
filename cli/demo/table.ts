import type { DriftReport } from '../../analyzers/drift.ts';

const time = (ms: number) => new Date(ms).toISOString().slice(11, 19);
const num = (x: number | undefined | null, digits = 4) => (x === undefined || x === null ? '-' : x.toFixed(digits));
const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/** A window's drift report as a fixed-width table, strongest drift first. */
export function driftTable(report: DriftReport, expected: readonly string[]): string {
  const lines = [
    `window ${time(report.from)}-${time(report.to)} UTC · ${report.n_events.toLocaleString('en-US')} events · baseline ${report.baseline_id.slice(0, 8)}`,
    `expected to drift: ${expected.length > 0 ? expected.join(', ') : 'none'}`,
    [pad('feature', 18), pad('kind', 12), pad('method', 7), pad('score', 9), pad('threshold', 10), pad('drifted', 8), 'p-value (KS / chi2)'].join(''),
  ];
  for (const f of report.prediction ? [...report.features, report.prediction] : report.features) {
    const p = f.kind === 'numeric' ? f.metrics.ks_p_value : f.metrics.chi2_p_value;
    lines.push(
      [
        pad(f.feature === '@prediction' ? 'prediction *' : f.feature, 18),
        pad(f.kind, 12),
        pad(f.method, 7),
        pad(num(f.score), 9),
        pad(num(f.threshold, 4), 10),
        pad(f.status !== 'ok' ? f.status : f.drifted ? 'YES' : 'no', 8),
        p === undefined ? '-' : p.toExponential(2),
      ].join(''),
    );
  }
  if (report.prediction) lines.push('* the model output (probability of default); it moves when its inputs do');
  return lines.join('\n');
}
