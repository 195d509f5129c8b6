import { ApiError, get, getText } from '../api.ts';
import type { HeatCell, HeatGap, Point } from '../charts.ts';
import { esc, int, num, pct, short, time } from '../format.ts';
import { HeatmapSeries, historyCells, historyOrder, SOURCE_TEXT, stepLabel, type HeatSource } from '../heatmap.ts';
import { navigate, readState, stateUrl, type ViewState } from '../state.ts';
import type { AlertTransition, BaselineSummary, DriftReport, FeatureDrift, Performance, ShadowReport, ShadowSummary } from '../types.ts';
import { showFeatureTable } from '../feature-table.ts';
import { nextSort, summaryHtml, withQuality } from '../window-view.ts';

/** Features the heatmap shows unless asked for all: the strongest, by the newest window's ranking. */
const HEATMAP_TOP = 40;
/** Windows read for the time charts. */
const HISTORY_LIMIT = 500;
/** How long the window's fresh computation waits for the heatmap's series to answer first (see renderModel). */
const SERIES_HEAD_START_MS = 1000;

interface Loaded {
  key: string;
  from: Date;
  to: Date;
  history: DriftReport[];
  baselines: BaselineSummary[];
  window: { from: string; to: string } | null;
  /** The heatmap's drift series over the range; its history is drawn until (and where) it cannot answer. */
  series: HeatmapSeries;
  report: DriftReport | null;
  /** Whether `report` is the one computed now, with distributions, or the stored one shown meanwhile. */
  final: boolean;
}

// The charts (Observable Plot, most of the code) are a module of their own,
// loaded while the page's first API answers are on their way rather than
// evaluated before the page may ask (ui/build.ts). Everything drawn with
// them waits for `loadCharts` first.
let charts: typeof import('../charts.ts') | undefined;
let loading: Promise<unknown> | undefined;
const loadCharts = () => (loading ??= import('../charts.ts').then((m) => (charts = m)));
function chart(): typeof import('../charts.ts') {
  if (!charts) throw new Error('the charts are not loaded yet');
  return charts;
}

// What the page has drawn: a change of sort, search or selected feature
// redraws the table and the feature panel from it, without asking again.
let loaded: Loaded | null = null;

const dataKey = (s: ViewState) => [s.model, s.from, s.to, s.baseline, s.window, s.segment_by].join('|');

const isoOrUndefined = (s: string | undefined) => (s ? new Date(s).toISOString() : undefined);

/**
 * Draws a model's page. `opened` is called once the page is usable: its
 * header, the heatmap and the ranked feature table (the stored window's,
 * searchable and sortable) are on the screen; the distributions computed now,
 * the time charts, segments and shadows follow (docs/ui.md, bench/ui.ts).
 */
export async function renderModel(root: HTMLElement, state: ViewState, current: () => boolean, opened: () => void = () => {}): Promise<void> {
  const model = state.model!;
  const key = dataKey(state);
  if (loaded?.key === key && root.querySelector('#features')) {
    drawTableAndFeature(root, state, loaded.report, loaded.final);
    drawHeatmap(root, state, loaded);
    return;
  }
  loaded = null;
  root.innerHTML = layout(model, state);
  wireControls(root, state);

  const range = { from: isoOrUndefined(state.from), to: isoOrUndefined(state.to) };
  const historyAnswer = get<{ windows: DriftReport[] }>(`/v1/models/${encodeURIComponent(model)}/drift/history`, { ...range, limit: HISTORY_LIMIT, compact: true });
  // Opened without a window or baseline named (the usual way in), the page
  // shows the range's newest window, as stored: asked for in full at once,
  // beside the compact history, rather than after it.
  const newest: Promise<DriftReport | null> =
    !state.window && !state.baseline
      ? get<{ windows: DriftReport[] }>(`/v1/models/${encodeURIComponent(model)}/drift/history`, { ...range, limit: 1 }).then((r) => r.windows[0] ?? null, () => null)
      : Promise.resolve(null);
  // The charts load while the first answers are on their way.
  const [[history, baselines]] = await Promise.all([
    Promise.all([
      historyAnswer.then((r) => r.windows),
      get<{ baselines: BaselineSummary[] }>(`/v1/models/${encodeURIComponent(model)}/baselines`).then((r) => r.baselines),
    ]),
    loadCharts(),
  ]);
  if (!current()) return;

  // The range shown: as asked, or the span of the stored windows (the last hour without any).
  const to = state.to ? new Date(state.to) : history.length ? new Date(history[0].to) : new Date();
  const from = state.from ? new Date(state.from) : history.length ? new Date(history[history.length - 1].from) : new Date(to.getTime() - 3_600_000);
  fillRangeInputs(root, from, to);

  // The window shown in detail: the one asked for (a stored window, or a step of the heatmap's series), else the newest in range, else the whole range.
  const window = pickWindow(state.window, history);
  const windowRange = window ? { from: window.from, to: window.to } : { from: from.toISOString(), to: to.toISOString() };

  const heatmapEl = root.querySelector<HTMLElement>('#heatmap')!;
  const series = new HeatmapSeries({ model, baseline: state.baseline, from: from.getTime(), to: to.getTime(), plotWidth: width(heatmapEl) - chart().LEFT - 20 }, () => {
    if (loaded === data) drawHeatmap(root, readState(), data);
  });
  const data: Loaded = { key, from, to, history, baselines, window: window && { from: window.from, to: window.to }, series, report: null, final: false };
  loaded = data;
  fillWindowPicker(root, history, window ? (window.stored?.from ?? state.window!) : 'range', window && !window.stored ? window : null);
  fillBaselines(root, baselines, state.baseline);
  drawHeatmap(root, state, data);

  const windowTitle = root.querySelector('#window-title')!;
  windowTitle.textContent = `${window ? 'Window' : 'Range'} ${time(windowRange.from)} to ${time(windowRange.to)}`;
  const detail = root.querySelector<HTMLElement>('#window')!;
  const show = (report: DriftReport, final: boolean) => {
    data.report = report;
    data.final = final;
    detail.querySelector('#summary')!.innerHTML = summaryHtml(report, baselines.find((b) => b.baseline_id === report.baseline_id));
    drawTableAndFeature(root, readState(), report, final);
    markBaselineInUse(root, report.baseline_id);
  };
  // A stored window, against the baseline it was analysed with, is on the
  // screen at once from history; the distributions, computed now (seconds
  // for hundreds of features), follow and replace it.
  const storedWindow = (w: DriftReport) =>
    get<{ windows: DriftReport[] }>(`/v1/models/${encodeURIComponent(model)}/drift/history`, {
      from: w.from,
      to: new Date(Date.parse(w.from) + 1).toISOString(),
      limit: 1,
    }).then((r) => r.windows[0] ?? null, () => null);
  const storedAs = window?.stored;
  const stored =
    storedAs && (!state.baseline || state.baseline === storedAs.baseline_id)
      ? newest.then((r) => (r?.from === storedAs.from ? r : storedWindow(storedAs)))
      : Promise.resolve(null);
  // The stored window is asked for, and drawn, before the rest: the embedded
  // store runs one statement at a time, and behind the fresh computation
  // (seconds for hundreds of features) the table would wait as long.
  const storedReport = await stored;
  if (!current()) return;
  if (storedReport) {
    show(storedReport, false);
    opened();
  }
  // The heatmap's series goes out now, not before what opens the page
  // (which the engine would otherwise answer after it), and the heatmap is
  // redrawn from it when it arrives. It gets a head start on the fresh
  // computation, of SERIES_HEAD_START_MS at most: the embedded engine runs
  // one statement at a time, and beside that computation (seconds for
  // hundreds of features) each of the series' few statements waits for one
  // of its, so a 0.1 s answer came after 5 s, and the computation, waiting
  // for the same engine either way, ends about as late as before.
  series.start();
  await Promise.race([series.first, new Promise((r) => setTimeout(r, SERIES_HEAD_START_MS))]);
  if (!current()) return;
  const fresh = get<DriftReport>(`/v1/models/${encodeURIComponent(model)}/drift`, {
    ...windowRange,
    baseline_id: state.baseline,
    include: ['distributions', 'segment_tags'],
  });
  const perf = get<{ windows: Performance[] }>(`/v1/models/${encodeURIComponent(model)}/performance/history`, {
    from: from.toISOString(),
    to: to.toISOString(),
    limit: HISTORY_LIMIT,
  }).then((r) => r.windows);
  const alerts = get<{ history: AlertTransition[] }>('/v1/alerts', { model, from: from.toISOString(), to: new Date(to.getTime() + 1).toISOString(), limit: 1000 })
    .then((r) => r.history)
    .catch((err) => (err instanceof ApiError && err.status === 404 ? [] : Promise.reject(err)));
  const sections: Promise<void>[] = [];
  try {
    const report = await fresh;
    if (!current()) return;
    show(report, true);
    opened();
    sections.push(drawSegments(root, model, report, windowRange, state, current), drawShadows(root, model, windowRange, current));
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401 || err.status === 403) throw err;
    detail.querySelector('#summary')!.innerHTML = `<p class="error">${esc(err.message)}</p>`;
    opened();
  }
  const [perfWindows, transitions] = await Promise.all([perf, alerts]);
  if (!current()) return;
  drawTimeline(root, data, perfWindows, transitions);
  // The page is ready once every section has drawn, the heatmap from the series too.
  await Promise.all([...sections, series.first]);
}

function layout(model: string, state: ViewState): string {
  return `
  <nav class="crumbs"><a href="/ui" data-nav>all models</a> › ${esc(model)}</nav>
  <header class="top"><h1>${esc(model)}</h1><p class="muted" id="range-note"></p></header>
  <form class="controls" id="controls">
    <label>from (UTC)<input type="datetime-local" step="1" name="from"></label>
    <label>to (UTC)<input type="datetime-local" step="1" name="to"></label>
    <button type="submit">Apply</button>
    <span class="presets">${[
      ['15m', 15 * 60_000],
      ['1h', 3_600_000],
      ['6h', 6 * 3_600_000],
      ['24h', 86_400_000],
      ['7d', 7 * 86_400_000],
    ]
      .map(([l, ms]) => `<button type="button" data-preset="${ms}">last ${l}</button>`)
      .join('')}<button type="button" data-preset="">stored windows</button></span>
    <label>window<select name="window"></select></label>
    <label>baseline<select name="baseline"><option value="">active (default)</option></select></label>
    <button type="button" id="download">Download report</button>
  </form>
  <section class="timeline"><h2>Over time</h2>
    <div class="toolbar"><span id="heatmap-note" class="muted"></span></div>
    <div id="heatmap"><p class="muted">Loading…</p></div>
    <div id="timeline"></div>
  </section>
  <section id="window"><h2 id="window-title">Window</h2>
    <div id="summary"><p class="muted">Loading…</p></div>
    <div class="split">
      <div>
        <div class="toolbar"><input type="search" id="search" placeholder="search features" value="${esc(state.q ?? '')}" aria-label="search features"><span id="count" class="muted"></span></div>
        <div class="table-wrap" id="features"></div>
      </div>
      <div class="panel" id="feature"></div>
    </div>
  </section>
  <section><h2>Segments</h2><div id="segments"><p class="muted">Loading…</p></div></section>
  <section><h2>Shadow models</h2><div id="shadows"><p class="muted">Loading…</p></div></section>
  <section><h2>Baselines</h2><div id="baselines"></div></section>`;
}

const toLocalInput = (d: Date) => d.toISOString().slice(0, 19);
const fromLocalInput = (v: string) => (v ? new Date(`${v}Z`).toISOString() : undefined);

function fillRangeInputs(root: HTMLElement, from: Date, to: Date): void {
  const form = root.querySelector<HTMLFormElement>('#controls')!;
  (form.elements.namedItem('from') as HTMLInputElement).value = toLocalInput(from);
  (form.elements.namedItem('to') as HTMLInputElement).value = toLocalInput(to);
  root.querySelector('#range-note')!.textContent = `${time(from)} to ${time(to)}`;
}

function wireControls(root: HTMLElement, state: ViewState): void {
  const form = root.querySelector<HTMLFormElement>('#controls')!;
  const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    navigate({ from: fromLocalInput(value('from')), to: fromLocalInput(value('to')), window: undefined });
  });
  form.querySelectorAll<HTMLButtonElement>('button[data-preset]').forEach((b) =>
    b.addEventListener('click', () => {
      const ms = Number(b.dataset.preset);
      const now = Date.now();
      navigate(b.dataset.preset ? { from: new Date(now - ms).toISOString(), to: new Date(now).toISOString(), window: undefined } : { from: undefined, to: undefined, window: undefined });
    }),
  );
  form.querySelector<HTMLSelectElement>('select[name=window]')!.addEventListener('change', (e) => navigate({ window: (e.target as HTMLSelectElement).value }));
  form.querySelector<HTMLSelectElement>('select[name=baseline]')!.addEventListener('change', (e) => navigate({ baseline: (e.target as HTMLSelectElement).value || undefined }));
  root.querySelector('#download')!.addEventListener('click', () => void download(state));

  const search = root.querySelector<HTMLInputElement>('#search')!;
  // Each keystroke refines this view: the URL follows without a history entry per letter.
  search.addEventListener('input', () => navigate({ q: search.value || undefined }, { replace: true }));
  const table = root.querySelector<HTMLElement>('#features')!;
  table.addEventListener('click', (e) => {
    const target = e.target as Element;
    const sort = target.closest<HTMLButtonElement>('button[data-sort]');
    if (sort) return navigate({ sort: nextSort(readState().sort, sort.dataset.sort!) }, { replace: true });
    const row = target.closest<HTMLElement>('tr[data-feature]');
    if (row) navigate({ feature: row.dataset.feature });
  });
  root.querySelector('#heatmap-note')!.addEventListener('click', (e) => {
    const toggle = (e.target as Element).closest<HTMLButtonElement>('button[data-heatmap]');
    if (toggle) navigate({ heatmap: toggle.dataset.heatmap || undefined }, { replace: true });
  });
}

/** The report of what is on screen, fetched with the key and saved as a file: the key never goes into a link. */
async function download(state: ViewState): Promise<void> {
  const range = loaded?.window ?? (loaded ? { from: loaded.from.toISOString(), to: loaded.to.toISOString() } : undefined);
  const html = await getText(`/v1/models/${encodeURIComponent(state.model!)}/report.html`, { ...range, baseline_id: state.baseline });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
  a.download = `driftwatch-${state.model}-${(range?.from ?? '').replace(/[:.]/g, '-')}.html`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/**
 * The window `asked` names: "range" (none: the whole range), a stored
 * window by its start, or a "from/to" interval (a step of the heatmap's
 * series, stored or not); else the newest stored window.
 */
function pickWindow(asked: string | undefined, history: DriftReport[]): { from: string; to: string; stored: DriftReport | null } | null {
  if (asked === 'range') return null;
  const ms = (s: string | undefined) => (s ? Date.parse(s) : NaN);
  const [a, b] = asked?.includes('/') ? asked.split('/').map(ms) : [ms(asked), NaN];
  const found = Number.isFinite(a) ? history.find((w) => Date.parse(w.from) === a && (!Number.isFinite(b) || Date.parse(w.to) === b)) : undefined;
  if (!found && Number.isFinite(b) && a < b) return { from: new Date(a).toISOString(), to: new Date(b).toISOString(), stored: null };
  const w = found ?? history[0];
  return w ? { from: w.from, to: w.to, stored: w } : null;
}

function fillWindowPicker(root: HTMLElement, history: DriftReport[], selected: string, step: { from: string; to: string } | null): void {
  const select = root.querySelector<HTMLSelectElement>('select[name=window]')!;
  select.innerHTML =
    `<option value="range">whole range</option>` +
    (step ? `<option value="${esc(selected)}">${esc(time(step.from))} to ${esc(time(step.to))}</option>` : '') +
    history.map((w) => `<option value="${esc(w.from)}">${esc(time(w.from))}${w.drifted_features.length ? ` · ${w.drifted_features.length} drifted` : ''}</option>`).join('');
  select.value = selected;
}

function fillBaselines(root: HTMLElement, baselines: BaselineSummary[], selected: string | undefined): void {
  const models = baselines.filter((b) => !b.segment);
  const select = root.querySelector<HTMLSelectElement>('select[name=baseline]')!;
  select.innerHTML =
    `<option value="">active (default)</option>` +
    models.map((b) => `<option value="${esc(b.baseline_id)}">${esc(b.name || short(b.baseline_id))} · ${esc(time(b.from))}${b.active ? ' · active' : ''}</option>`).join('');
  select.value = selected ?? '';
  root.querySelector('#baselines')!.innerHTML = models.length
    ? `<table class="models"><thead><tr><th>baseline</th><th>from</th><th>to</th><th>events</th><th>frozen</th><th></th></tr></thead><tbody>${models
        .map(
          (b) => `<tr data-baseline="${esc(b.baseline_id)}"><td>${b.name ? `${esc(b.name)} ` : ''}<code>${esc(b.baseline_id)}</code>${b.active ? ' <span class="pill">active</span>' : ''}${b.rolled ? ' <span class="muted">rolled</span>' : ''}</td><td>${esc(time(b.from))}</td><td>${esc(time(b.to))}</td>
          <td>${int(b.n_events)}</td><td>${esc(time(b.created_at))}</td>
          <td class="use"><a href="${esc(stateUrl({ ...readState(), baseline: b.baseline_id }))}" data-nav>compare with this one</a></td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p>No baseline yet: freeze one with <code>POST /v1/models/{model}/baselines</code>.</p>';
}

function markBaselineInUse(root: HTMLElement, baselineId: string): void {
  root.querySelectorAll<HTMLElement>('#baselines tr[data-baseline]').forEach((tr) => {
    const inUse = tr.dataset.baseline === baselineId;
    tr.classList.toggle('selected', inUse);
    if (inUse) tr.querySelector('td.use')!.innerHTML = '<b>in use here</b>';
  });
}

function drawHeatmap(root: HTMLElement, state: ViewState, data: Loaded): void {
  const el = root.querySelector<HTMLElement>('#heatmap')!;
  const note = root.querySelector<HTMLElement>('#heatmap-note')!;
  const { series } = data;
  // Rows: the newest stored window's ranking; without one, the series' own (asked for every feature).
  const order = data.history.length > 0 ? historyOrder(data.history) : series.order ?? [];
  if (order.length === 0) {
    if (series.state === 'waiting' || series.state === 'loading') {
      series.want(null);
      el.innerHTML = '<p class="muted">Loading drift over time…</p>';
    } else {
      el.innerHTML = '<p class="muted">No analysed window in this range yet: the scheduled analysis stores one every ANALYSIS_WINDOW once the model has a baseline.</p>';
    }
    el.dataset.source = '';
    el.dataset.settled = String(series.state !== 'waiting' && series.state !== 'loading');
    note.textContent = '';
    return;
  }
  const q = (state.q ?? '').toLowerCase();
  const matching = q ? order.filter((f) => f.toLowerCase().includes(q)) : order;
  const shown = state.heatmap === 'all' ? matching : matching.slice(0, HEATMAP_TOP);
  series.want(shown);

  let cells: HeatCell[];
  let gaps: HeatGap[] = [];
  let source: HeatSource;
  let shape: string;
  const fromSeries = series.state === 'answered' ? series.cells(shown) : null;
  if (fromSeries?.source) {
    ({ cells, gaps } = fromSeries);
    source = fromSeries.source;
    shape = `${series.columns} steps of ${stepLabel(series.step)}, coloured by PSI; × marks a drifted cell${gaps.length ? ', a dashed outline a step not available' : ''}${
      fromSeries.missing ? ` (${fromSeries.missing} rows loading)` : ''
    }. Click a cell to open that step and feature.`;
  } else {
    cells = historyCells(data.history, new Set(shown));
    source = 'history';
    const why =
      series.state === 'failed'
        ? ` (the drift series could not answer: ${series.reason})`
        : series.state !== 'answered' || fromSeries?.missing
          ? ' (the drift series is on its way)'
          : '';
    shape = `${data.history.length} windows, coloured by drift score; × marks a drifted cell${why}. Click a cell to open that window and feature.`;
  }
  el.dataset.source = source;
  // Settled: what is drawn is what the page will show, no series answer still to come.
  el.dataset.settled = String(series.state === 'failed' || (series.state === 'answered' && !fromSeries?.missing));
  note.innerHTML =
    `<b>Drift over time ${esc(SOURCE_TEXT[source])}</b>: ${shown.length} of ${order.length} features × ${esc(shape)}` +
    (matching.length > HEATMAP_TOP ? ` <button type="button" data-heatmap="${state.heatmap === 'all' ? '' : 'all'}">${state.heatmap === 'all' ? `top ${HEATMAP_TOP} only` : `show all ${matching.length}`}</button>` : '');
  const drawn = chart().heatmap(cells, shown, [data.from, data.to], width(el), gaps);
  drawn.addEventListener('click', (e) => {
    const cell = chart().heatCellAt(e.target, cells);
    if (!cell) return;
    // A stored window opens as today (by its start); any other step as its interval, computed now.
    const stored = data.history.find((w) => Date.parse(w.from) === cell.from.getTime() && Date.parse(w.to) === cell.to.getTime());
    navigate({ window: stored ? stored.from : `${cell.from.toISOString()}/${cell.to.toISOString()}`, feature: cell.feature });
  });
  el.replaceChildren(drawn);
}

const width = (el: HTMLElement) => Math.max(640, el.clientWidth || 1200);

function drawTimeline(root: HTMLElement, data: Loaded, perf: Performance[], transitions: AlertTransition[]): void {
  const el = root.querySelector<HTMLElement>('#timeline')!;
  const domain: [Date, Date] = [data.from, data.to];
  const w = width(el);
  const at = (r: { from?: string; to?: string }) => new Date((Date.parse(r.from!) + Date.parse(r.to!)) / 2);
  const blocks: [string, Element | string][] = [];

  const pred = data.history.filter((h) => h.prediction);
  if (pred.length > 0) {
    const points: Point[] = pred.map((h) => ({ t: at(h), v: h.prediction!.score }));
    const thresholds: Point[] = pred.map((h) => ({ t: at(h), v: h.prediction!.threshold }));
    const marked = pred.filter((h) => h.prediction!.drifted).map((h) => ({ t: at(h), v: h.prediction!.score }));
    blocks.push([
      'Prediction drift (PSI of the model output)',
      chart().timeChart(
        [
          { label: 'score', points, color: '#e8590c' },
          { label: 'threshold', points: thresholds, color: '#adb5bd' },
        ],
        domain,
        w,
        { marked },
      ),
    ]);
  }

  const quality = data.history.filter((h) => h.data_quality);
  if (quality.length > 0) {
    const worst = (h: DriftReport, key: 'missing_share' | 'type_violation_share') => Math.max(0, ...h.data_quality!.features.map((f) => f[key]));
    blocks.push([
      'Data quality (the worst feature of each window)',
      chart().timeChart(
        [
          { label: 'missing', points: quality.map((h) => ({ t: at(h), v: worst(h, 'missing_share') })), color: '#1c7ed6' },
          { label: 'wrong type', points: quality.map((h) => ({ t: at(h), v: worst(h, 'type_violation_share') })), color: '#ae3ec9' },
          { label: 'drifted share of features', points: data.history.map((h) => ({ t: at(h), v: h.drifted_share })), color: '#c92a2a' },
        ],
        domain,
        w,
        { percent: true },
      ),
    ]);
  }

  const labelled = perf.filter((p) => p.n_labelled > 0);
  const metric = labelled.length ? ['roc_auc', 'accuracy', 'f1', 'rmse', 'mae'].find((k) => k in labelled[0].metrics) ?? Object.keys(labelled[0].metrics)[0] : undefined;
  if (metric) {
    const base = labelled.find((p) => p.baseline_metrics?.[metric] != null)?.baseline_metrics?.[metric];
    blocks.push([
      `Performance: ${metric}`,
      chart().timeChart([{ label: metric, points: labelled.map((p) => ({ t: at(p), v: p.metrics[metric] })), color: '#2b8a3e' }], domain, w, {
        rules: base != null ? [{ v: base, label: `baseline ${num(base)}`, color: '#2b8a3e' }] : [],
      }),
    ]);
  }
  if (perf.length > 0) {
    blocks.push(['Label coverage', chart().timeChart([{ label: 'label coverage', points: perf.map((p) => ({ t: at(p), v: p.label_coverage })), color: '#495057' }], domain, w, { percent: true })]);
  } else blocks.push(['Performance', '<p class="muted">No stored performance in this range: labels are joined to events as they arrive.</p>']);

  blocks.push(['Alert transitions', transitions.length ? chart().alertChart(transitions, domain, w) : '<p class="muted">No alert changed state in this range.</p>']);

  el.replaceChildren(
    ...blocks.map(([title, body]) => {
      const div = document.createElement('div');
      div.innerHTML = `<h3>${esc(title)}</h3>`;
      if (typeof body === 'string') div.insertAdjacentHTML('beforeend', body);
      else div.append(body);
      return div;
    }),
  );
}

function drawTableAndFeature(root: HTMLElement, state: ViewState, report: DriftReport | null, final: boolean): void {
  if (!report) return;
  const table = root.querySelector<HTMLElement>('#features')!;
  const selected = state.feature && report.features.some((f) => f.feature === state.feature) ? state.feature : report.features[0]?.feature;
  const shown = showFeatureTable(table, withQuality(report), { sort: state.sort, q: state.q, selected });
  root.querySelector('#count')!.textContent = `${shown} of ${report.features.length} features`;
  const search = root.querySelector<HTMLInputElement>('#search')!;
  if (document.activeElement !== search) search.value = state.q ?? '';
  const f = report.features.find((x) => x.feature === selected) ?? (state.feature === '@prediction' ? report.prediction : null);
  drawFeature(root.querySelector<HTMLElement>('#feature')!, f ?? null, report, final);
}

function drawFeature(panel: HTMLElement, f: FeatureDrift | null, report: DriftReport, final: boolean): void {
  if (!f) {
    panel.innerHTML = '<p class="muted">No feature in this report.</p>';
    return;
  }
  const q = report.data_quality?.features.find((x) => x.feature === f.feature);
  const stats = Object.entries(f.metrics ?? {})
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${k.endsWith('share') ? pct(v) : num(v)}</td></tr>`)
    .join('');
  panel.innerHTML = `<h3>${esc(f.feature)} <span class="verdict ${f.drifted ? 'drifted' : f.status === 'ok' ? 'ok' : 'none'}">${f.drifted ? 'DRIFTED' : f.status === 'ok' ? 'no drift' : esc(f.status)}</span></h3>
    <p class="muted">${esc(f.kind)} · ${esc(f.method ?? '')} ${num(f.score)} against a threshold of ${num(f.threshold)} · ${int(f.n_current)} events now, ${int(f.n_reference)} in the baseline${
      q ? ` · present in ${pct(q.present_share)}, missing ${pct(q.missing_share)}, wrong type ${pct(q.type_violation_share)}` : ''
    }</p>`;
  if (final) panel.append(chart().distributionChart(f.distribution, Math.max(360, panel.clientWidth - 24), f.new_categories?.map((c) => c.value)));
  else panel.insertAdjacentHTML('beforeend', '<p class="muted" id="distribution-pending">Computing the distributions…</p>');
  panel.insertAdjacentHTML('beforeend', `<details><summary>every statistic</summary><table>${stats}</table></details>`);
}

async function drawSegments(
  root: HTMLElement,
  model: string,
  report: DriftReport,
  range: { from: string; to: string },
  state: ViewState,
  current: () => boolean,
): Promise<void> {
  const el = root.querySelector<HTMLElement>('#segments')!;
  const tags = report.segment_tags ?? [];
  if (tags.length === 0) {
    el.innerHTML = '<p class="muted">The baseline in use has no segments: freeze one with <code>"segment_by": "&lt;tag&gt;"</code> to compare each value of a tag with its own reference.</p>';
    return;
  }
  const tag = state.segment_by && tags.includes(state.segment_by) ? state.segment_by : tags[0];
  try {
    const withSegments = await get<DriftReport>(`/v1/models/${encodeURIComponent(model)}/drift`, { ...range, baseline_id: report.baseline_id, segment_by: tag });
    if (!current()) return;
    const segments = withSegments.segments ?? [];
    el.innerHTML = `<div class="toolbar">by ${tags.map((t) => `<a href="${esc(stateUrl({ ...readState(), segment_by: t }))}" data-nav class="pill${t === tag ? ' bad' : ''}">${esc(t)}</a>`).join('')}</div>
      <table class="models"><thead><tr><th>${esc(tag)}</th><th>events</th><th>drifted features</th><th>drifted share</th><th>dataset</th></tr></thead><tbody>${segments
        .map(
          (s) => `<tr><td>${esc(s.segment?.value ?? '')}</td><td>${int(s.n_events)}</td><td>${s.drifted_features.map((f) => `<span class="pill bad">${esc(f)}</span>`).join('') || '–'}</td>
          <td>${pct(s.drifted_share)}</td><td>${s.dataset_drifted ? '<span class="verdict drifted">DRIFTED</span>' : '<span class="verdict ok">no drift</span>'}</td></tr>`,
        )
        .join('')}</tbody></table>`;
  } catch (err) {
    el.innerHTML = `<p class="error">${esc((err as Error).message)}</p>`;
  }
}

async function drawShadows(root: HTMLElement, model: string, range: { from: string; to: string }, current: () => boolean): Promise<void> {
  const el = root.querySelector<HTMLElement>('#shadows')!;
  let shadows: ShadowSummary[];
  try {
    shadows = (await get<{ shadows: ShadowSummary[] }>(`/v1/models/${encodeURIComponent(model)}/shadow`)).shadows;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) shadows = [];
    else throw err;
  }
  if (!current()) return;
  if (shadows.length === 0) {
    el.innerHTML = '<p class="muted">No shadow model: register an ONNX copy with <code>POST /v1/models/{model}/shadow</code> (docs/shadow.md).</p>';
    return;
  }
  const rows: string[] = [];
  for (const s of shadows) {
    try {
      const r = await get<ShadowReport>(`/v1/models/${encodeURIComponent(model)}/shadow/${encodeURIComponent(s.name)}/report`, range);
      const perf = Object.keys(r.performance?.champion ?? {})
        .slice(0, 3)
        .map((k) => `${esc(k)} ${num(r.performance.shadow[k], 3)} <span class="muted">vs ${num(r.performance.champion[k], 3)}</span>`)
        .join('<br>');
      rows.push(`<tr><td>${esc(s.name)}</td><td>${esc(s.role)}</td><td>${int(r.n_scored)} of ${int(r.n_sampled)}</td>
        <td>${pct(r.comparison.mismatch_share, 2)}</td><td>${num(r.comparison.mean_abs_diff)}</td><td>${pct(r.comparison.class_agreement, 2)}</td>
        <td>${perf || '<span class="muted">no labels</span>'}</td></tr>`);
    } catch (err) {
      rows.push(`<tr><td>${esc(s.name)}</td><td>${esc(s.role)}</td><td colspan="5" class="error">${esc((err as Error).message)}</td></tr>`);
    }
  }
  if (!current()) return;
  el.innerHTML = `<table class="models"><thead><tr><th>shadow</th><th>role</th><th>scored</th><th title="Parity: share of compared predictions that differ beyond the tolerance">mismatch</th>
    <th>mean |diff|</th><th>class agreement</th><th title="Challenger against champion, on the labelled events">performance (shadow vs production)</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}
