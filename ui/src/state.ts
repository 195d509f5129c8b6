/**
 * What the page shows lives in its URL (?model=...&from=...), so that a link
 * pasted into a ticket opens the same view, and the browser's back button
 * goes to the previous one. Never a key.
 */
export interface ViewState {
  model?: string;
  /** The time range, RFC 3339. */
  from?: string;
  to?: string;
  baseline?: string;
  /** The analysis window shown in detail, by its start (RFC 3339); "range": the whole from/to. */
  window?: string;
  feature?: string;
  /** Feature table order: a column and a direction, e.g. "score:desc". */
  sort?: string;
  /** Feature table search. */
  q?: string;
  /** "all": the heatmap shows every feature, not the top ones. */
  heatmap?: string;
  /** Segment tag whose segments are shown. */
  segment_by?: string;
}

const KEYS: (keyof ViewState)[] = ['model', 'from', 'to', 'baseline', 'window', 'feature', 'sort', 'q', 'heatmap', 'segment_by'];

export function readState(search = location.search): ViewState {
  const params = new URLSearchParams(search);
  const state: ViewState = {};
  for (const k of KEYS) {
    const v = params.get(k);
    if (v) state[k] = v;
  }
  return state;
}

export function stateUrl(state: ViewState): string {
  const params = new URLSearchParams();
  for (const k of KEYS) if (state[k]) params.set(k, state[k]!);
  const s = params.toString();
  return s ? `/ui?${s}` : '/ui';
}

let onChange: (state: ViewState) => void = () => {};

export function listen(render: (state: ViewState) => void): void {
  onChange = render;
  window.addEventListener('popstate', () => onChange(readState()));
}

/** A new entry in the history (a different view), or `replace` for a refinement of this one (typing in the search box). */
export function navigate(patch: Partial<ViewState>, { replace = false } = {}): void {
  const next = { ...readState(), ...patch };
  for (const k of KEYS) if (next[k] === undefined || next[k] === '') delete next[k];
  const url = stateUrl(next);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  onChange(next);
}
