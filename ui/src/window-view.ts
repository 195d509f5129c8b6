import { esc, int, num, pct, short, time } from './format.ts';
import type { DriftReport, FeatureDrift } from './types.ts';
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
  const estimated = estimatedCard(report.estimated_performance);
  if (estimated) cards.splice(6, 0, estimated);
  if (baseline) cards.push(['Baseline', `${esc(short(baseline.baseline_id))} · ${int(baseline.n_events)} events<br><span class="muted">${esc(time(baseline.from))} to ${esc(time(baseline.to))}</span>`]);
  return `<div class="cards">${cards.map(([k, v, tone]) => `<div class="card ${tone ?? ''}"><div class="label">${esc(k)}</div><div class="value">${v}</div></div>`).join('')}</div>`;
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

/** The feature table as HTML: sortable headers (buttons), one row per feature, the selected one marked. */
export function featureTableHtml(features: FeatureDrift[], state: TableState): string {
  const rows = tableRows(features, state);
  const [key, dir] = (state.sort ?? 'rank:asc').split(':');
  const head = COLUMNS.map((c) => {
    const sorted = c.key === key ? (dir === 'desc' ? 'descending' : 'ascending') : 'none';
    return `<th aria-sort="${sorted}"${c.title ? ` title="${esc(c.title)}"` : ''}><button type="button" data-sort="${c.key}">${esc(c.label)}${sorted === 'none' ? '' : sorted === 'ascending' ? ' ▲' : ' ▼'}</button></th>`;
  }).join('');
  const body = rows
    .map(
      ({ f, rank }) =>
        `<tr data-feature="${esc(f.feature)}" class="${f.drifted ? 'drifted' : ''}${f.feature === state.selected ? ' selected' : ''}">${COLUMNS.map((c) => `<td class="c-${c.key}">${c.cell(f, rank)}</td>`).join('')}</tr>`,
    )
    .join('');
  return `<table class="features"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>${rows.length === 0 ? '<p class="muted">No feature matches the search.</p>' : ''}`;
}

/** The next sort after clicking a column: the same column flips, another starts descending (ascending for names and rank). */
export function nextSort(current: string | undefined, column: string): string {
  const [key, dir] = (current ?? 'rank:asc').split(':');
  if (key === column) return `${column}:${dir === 'asc' ? 'desc' : 'asc'}`;
  return `${column}:${column === 'rank' || column === 'feature' || column === 'kind' ? 'asc' : 'desc'}`;
}
