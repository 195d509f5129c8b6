/** Text for numbers, times and HTML, the same on every page and in the report. */

export const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function num(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e6)) return x.toExponential(2);
  return x.toFixed(digits);
}

export const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? '–' : `${(x * 100).toFixed(digits)}%`);

export const int = (x: number | null | undefined) => (x === null || x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));

/** A UTC time, to the second, as the API and the CLI print them. */
export const time = (iso: string | number | Date) => new Date(iso).toISOString().replace('T', ' ').replace(/\.000Z$|\.\d+Z$/, '') + ' UTC';

export const short = (id: string) => id.slice(0, 8);
