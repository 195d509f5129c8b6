import { msParam } from './sql.ts';

/** A model's events in [from, to), optionally only those whose tag `segment.tag` equals `segment.value`. */
export interface Window {
  model: string;
  from: number; // epoch ms, inclusive
  to: number; // epoch ms, exclusive
  segment?: { tag: string; value: string } | null;
  /** Count failed predictions (status 'error') too; by default analysis leaves them out (ANALYSIS_INCLUDE_FAILED). */
  includeFailed?: boolean;
}

/** The WHERE clause of a window; bind it with windowParams. */
export const WINDOW_SQL = `model = {model:String} AND ts >= ${msParam('from')} AND ts < ${msParam('to')}
  AND ({segment_tag:String} = '' OR tags[{segment_tag:String}] = {segment_value:String})
  AND ({include_failed:UInt8} = 1 OR status != 'error')`;

export function windowParams(w: Window) {
  return { model: w.model, from: w.from, to: w.to, segment_tag: w.segment?.tag ?? '', segment_value: w.segment?.value ?? '', include_failed: w.includeFailed ? 1 : 0 };
}
