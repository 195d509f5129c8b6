/**
 * RFC 3339 date-times, read field by field: Date.parse rolls impossible
 * dates over (2026-02-30 becomes March 2nd, 24:00 the next day), so a
 * timestamp that is not a real date would be stored as another one.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const daysIn = (year: number, month: number) =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;

/** Epoch milliseconds (fractions below a millisecond truncated), or why `text` is not an RFC 3339 date-time. */
export function parseRfc3339(text: string): { ok: true; ms: number } | { ok: false; reason: string } {
  const m = RFC3339.exec(text);
  if (!m) return { ok: false, reason: 'is not RFC 3339' };
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12) return { ok: false, reason: `is not a real date: there is no month ${m[2]}` };
  if (day < 1 || day > daysIn(year, month)) return { ok: false, reason: `is not a real date: ${m[1]}-${m[2]} has no day ${m[3]}` };
  // RFC 3339 allows second 60 for a leap second, which epoch time cannot hold.
  if (hour > 23 || minute > 59 || second > 59) return { ok: false, reason: `is not a real time of day: ${m[4]}:${m[5]}:${m[6]}` };
  let offsetMinutes = 0;
  if (m[9]) {
    const [oh, om] = [Number(m[10]), Number(m[11])];
    if (oh > 23 || om > 59) return { ok: false, reason: `has no real UTC offset: ${m[9]}${m[10]}:${m[11]}` };
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const millis = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  return { ok: true, ms: date.getTime() - offsetMinutes * 60_000 };
}
