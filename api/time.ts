import { parseRfc3339 } from '../core/rfc3339.ts';
import { Errors } from './errors.ts';

// What the store's DateTime64(3) columns hold; beyond it a bound value would
// overflow (and epoch milliseconds past 2^53 cannot even be bound exactly).
const EARLIEST = Date.UTC(1900, 0, 1);
const LATEST = Date.UTC(2300, 0, 1) - 1;

/** Reads a query-string time: epoch milliseconds or RFC 3339 (a real date: no rolling over), between 1900 and 2299. */
export function parseTime(name: string, text: string): number {
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text);
  else {
    const parsed = parseRfc3339(text);
    if (!parsed.ok) throw new Errors.BadRange(`${name} must be epoch milliseconds or RFC 3339, got "${text.slice(0, 40)}", which ${parsed.reason}`);
    ms = parsed.ms;
  }
  if (ms < EARLIEST || ms > LATEST) throw new Errors.BadRange(`${name} must be between 1900-01-01 and 2299-12-31, got "${text.slice(0, 40)}"`);
  return ms;
}

/** A [from, to) range from optional query values, defaulting to the `defaultMs` before now. */
export function parseRange(from: string | undefined, to: string | undefined, defaultMs: number, now = Date.now()) {
  const end = to !== undefined ? parseTime('to', to) : now;
  const start = from !== undefined ? parseTime('from', from) : end - defaultMs;
  if (start >= end) throw new Errors.BadRange('from must be before to');
  return { from: start, to: end };
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** A result over a window as the API shows it: from, to and (when stored) computed_at as RFC 3339. */
export const windowOut = <T extends { from: number; to: number; computed_at?: number }>(r: T) => ({
  ...r,
  from: iso(r.from),
  to: iso(r.to),
  computed_at: r.computed_at !== undefined ? iso(r.computed_at) : undefined,
});

/** The range of a history query: from the beginning, up to and including now, unless given. */
export function parseHistoryRange(from: string | undefined, to: string | undefined, now = Date.now()) {
  return {
    from: from !== undefined ? parseTime('from', from) : 0,
    to: to !== undefined ? parseTime('to', to) : now + 1,
  };
}
