import * as Plot from '@observablehq/plot';
import type { AlertTransition, Distribution } from './types.ts';
import { num, pct, time } from './format.ts';

/**
 * Every chart of the UI and the report, drawn by Observable Plot as SVG: one
 * element per cell or bar, which a test (or a screen reader) can find, that
 * prints sharply, and that needs no canvas. The time charts of a model share
 * one left margin and width, so their time axes line up.
 */
export const LEFT = 170;
const COLORS = { reference: '#8a94a6', current: '#e8590c', drifted: '#c92a2a', ok: '#2b8a3e', fresh: '#7048e8' };

const tip = (lines: (string | false | undefined)[]) => lines.filter(Boolean).join('\n');

export interface HeatCell {
  feature: string;
  from: Date;
  to: Date;
  score: number | null;
  threshold: number | null;
  drifted: boolean;
  status: string;
  /** The score's method when it is one for every cell (the series: PSI); else the window's decisive one. */
  metric?: string;
  /** Where a series cell's counts came from (preaggregates, raw). */
  source?: string;
}

/** A feature's step that no source could answer: drawn as a gap, never as a score of zero. */
export interface HeatGap {
  feature: string;
  from: Date;
  to: Date;
}

/**
 * Features (rows, strongest first) x analysis windows or series steps
 * (time), coloured by drift score; drifted cells carry a mark, gaps a
 * dashed outline. Cells are drawn inside `domain` (a series' steps may reach
 * past the page's range), so the time axis is the other charts'.
 */
export function heatmap(cells: HeatCell[], features: string[], domain: [Date, Date], width: number, gaps: HeatGap[] = []): Element {
  const scores = cells.map((c) => c.score ?? 0);
  const top = Math.max(0.05, ...scores.filter(Number.isFinite));
  const color = Plot.scale({ color: { type: 'sqrt', domain: [0, top], range: ['#f8f9fa', '#e8590c'], clamp: true } });
  const fill = (c: HeatCell) => (c.status === 'no_data' || c.score === null ? '#dee2e6' : String(color.apply(c.score)));
  const x1 = (c: { from: Date }) => new Date(Math.max(c.from.getTime(), domain[0].getTime()));
  const x2 = (c: { to: Date }) => new Date(Math.min(c.to.getTime(), domain[1].getTime()));
  const scoreText = (c: HeatCell) => (c.metric ? `${c.metric} ${num(c.score)}` : `score ${num(c.score)} · threshold ${num(c.threshold)}`);
  const chart = Plot.plot({
    width,
    // Rows grow for a few features and stay readable for hundreds.
    height: 40 + (features.length <= 12 ? 24 : 16) * features.length,
    marginLeft: LEFT,
    marginTop: 24,
    x: { type: 'utc', domain, label: null, ticks: Math.max(2, Math.floor(width / 150)) },
    y: { domain: features, label: null, tickSize: 0 },
    marks: [
      Plot.barX(cells, {
        x1,
        x2,
        y: 'feature',
        fill,
        inset: 0.5,
        ariaDescription: 'heatmap cells',
        ariaLabel: (c: HeatCell) => `${c.feature}, window from ${time(c.from)}: ${c.drifted ? 'drifted' : c.status === 'ok' ? 'no drift' : c.status}`,
        title: (c: HeatCell) =>
          tip([c.feature, `${time(c.from)} – ${time(c.to)}`, scoreText(c), c.drifted ? 'DRIFTED' : c.status === 'ok' ? 'no drift' : c.status, c.source && `from ${c.source === 'raw' ? 'raw events' : 'the pre-aggregates'}`]),
      }),
      Plot.barX(gaps, {
        x1,
        x2,
        y: 'feature',
        fill: 'none',
        stroke: '#adb5bd',
        strokeDasharray: '2,2',
        inset: 1,
        ariaDescription: 'unavailable steps',
        title: (g: HeatGap) => tip([g.feature, `${time(g.from)} – ${time(g.to)}`, 'not available: the pre-aggregates cannot answer this step exactly, and the raw budget (SERIES_RAW_MAX_STEPS) went to newer steps']),
      }),
      Plot.dot(cells.filter((c) => c.drifted), {
        x: (c: HeatCell) => new Date((x1(c).getTime() + x2(c).getTime()) / 2),
        y: 'feature',
        symbol: 'times',
        r: 3.5,
        stroke: COLORS.drifted,
        strokeWidth: 2,
        ariaDescription: 'drifted cells',
      }),
    ],
  });
  chart.classList.add('heatmap');
  return chart;
}

/** A heatmap cell's feature and window start under a click, or null. */
export function heatCellAt(target: EventTarget | null, cells: HeatCell[]): HeatCell | null {
  const el = target as (Element & { __data__?: unknown }) | null;
  if (!el || el.tagName !== 'rect' || el.parentElement?.getAttribute('aria-description') !== 'heatmap cells') return null;
  // Plot binds each element to its datum's index.
  const i = el.__data__;
  return typeof i === 'number' ? (cells[i] ?? null) : null;
}

export interface Point {
  t: Date;
  v: number | null;
}

export interface Series {
  label: string;
  points: Point[];
  color: string;
}

/** Lines over the shared time axis; optional reference lines (a threshold, a baseline value). */
export function timeChart(
  series: Series[],
  domain: [Date, Date],
  width: number,
  opts: { y?: string; percent?: boolean; rules?: { v: number; label: string; color: string }[]; marked?: Point[] } = {},
): Element {
  const rows = series.flatMap((s) => s.points.filter((p) => p.v !== null && Number.isFinite(p.v)).map((p) => ({ ...p, label: s.label })));
  const colors = Object.fromEntries(series.map((s) => [s.label, s.color]));
  // Shares read against a fixed floor: a flat 0% line would otherwise get an axis of its own rounding noise.
  const top = Math.max(0, ...rows.map((r) => r.v!));
  // (In percent: Plot scales the values by 100 before the domain applies.)
  const shareDomain: [number, number] | undefined = opts.percent ? [0, 100 * Math.min(1, Math.max(0.05, top * 1.1))] : undefined;
  return Plot.plot({
    width,
    height: 150,
    marginLeft: LEFT,
    x: { type: 'utc', domain, label: null, ticks: Math.max(2, Math.floor(width / 150)) },
    y: { label: opts.y ?? (opts.percent ? 'share (%)' : null), grid: true, percent: opts.percent, zero: true, domain: shareDomain },
    color: { domain: series.map((s) => s.label), range: series.map((s) => s.color), legend: series.length > 1 },
    marks: [
      ...(opts.rules ?? []).map((r) => Plot.ruleY([r.v], { stroke: r.color, strokeDasharray: '4,3', title: r.label })),
      Plot.lineY(rows, { x: 't', y: 'v', z: 'label', stroke: (d: { label: string }) => colors[d.label] }),
      Plot.dot(rows, {
        x: 't',
        y: 'v',
        fill: (d: { label: string }) => colors[d.label],
        r: 2,
        title: (d: Point & { label: string }) => `${d.label} ${opts.percent ? pct(d.v) : num(d.v)}\n${time(d.t)}`,
      }),
      ...(opts.marked ? [Plot.dot(opts.marked, { x: 't', y: 'v', symbol: 'times', r: 4, stroke: COLORS.drifted, strokeWidth: 2, ariaDescription: 'drifted windows' })] : []),
    ],
  });
}

const STATUS_COLOR: Record<string, string> = { firing: '#c92a2a', pending: '#f08c00', resolved: '#2b8a3e', inactive: '#868e96' };

/** Alert transitions as marks on the shared time axis, one row per rule. */
export function alertChart(transitions: AlertTransition[], domain: [Date, Date], width: number): Element {
  const rules = [...new Set(transitions.map((t) => t.rule))];
  return Plot.plot({
    width,
    height: 30 + 22 * Math.max(1, rules.length),
    marginLeft: LEFT,
    x: { type: 'utc', domain, label: null, ticks: Math.max(2, Math.floor(width / 150)) },
    y: { domain: rules, label: null },
    color: { domain: Object.keys(STATUS_COLOR), range: Object.values(STATUS_COLOR), legend: true },
    marks: [
      Plot.dot(transitions, {
        x: (t: AlertTransition) => new Date(t.window_end),
        y: 'rule',
        fill: 'to_status',
        r: 5,
        ariaDescription: 'alert transitions',
        title: (t: AlertTransition) => tip([`${t.rule}${t.subject ? ` (${t.subject})` : ''}: ${t.from_status} → ${t.to_status}`, `value ${num(t.value)} · threshold ${num(t.threshold)}`, time(t.window_end)]),
      }),
    ],
  });
}

interface Bin {
  x1: number;
  x2: number;
  reference: number;
  current: number;
}

/**
 * A numeric feature's reference and current histograms over each other, on
 * the baseline's own (quantile) bins, as densities: share of events per unit,
 * so bins of different widths compare by area. The shares below and above
 * the reference range (the two open-ended bins) are written beside it.
 */
export function numericDistribution(d: Distribution, width: number): Element {
  const edges = d.edges ?? [];
  const refN = d.reference.reduce((a, b) => a + b, 0) || 1;
  const curN = d.current.reduce((a, b) => a + b, 0) || 1;
  const bins: Bin[] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    let [x1, x2] = [edges[i], edges[i + 1]];
    // A constant feature has one edge twice: draw its bin one unit wide.
    if (x2 <= x1) [x1, x2] = [x1 - 0.5, x1 + 0.5];
    const w = x2 - x1;
    bins.push({ x1, x2, reference: d.reference[i + 1] / refN / w, current: d.current[i + 1] / curN / w });
  }
  const below = { reference: d.reference[0] / refN, current: d.current[0] / curN };
  const above = { reference: d.reference.at(-1)! / refN, current: d.current.at(-1)! / curN };
  const share = (b: Bin, key: 'reference' | 'current') => b[key] * (b.x2 - b.x1);
  const title = (key: 'reference' | 'current') => (b: Bin) => `${key} ${pct(share(b, key))} of events\n[${num(b.x1)}, ${num(b.x2)})`;
  // The outer inner bins reach the reference's minimum and maximum: a long
  // tail would squeeze the rest into a corner. The axis stops two bin-widths
  // past the next edge, and those bins are drawn clipped (same density).
  const e = edges;
  const k = e.length - 1;
  const domain: [number, number] | undefined =
    k >= 3 ? [Math.max(e[0], e[1] - 2 * (e[2] - e[1])), Math.min(e[k], e[k - 1] + 2 * (e[k - 1] - e[k - 2]))] : undefined;
  const chart = Plot.plot({
    width,
    height: 220,
    marginLeft: 60,
    x: { label: null, domain },
    clip: true,
    y: { label: 'density', grid: true },
    color: { domain: ['reference', 'current'], range: [COLORS.reference, COLORS.current], legend: true },
    marks: [
      Plot.rectY(bins, { x1: 'x1', x2: 'x2', y: 'reference', fill: COLORS.reference, fillOpacity: 0.55, inset: 0.5, ariaDescription: 'reference', title: title('reference') }),
      Plot.rectY(bins, { x1: 'x1', x2: 'x2', y: 'current', fill: COLORS.current, fillOpacity: 0.3, stroke: COLORS.current, strokeWidth: 1.5, inset: 0.5, ariaDescription: 'current', title: title('current') }),
      Plot.ruleY([0]),
    ],
  });
  const figure = document.createElement('figure');
  figure.className = 'distribution numeric';
  figure.dataset.edges = JSON.stringify(edges);
  figure.append(chart);
  const caption = document.createElement('figcaption');
  caption.textContent = `Below the reference range: ${pct(below.current)} now (${pct(below.reference)} in the baseline) · above it: ${pct(above.current)} now (${pct(above.reference)})`;
  figure.append(caption);
  return figure;
}

const MAX_CATEGORIES = 25;

/** A categorical feature's category shares, reference beside current; categories the baseline never saw are marked new. */
export function categoricalDistribution(d: Distribution, width: number, newCategories: Set<string>): Element {
  const names = d.categories ?? [];
  const refN = d.reference.reduce((a, b) => a + b, 0) + (d.other?.reference ?? 0) || 1;
  const curN = d.current.reduce((a, b) => a + b, 0) + (d.other?.current ?? 0) || 1;
  let rows = names.map((c, i) => ({ category: c, reference: d.reference[i] / refN, current: d.current[i] / curN, fresh: newCategories.has(c) || d.reference[i] === 0 }));
  rows.sort((a, b) => Math.max(b.reference, b.current) - Math.max(a.reference, a.current));
  const rest = rows.slice(MAX_CATEGORIES);
  rows = rows.slice(0, MAX_CATEGORIES);
  const other = {
    category: rest.length > 0 ? `(${rest.length} more and other)` : '(other)',
    reference: (d.other?.reference ?? 0) / refN + rest.reduce((a, r) => a + r.reference, 0),
    current: (d.other?.current ?? 0) / curN + rest.reduce((a, r) => a + r.current, 0),
    fresh: false,
  };
  if (other.reference > 0 || other.current > 0) rows.push(other);
  const label = (r: { category: string; fresh: boolean }) => (r.fresh ? `${r.category} (new)` : r.category);
  const long = rows.flatMap((r) => [
    { category: label(r), series: 'reference', share: r.reference, fresh: r.fresh },
    { category: label(r), series: 'current', share: r.current, fresh: r.fresh },
  ]);
  const chart = Plot.plot({
    width,
    height: 30 + 34 * rows.length,
    marginLeft: 160,
    x: { label: 'share of events', percent: true, grid: true },
    fy: { domain: rows.map(label), label: null },
    y: { domain: ['reference', 'current'], axis: null },
    color: { domain: ['reference', 'current', 'new category'], range: [COLORS.reference, COLORS.current, COLORS.fresh], legend: true },
    marks: [
      Plot.barX(long, {
        fy: 'category',
        y: 'series',
        x: 'share',
        fill: (r: { series: string; fresh: boolean }) => (r.fresh && r.series === 'current' ? COLORS.fresh : r.series === 'reference' ? COLORS.reference : COLORS.current),
        ariaDescription: 'category shares',
        title: (r: { category: string; series: string; share: number }) => `${r.category}: ${pct(r.share)} (${r.series})`,
      }),
      Plot.ruleX([0]),
    ],
  });
  const figure = document.createElement('figure');
  figure.className = 'distribution categorical';
  figure.append(chart);
  return figure;
}

/** The chart for a feature's distribution, or a line saying why there is none. */
export function distributionChart(d: Distribution | undefined, width: number, newCategories: string[] = []): Element {
  if (!d) {
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = 'No distribution for this feature.';
    return p;
  }
  return d.kind === 'numeric' ? numericDistribution(d, width) : categoricalDistribution(d, width, new Set(newCategories));
}
