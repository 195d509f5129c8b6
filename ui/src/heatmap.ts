import { ApiError, get } from './api.ts';
import type { HeatCell, HeatGap } from './charts.ts';
import type { DriftReport, DriftSeries, FeatureSeries, SeriesStep } from './types.ts';

/**
 * What the model page's heatmap is drawn from: the drift series
 * (GET /drift/series, from the pre-aggregates or raw events) over the page's
 * range, or, where the series cannot answer, the stored history of the
 * scheduled windows. Plain data: the drawing is charts.ts's.
 */

const MINUTE = 60_000;
/** A column's step: the finest of these that gives at most one column per MIN_COLUMN_PX of the chart. */
export const STEP_LADDER = [1, 5, 15, 60, 360, 1440].map((m) => m * MINUTE);
const MIN_COLUMN_PX = 8;
/** How long a change of the features shown (typing in the search box) settles before the missing ones are asked for. */
const SETTLE_MS = 250;

/** The page's range widened to whole steps of the finest step that fits `plotWidth`. */
export function seriesRange(from: number, to: number, plotWidth: number): { from: number; to: number; step: number } {
  const columns = Math.max(1, Math.floor(plotWidth / MIN_COLUMN_PX));
  const aligned = (step: number) => ({ from: Math.floor(from / step) * step, to: Math.max(Math.ceil(to / step), Math.floor(from / step) + 1) * step, step });
  return STEP_LADDER.map(aligned).find((r) => (r.to - r.from) / r.step <= columns) ?? aligned(STEP_LADDER.at(-1)!);
}

export const stepLabel = (ms: number) => (ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${ms / MINUTE}m`);

/** Where the cells shown come from: the scheduled windows, or the series' steps by their source. */
export type HeatSource = 'history' | 'preaggregates' | 'raw' | 'mixed';

export const SOURCE_TEXT: Record<HeatSource, string> = {
  history: 'from scheduled windows',
  preaggregates: 'from the pre-aggregates',
  raw: 'from raw events',
  mixed: 'from the pre-aggregates and raw events',
};

/** Rows of the history's heatmap: the newest window's ranking (drifted first), then features only older windows had. */
export function historyOrder(history: DriftReport[]): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  for (const w of history) for (const f of w.features) if (!seen.has(f.feature)) seen.add(f.feature), order.push(f.feature);
  return order;
}

export function historyCells(history: DriftReport[], shown: Set<string>): HeatCell[] {
  const cells: HeatCell[] = [];
  for (const w of history) {
    for (const f of w.features) {
      if (!shown.has(f.feature)) continue;
      cells.push({ feature: f.feature, from: new Date(w.from), to: new Date(w.to), score: f.score, threshold: f.threshold, drifted: f.drifted, status: f.status });
    }
  }
  return cells;
}

interface Loaded {
  series: FeatureSeries;
  steps: SeriesStep[];
}

/**
 * The series of one page's range and baseline, asked for feature by feature
 * as the heatmap shows them (the strongest 40, all of them, those a search
 * matches) and kept: a redraw asks only for features it has not got yet.
 * `state`: "waiting" until `start` (the page asks for what opens it first),
 * "loading" until the first answer, then "answered", or "failed" when that
 * answer could not be had or has no step available (the history is drawn
 * then, `reason` says why).
 */
export class HeatmapSeries {
  state: 'waiting' | 'loading' | 'answered' | 'failed' = 'waiting';
  reason = '';
  readonly from: number;
  readonly to: number;
  readonly step: number;
  readonly #features = new Map<string, Loaded>();
  /** The baseline's features in the order of the first answer (when it was asked for all). */
  #all: string[] | null = null;
  #wanted = new Set<string>();
  #wantAll = false;
  #busy = false;
  /** Whether an answer with rows arrived: the first one decides whether the series can answer at all. */
  #got = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #answered!: () => void;
  /** Resolves once the first answer is drawn, or failed (the page is "ready" only then). */
  readonly first = new Promise<void>((resolve) => (this.#answered = resolve));

  constructor(
    private readonly query: { model: string; baseline?: string; from: number; to: number; plotWidth: number },
    /** Called when an answer arrived (or failed): the heatmap redraws. */
    private readonly changed: () => void,
  ) {
    const r = seriesRange(query.from, query.to, query.plotWidth);
    this.from = r.from;
    this.to = r.to;
    this.step = r.step;
  }

  get columns(): number {
    return (this.to - this.from) / this.step;
  }

  /** Asks for these features (null: every feature of the baseline) once started, those not yet loaded only. */
  want(features: string[] | null): void {
    if (this.state === 'failed') return;
    if (features === null) this.#wantAll = this.#all === null;
    else for (const f of features) if (!this.#features.has(f)) this.#wanted.add(f);
    if (this.state === 'answered' && (this.#wanted.size > 0 || this.#wantAll)) this.#schedule(SETTLE_MS);
  }

  start(): void {
    if (this.state !== 'waiting') return;
    this.state = 'loading';
    // At once, not on a timer: the page's next requests queue behind it (ui/src/api.ts asks two at a time).
    void this.#fetch();
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#fetch(), ms);
  }

  async #fetch(): Promise<void> {
    if (this.#busy) return;
    const all = this.#wantAll;
    const names = [...this.#wanted];
    if (!all && names.length === 0) {
      // Started with no row to show (a search that matches none): nothing to ask yet.
      if (this.state === 'loading') {
        this.state = 'answered';
        this.#answered();
      }
      return;
    }
    this.#busy = true;
    this.#wanted.clear();
    this.#wantAll = false;
    try {
      const answer = await get<DriftSeries>(`/v1/models/${encodeURIComponent(this.query.model)}/drift/series`, {
        from: new Date(this.from).toISOString(),
        to: new Date(this.to).toISOString(),
        step: stepLabel(this.step),
        // Only the rows drawn: 40 of 500 features is an eighth of the work and of the answer.
        features: all ? undefined : names.join(','),
        baseline_id: this.query.baseline,
      });
      if (!this.#got && answer.steps.every((s) => s.source === 'unavailable')) {
        this.#fail('no step of the range was available');
      } else {
        for (const series of answer.features) this.#features.set(series.feature, { series, steps: answer.steps });
        if (all) this.#all = rankBySeries(answer);
        this.#got = true;
        this.state = 'answered';
      }
    } catch (err) {
      this.#fail(err instanceof ApiError ? err.message : String(err));
    } finally {
      this.#busy = false;
    }
    try {
      this.changed();
    } finally {
      this.#answered();
    }
    if (this.state === 'answered' && (this.#wanted.size > 0 || this.#wantAll)) this.#schedule(0);
  }

  #fail(reason: string): void {
    this.state = 'failed';
    this.reason = reason;
  }

  /** The baseline's features, strongest first, when the series was asked for all of them. */
  get order(): string[] | null {
    return this.#all;
  }

  /** Cells of the features shown that have arrived, and the steps no source answered, as gaps. */
  cells(shown: string[]): { cells: HeatCell[]; gaps: HeatGap[]; source: HeatSource | null; missing: number } {
    const cells: HeatCell[] = [];
    const gaps: HeatGap[] = [];
    const sources = new Set<string>();
    let missing = 0;
    for (const feature of shown) {
      const loaded = this.#features.get(feature);
      if (!loaded) {
        missing++;
        continue;
      }
      const { series, steps } = loaded;
      steps.forEach((s, i) => {
        const from = new Date(s.from);
        const to = new Date(s.to);
        if (s.source === 'unavailable') return void gaps.push({ feature, from, to });
        sources.add(s.source);
        const noData = !series.n[i] || series.psi[i] === null;
        const drifted = series.drifted[i] === true;
        cells.push({ feature, from, to, score: series.psi[i], threshold: null, drifted, status: noData ? 'no_data' : 'ok', metric: 'PSI', source: s.source });
      });
    }
    const source: HeatSource | null = sources.size === 2 ? 'mixed' : sources.size === 1 ? ([...sources][0] as HeatSource) : null;
    return { cells, gaps, source, missing };
  }
}

/** Without a stored window to rank by: drifted in the newest step with events first, then by its PSI. */
function rankBySeries(answer: DriftSeries): string[] {
  const latest = (f: FeatureSeries) => {
    for (let i = f.psi.length - 1; i >= 0; i--) if (f.psi[i] !== null && f.n[i]) return { drifted: f.drifted[i] === true, psi: f.psi[i]! };
    return { drifted: false, psi: -1 };
  };
  return answer.features
    // The model's output has a chart of its own.
    .filter((f) => f.feature !== '@prediction')
    .map((f) => ({ feature: f.feature, ...latest(f) }))
    .sort((a, b) => Number(b.drifted) - Number(a.drifted) || b.psi - a.psi)
    .map((f) => f.feature);
}
