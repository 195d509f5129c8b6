import { msParam } from './sql.ts';

/** A model's events in [from, to), optionally only those whose tag `segment.tag` equals `segment.value`. */
export interface Window {
  model: string;
  from: number; // epoch ms, inclusive
  to: number; // epoch ms, exclusive
  segment?: { tag: string; value: string } | null;
  /** Count failed predictions (status 'error') too; by default analysis leaves them out (ANALYSIS_INCLUDE_FAILED). */
  includeFailed?: boolean;
  /**
   * Set by store/aggregates.ts withoutDuplicates once it found no event of
   * the window's hours stored twice: reads of this window then skip FINAL,
   * which gives the same rows at a fraction of the cost.
   */
  unique?: boolean;
  /** Its stored events, deduplicated (as counted by withoutDuplicates), when already known. */
  storedEvents?: number;
}

/** The WHERE clause of a window whose parameters carry `prefix` (two windows in one statement); bind it with windowParams. */
export const windowSql = (prefix = '') => `model = {${prefix}model:String} AND ts >= ${msParam(`${prefix}from`)} AND ts < ${msParam(`${prefix}to`)}
  AND ({${prefix}segment_tag:String} = '' OR tags[{${prefix}segment_tag:String}] = {${prefix}segment_value:String})
  AND ({${prefix}include_failed:UInt8} = 1 OR status != 'error')`;

export const WINDOW_SQL = windowSql();

export function windowParams(w: Window, prefix = '') {
  return {
    [`${prefix}model`]: w.model,
    [`${prefix}from`]: w.from,
    [`${prefix}to`]: w.to,
    [`${prefix}segment_tag`]: w.segment?.tag ?? '',
    [`${prefix}segment_value`]: w.segment?.value ?? '',
    [`${prefix}include_failed`]: w.includeFailed ? 1 : 0,
  };
}

/**
 * The window's events as a FROM source: without FINAL only once
 * store/aggregates.ts withoutDuplicates found that FINAL would change
 * nothing there (`unique`), with it otherwise.
 */
export const eventsOf = (w: Window) => (w.unique ? 'events' : 'events FINAL');
