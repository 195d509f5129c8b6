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
  /**
   * Set by withoutDuplicates once events_sample was found to hold every
   * event of the window that SAMPLED_EVENTS keeps ('unique': read without
   * FINAL, 'final': with it); absent, samples are drawn from events.
   */
  sample?: 'unique' | 'final';
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

/**
 * events_sample (migration 11) holds the events whose id hashes below
 * SAMPLE_PER_MILLION per million, copied at insert: one in sixteen. A read
 * that keeps the events with `cityHash64(event_id) % 1000000 < keep` finds
 * exactly the same rows there whenever keep is at most that, reading a
 * sixteenth of the window: the hash filter alone reads every granule of
 * events, since kept rows are spread through all of them. The number is
 * written out in the migration too (frozen text): change both or neither.
 */
export const SAMPLE_PER_MILLION = 62_500;

/**
 * The events a sample keeps, `param` (UInt64) per million, by the hash of
 * their ids: every version of an event is kept or dropped together, and
 * events_sample's view filters by the same expression.
 */
export const keptByHash = (param: string) => `cityHash64(event_id) % 1000000 < {${param}:UInt64}`;

/** keptByHash, or every event without hashing one when `param` is a million or more (a constant the engine folds). */
export const keptOrAll = (param: string) => `{${param}:UInt64} >= 1000000 OR ${keptByHash(param)}`;

/** The FROM source of a read that keeps `keepPerMillion` of the window's events by the hash of their ids. */
export const sampledEventsOf = (w: Window, keepPerMillion: number) =>
  w.sample && keepPerMillion <= SAMPLE_PER_MILLION ? (w.sample === 'unique' ? 'events_sample' : 'events_sample FINAL') : eventsOf(w);
