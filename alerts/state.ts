import { breaches, type Rule } from './rules.ts';

/**
 * The life of one alert series (rule, model, subject), one analysis window
 * at a time: inactive -> pending -> firing -> resolved -> inactive. Pure, so
 * every path is tested without a store, a clock or a network.
 */
export type AlertStatus = 'inactive' | 'pending' | 'firing' | 'resolved';

export interface SeriesState {
  status: AlertStatus;
  /** Consecutive windows beyond the threshold. */
  breaches: number;
  /** Consecutive windows on the good side of the resolve threshold while firing. */
  clears: number;
  value: number | null;
  /** When the current episode began (first breach), fired and resolved; epoch ms of window ends. */
  active_since: number | null;
  fired_at: number | null;
  resolved_at: number | null;
  /** End of the last window this series was evaluated for: a window is never evaluated twice. */
  window_end: number;
}

export const INACTIVE: SeriesState = {
  status: 'inactive',
  breaches: 0,
  clears: 0,
  value: null,
  active_since: null,
  fired_at: null,
  resolved_at: null,
  window_end: 0,
};

/**
 * The next state after a window whose value is `value` (null: the series has
 * no value this window, e.g. a feature absent or too few events; it counts as
 * not breaching, so an alert whose subject went away still resolves).
 */
export function step(prev: SeriesState, value: number | null, rule: Rule, windowEnd: number): SeriesState {
  const bad = value !== null && breaches(rule.op, value, rule.threshold);
  // While firing, only a value back past the resolve threshold counts as good (hysteresis).
  const stillBad = value !== null && breaches(rule.op, value, rule.resolve_threshold);
  const base = { ...prev, value, window_end: windowEnd };
  switch (prev.status) {
    case 'inactive':
    case 'resolved':
    case 'pending': {
      if (!bad) return { ...INACTIVE, value, window_end: windowEnd, resolved_at: prev.status === 'resolved' ? prev.resolved_at : null };
      const count = prev.status === 'pending' ? prev.breaches + 1 : 1;
      const since = prev.status === 'pending' ? prev.active_since : windowEnd;
      if (count >= rule.for_windows) return { ...base, status: 'firing', breaches: count, clears: 0, active_since: since, fired_at: windowEnd, resolved_at: null };
      return { ...base, status: 'pending', breaches: count, clears: 0, active_since: since, fired_at: null, resolved_at: null };
    }
    case 'firing': {
      if (stillBad) return { ...base, breaches: bad ? prev.breaches + 1 : prev.breaches, clears: 0 };
      const clears = prev.clears + 1;
      if (clears >= rule.resolve_windows) return { ...base, status: 'resolved', breaches: 0, clears, resolved_at: windowEnd };
      return { ...base, clears };
    }
  }
}
