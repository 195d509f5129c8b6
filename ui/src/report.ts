import { distributionChart } from './charts.ts';
import { esc, int, num, pct, time } from './format.ts';
import type { ReportData } from './types.ts';
import { featureTableHtml, nextSort, summaryHtml, withQuality } from './window-view.ts';

/**
 * The shareable report (GET /v1/models/{model}/report.html): its data is
 * inline in the page, and it loads nothing. The summary, the ranked table,
 * and every feature's distribution, in the ranking's order.
 */
function render(data: ReportData): void {
  const { report, baseline } = data;
  const root = document.getElementById('app')!;
  root.innerHTML = `
    <header class="top"><h1>driftwatch report: ${esc(report.model)}</h1>
      <p class="muted">${esc(time(report.from))} to ${esc(time(report.to))} against baseline ${esc(baseline.baseline_id)} · generated ${esc(time(data.generated_at))}</p></header>
    <section>${summaryHtml(report, baseline)}</section>
    <section><h2>Features, ranked</h2><div id="table"></div></section>
    <section><h2>Distributions</h2><p class="muted">Reference (grey) and current (orange), on the baseline's bins.</p><div id="charts" class="chart-grid"></div></section>`;
  let sort: string | undefined;
  const table = root.querySelector<HTMLElement>('#table')!;
  const drawTable = () => (table.innerHTML = featureTableHtml(withQuality(report), { sort }));
  drawTable();
  table.addEventListener('click', (e) => {
    const button = (e.target as Element).closest<HTMLButtonElement>('button[data-sort]');
    if (button) {
      sort = nextSort(sort, button.dataset.sort!);
      drawTable();
      return;
    }
    const row = (e.target as Element).closest<HTMLElement>('tr[data-feature]');
    if (row) document.getElementById(`dist-${CSS.escape(row.dataset.feature!)}`)?.scrollIntoView();
  });

  const charts = root.querySelector<HTMLElement>('#charts')!;
  const targets = report.prediction ? [...report.features, report.prediction] : report.features;
  for (const f of targets) {
    const card = document.createElement('article');
    card.className = `chart-card${f.drifted ? ' drifted' : ''}`;
    card.id = `dist-${f.feature}`;
    card.dataset.feature = f.feature;
    card.innerHTML = `<h3>${esc(f.feature)} <span class="verdict ${f.drifted ? 'drifted' : 'ok'}">${f.drifted ? 'DRIFTED' : f.status === 'ok' ? 'no drift' : esc(f.status)}</span></h3>
      <p class="muted">${esc(f.kind)} · ${esc(f.method ?? 'psi')} ${num(f.score)} (threshold ${num(f.threshold)}) · ${int(f.n_current)} events${f.metrics?.missing_share ? ` · missing ${pct(f.metrics.missing_share)}` : ''}</p>`;
    card.append(distributionChart(f.distribution, 440, f.new_categories?.map((c) => c.value)));
    charts.append(card);
  }
  // Milliseconds from the start of navigation to every chart drawn: what bench/ui.ts reports.
  document.body.dataset.renderMs = String(Math.round(performance.now()));
  document.body.dataset.rendered = 'true';
}

const data = JSON.parse(document.getElementById('dw-report-data')!.textContent!) as ReportData;
render(data);
