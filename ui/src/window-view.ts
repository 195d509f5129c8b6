import { esc, int, num, pct, short, time } from './format.ts';
import type { DriftReport, FeatureDrift, MultivariateDrift, QualityFeature } from './types.ts';
import { estimatedCard } from './estimated.ts';

/** One window's drift as the model page and the report both show it: a summary, and the ranked feature table. */

const verdict = (f: FeatureDrift) =>
  f.status === 'no_data' ? ['no data', 'none'] : f.status === 'insufficient_data' ? ['too few events', 'none'] : f.drifted ? ['DRIFTED', 'drifted'] : ['no drift', 'ok'];

export function summaryHtml(report: DriftReport, baseline?: { baseline_id: string; from: string; to: string; n_events: number }): string {
  const judged = report.features.filter((f) => f.status === 'ok').length;
  const p = report.prediction;
  const perf = report.performance;
  const q = report.data_quality;
  const perfText =
    perf && perf.n_labelled > 0
      ? Object.entries(perf.metrics)
          .slice(0, 3)
          .map(([k, v]) => `${esc(k)} ${num(v, 3)}${perf.baseline_metrics?.[k] != null ? ` <span class="muted">(baseline ${num(perf.baseline_metrics[k], 3)})</span>` : ''}`)
          .join('<br>')
      : 'no labels yet';
  const cards: [string, string, string?][] = [
    ['Window', `${esc(time(report.from))}<br>to ${esc(time(report.to))}`],
    ['Events', int(report.n_events)],
    ['Drifted features', `${report.drifted_features.length} of ${judged} judged`, report.drifted_features.length > 0 ? 'bad' : 'good'],
    ['Dataset', report.dataset_drifted ? `DRIFTED (${pct(report.drifted_share)})` : `no drift (${pct(report.drifted_share)})`, report.dataset_drifted ? 'bad' : 'good'],
    ['Prediction drift', p ? `${verdict(p)[0]} · ${esc(p.method ?? '')} ${num(p.score)} / ${num(p.threshold)}` : 'not in the baseline', p?.drifted ? 'bad' : undefined],
    ['Performance', perf ? `${perfText}<br><span class="muted">labels for ${pct(perf.label_coverage)} of events</span>` : '–'],
    ['Data quality', q ? `${q.absent_features.length} absent, ${q.new_features.length} new features${q.new_features.length ? `<br><span class="muted">new: ${esc(q.new_features.slice(0, 5).join(', '))}</span>` : ''}` : '–', q && (q.absent_features.length || q.new_features.length) ? 'warn' : undefined],
  ];
  const flagged = q?.flagged_features ?? [];
  if (flagged.length > 0) cards[cards.length - 1] = ['Data quality', `${cards[cards.length - 1][1]}<br>${flagged.length} flagged against the baseline: ${esc(flagged.slice(0, 5).join(', '))}`, 'bad'];
  cards.push(['Multivariate drift', multivariateText(report.multivariate), report.multivariate?.drifted ? 'bad' : report.multivariate?.status === 'ok' ? 'good' : undefined]);
  const impact = report.drift_impact;
  if (impact) {
    const top = impact.ranking.slice(0, 3).map((r) => `${esc(r.feature)} ${pct(r.impact)}`).join(', ');
    cards.push([
      'Drift impact',
      `${pct(impact.share)} of the impact on drifted features${top ? `<br><span class="muted">${top}</span>` : ''}<br><span class="muted">${impact.method === 'permutation' ? 'by permutation (reference model)' : 'by association with the prediction'}</span>`,
      impact.share >= 0.5 ? 'bad' : impact.share > 0 ? 'warn' : 'good',
    ]);
  }
  const estimated = estimatedCard(report.estimated_performance);
  if (estimated) cards.splice(6, 0, estimated);
  if (baseline) cards.push(['Baseline', `${esc(short(baseline.baseline_id))} · ${int(baseline.n_events)} events<br><span class="muted">${esc(time(baseline.from))} to ${esc(time(baseline.to))}</span>`]);
  return `<div class="cards">${cards.map(([k, v, tone]) => `<div class="card ${tone ?? ''}"><div class="label">${esc(k)}</div><div class="value">${v}</div></div>`).join('')}</div>`;
}

/** The joint drift of the numeric features: the window's reconstruction error against the band of its size. */
function multivariateText(m: MultivariateDrift | null | undefined): string {
  if (!m) return 'not in the baseline';
  if (m.reconstruction_error === null) return 'no data';
  const head = m.status !== 'ok' ? 'too few events' : m.drifted ? 'DRIFTED' : 'no drift';
  return `${head} · PCA error ${num(m.reconstruction_error, 3)} <span class="muted">(band ${num(m.lower_threshold, 3)}–${num(m.upper_threshold, 3)}, baseline ${num(m.reference_error, 3)})</span><br><span class="muted">${m.features.length} numeric features, ${m.n_components} components</span>`;
}

const CHECK_LABELS = { missing: 'missing', type_violation: 'wrong type', out_of_range: 'out of range' } as const;

/** A feature's quality checks that drifted, each with the window's share beside the baseline's. */
function qualityCell(q: QualityFeature | undefined): string {
  if (!q?.checks) return '–';
  const bad = (Object.keys(CHECK_LABELS) as (keyof typeof CHECK_LABELS)[]).flatMap((k) => {
    const c = q.checks![k];
    return c?.drifted ? [`<span class="verdict drifted" title="p ${num(c.p_value, 3)}">${CHECK_LABELS[k]} ${pct(c.share)} <span class="muted">(baseline ${pct(c.baseline)})</span></span>`] : [];
  });
  return bad.length > 0 ? bad.join(' ') : '<span class="verdict ok">ok</span>';
}

/** Features with their data quality beside them, for the table's quality column. */
export type TableFeature = FeatureDrift & { quality?: QualityFeature };

export function withQuality(report: DriftReport): TableFeature[] {
  const quality = new Map((report.data_quality?.features ?? []).map((q) => [q.feature, q]));
  return report.features.map((f) => ({ ...f, quality: quality.get(f.feature) }));
}

interface Column {
  key: string;
  label: string;
  title?: string;
  value: (f: FeatureDrift, rank: number) => number | string | null;
  cell: (f: FeatureDrift, rank: number) => string;
}

const m = (name: string) => (f: FeatureDrift) => f.metrics?.[name] ?? null;
const metric = (key: string, label: string, title: string, format: (x: number | null) => string = (x) => num(x)): Column => ({
  key,
  label,
  title,
  value: m(key),
  cell: (f) => format(m(key)(f)),
});

export const COLUMNS: Column[] = [
  { key: 'rank', label: '#', title: 'Rank: drifted first, then by score', value: (_f, r) => r, cell: (_f, r) => String(r) },
  { key: 'feature', label: 'feature', value: (f) => f.feature, cell: (f) => `<span class="name">${esc(f.feature)}</span>` },
  { key: 'kind', label: 'kind', value: (f) => f.kind, cell: (f) => f.kind },
  { key: 'score', label: 'score', title: 'The score of the method that decides the verdict (PSI)', value: (f) => f.score, cell: (f) => `${num(f.score)}` },
  { key: 'threshold', label: 'threshold', title: 'The score at or above which this feature counts as drifted at this window\'s size', value: (f) => f.threshold, cell: (f) => num(f.threshold) },
  { key: 'verdict', label: 'verdict', value: (f) => (f.drifted ? 2 : f.status === 'ok' ? 1 : 0), cell: (f) => `<span class="verdict ${verdict(f)[1]}">${verdict(f)[0]}</span>` },
  {
    key: 'impact',
    label: 'impact',
    title: "Share of what moves the model's output: permutation through the reference ONNX model, else association with the logged prediction (sort by it to see the drift that matters first)",
    value: (f) => f.impact ?? null,
    cell: (f) => pct(f.impact ?? null),
  },
  metric('ks_statistic', 'KS D', 'Kolmogorov-Smirnov statistic (numeric)'),
  metric('ks_p_value', 'KS p', 'Kolmogorov-Smirnov p-value (numeric)'),
  metric('wasserstein_normalized', 'W1/σ', 'Wasserstein-1 distance in reference standard deviations (numeric)'),
  metric('jensen_shannon', 'JS', 'Jensen-Shannon distance'),
  metric('hellinger', 'Hellinger', 'Hellinger distance'),
  metric('chi2_p_value', 'χ² p', 'Chi-square p-value (categorical)'),
  metric('share_below_reference', 'below', 'Share of events below the reference minimum', (x) => pct(x)),
  metric('share_above_reference', 'above', 'Share of events above the reference maximum', (x) => pct(x)),
  metric('new_category_share', 'new cat.', 'Share of events in categories the baseline never saw', (x) => pct(x)),
  metric('missing_share', 'missing', 'Data quality: share of events without this feature', (x) => pct(x)),
  metric('type_violation_share', 'wrong type', 'Data quality: share of events with a value of the other kind', (x) => pct(x)),
  {
    key: 'quality',
    label: 'quality',
    title: 'Data-quality shares that rose beyond noise and the minimum effect over the baseline\'s (missing, wrong type, out of range)',
    value: (f) => Object.values((f as TableFeature).quality?.checks ?? {}).filter((c) => c?.drifted).length,
    cell: (f) => qualityCell((f as TableFeature).quality),
  },
  { key: 'n_current', label: 'events', value: (f) => f.n_current ?? null, cell: (f) => int(f.n_current) },
];

export interface TableState {
  sort?: string;
  q?: string;
  selected?: string;
}

/** The features in the order the table shows them: filtered by the search, sorted by a column (the API's ranking by default). */
export function tableRows(features: FeatureDrift[], state: TableState): { f: FeatureDrift; rank: number }[] {
  const q = (state.q ?? '').trim().toLowerCase();
  let rows = features.map((f, i) => ({ f, rank: i + 1 }));
  if (q) rows = rows.filter((r) => r.f.feature.toLowerCase().includes(q));
  const [key, dir] = (state.sort ?? 'rank:asc').split(':');
  const column = COLUMNS.find((c) => c.key === key);
  if (column && key !== 'rank') {
    const sign = dir === 'desc' ? -1 : 1;
    rows.sort((a, b) => {
      const x = column.value(a.f, a.rank);
      const y = column.value(b.f, b.rank);
      // Missing values go last whichever the direction.
      if (x === null || y === null) return x === null ? (y === null ? a.rank - b.rank : 1) : -1;
      return (x < y ? -1 : x > y ? 1 : a.rank - b.rank) * sign;
    });
  } else if (dir === 'desc') rows.reverse();
  return rows;
}

/** The feature table's header row: one sort button per column, the sorted one marked. */
export function featureHeadHtml(state: TableState): string {
  const [key, dir] = (state.sort ?? 'rank:asc').split(':');
  return COLUMNS.map((c) => {
    const sorted = c.key === key ? (dir === 'desc' ? 'descending' : 'ascending') : 'none';
    return `<th aria-sort="${sorted}"${c.title ? ` title="${esc(c.title)}"` : ''}><button type="button" data-sort="${c.key}">${esc(c.label)}${sorted === 'none' ? '' : sorted === 'ascending' ? ' ▲' : ' ▼'}</button></th>`;
  }).join('');
}

/** One feature's row; `index` (1-based, among the rows shown) is its aria-rowindex, the header being row 1. */
export function featureRowHtml({ f, rank }: { f: FeatureDrift; rank: number }, selected: string | undefined, index: number): string {
  return `<tr data-feature="${esc(f.feature)}" aria-rowindex="${index + 1}" class="${f.drifted ? 'drifted' : ''}${f.feature === selected ? ' selected' : ''}">${COLUMNS.map((c) => `<td class="c-${c.key}">${c.cell(f, rank)}</td>`).join('')}</tr>`;
}

export const NO_MATCH_HTML = '<p class="muted">No feature matches the search.</p>';

/** The feature table as HTML, every row (the report's; the model page draws a screenful at a time: feature-table.ts). */
export function featureTableHtml(features: FeatureDrift[], state: TableState): string {
  const rows = tableRows(features, state);
  const body = rows.map((row, i) => featureRowHtml(row, state.selected, i + 1)).join('');
  return `<table class="features"><thead><tr>${featureHeadHtml(state)}</tr></thead><tbody>${body}</tbody></table>${rows.length === 0 ? NO_MATCH_HTML : ''}`;
}

/** The next sort after clicking a column: the same column flips, another starts descending (ascending for names and rank). */
export function nextSort(current: string | undefined, column: string): string {
  const [key, dir] = (current ?? 'rank:asc').split(':');
  if (key === column) return `${column}:${dir === 'asc' ? 'desc' : 'asc'}`;
  return `${column}:${column === 'rank' || column === 'feature' || column === 'kind' ? 'asc' : 'desc'}`;
}
