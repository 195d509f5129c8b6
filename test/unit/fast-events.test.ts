import { describe, expect, it } from 'vitest';
import { validateEvent } from '../../core/event.ts';
import { parseBody, type BodyFormat } from '../../ingest/body.ts';
import { BAIL, FastEventEncoder, skipSpace } from '../../ingest/fast-events.ts';
import { prepareBody, prepareItems } from '../../ingest/prepare.ts';
import { writeEventRow } from '../../store/events.ts';
import { RowBinaryWriter } from '../../store/rowbinary.ts';
import { makeEvents } from '../../bench/workload.ts';
import { event } from '../helpers.ts';

const limits = { now: Date.now(), maxFeatures: 50, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 };

/** The generic path on its own: JSON.parse, validateEvent, encode. What the fast path must equal. */
function generic(body: string, format: BodyFormat) {
  const parsed = parseBody(Buffer.from(body), format);
  if (!parsed.ok) return parsed;
  return { ok: true, prepared: prepareItems('events', parsed.items, limits) };
}

function same(body: string, format: BodyFormat) {
  const fast = prepareBody('events', Buffer.from(body), format, limits);
  const slow = generic(body, format);
  const view = (r: ReturnType<typeof prepareBody>) =>
    r.ok ? { ...r.prepared, encoded: Buffer.from(r.prepared.encoded).toString('hex') } : r;
  expect(view(fast), body).toEqual(view(slow as ReturnType<typeof prepareBody>));
}

/** The fast encoder alone on one event: its bytes, or BAIL. */
function fastOne(json: string): string | typeof BAIL {
  const w = new RowBinaryWriter();
  const bytes = Buffer.from(json);
  const q = new FastEventEncoder(w).encode(bytes, skipSpace(bytes, 0), limits);
  return q === BAIL ? BAIL : Buffer.from(w.take()).toString('hex');
}

function genericOne(json: string): string {
  const checked = validateEvent(JSON.parse(json), limits);
  if (!checked.ok) throw new Error(checked.reason);
  const w = new RowBinaryWriter();
  writeEventRow(w, checked.value);
  return Buffer.from(w.take()).toString('hex');
}

const ts = Date.now() - 60_000;
const base = { event_id: 'e1', model: 'credit', timestamp: ts, features: { x: 1.5, c: 'a' }, prediction: 0.5 };
const withBase = (patch: Record<string, unknown>) => JSON.stringify({ ...base, ...patch });

// Valid events the fast path must take, each with a different corner of the contract.
const TAKEN: string[] = [
  ...makeEvents(200, { start: ts - 1000 }).map((e) => JSON.stringify(e)),
  JSON.stringify(event({ timestamp: ts })),
  withBase({ features: { a: -0, b: 0, c: 1e5, d: 1.5e-7, e: 123456789012345678, f: 0.1, g: 5e-324, h: 1.7976931348623157e308 } }),
  // Past 15 digits one division is no longer exact: these must parse as JSON.parse does.
  withBase({ features: { a: 0.30000000000000004, b: 9007199254740993, c: 123456789012345.67, d: 1.2345678901234567, e: 2.2250738585072014e-308, f: 8.98846567431158e307 } }),
  '{"event_id":"e","model":"m","timestamp":' + ts + ',"features":{"a":9007199254740993,"b":0.1000000000000000055511151231257827,"c":7.0000000000000008881784197001,"d":-999999999999999.9},"prediction":1}',
  '{"prediction":0.25,"features":{"x":-12.34567,"y":1E3,"z":2e-2,"w":-0.0},"timestamp":' + ts + ',"model":"m.v:1_x-y","event_id":"z"}',
  ` { "event_id" : "w" , "model":"m" ,\t"timestamp" :\n${ts} , "features" : { "a" : true , "b" : false , "c" : null } , "prediction" : "yes" } `,
  withBase({ model_version: null, scores: null, tags: null, latency_ms: null }),
  withBase({ scores: { yes: 0.9, no: 0.1 }, tags: { region: 'eu', tier: '' }, latency_ms: 0, model_version: '' }),
  withBase({ latency_ms: -0 }),
  withBase({ extra: 'ignored', another: 12, flag: true, nothing: null }),
  withBase({ features: {} }),
  withBase({ timestamp: new Date(ts).toISOString() }),
  withBase({ timestamp: '2026-11-25 04:10:00.123+01:00'.replace('2026-11-25 04:10', new Date(ts + 3_600_000).toISOString().slice(0, 16).replace('T', ' ')) }),
  withBase({ timestamp: ts + 0.75 }),
  withBase({ event_id: 'i'.repeat(256), model: 'm'.repeat(128), model_version: 'v'.repeat(256) }),
  withBase({ features: { long: 'x'.repeat(4096), '~odd key!': 3 }, prediction: 'p'.repeat(4096) }),
  withBase({ features: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, i])) }),
  withBase({ tags: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`t${i}`, 'v'])) }),
  // Issue 20: a status; error_type is kept for failed events only.
  withBase({ status: 'ok' }),
  withBase({ status: 'ok', error_type: 'Ignored' }),
  withBase({ status: 'error', error_type: 'TimeoutError' }),
  withBase({ status: 'error' }),
  withBase({ status: null, error_type: null }),
];

// Events the fast path must leave to the generic one: unusual but valid, or invalid.
const LEFT: string[] = [
  withBase({ features: { 'quote"d': 1 } }),
  withBase({ status: 'error', error_type: 'TimeoutError', prediction: undefined }),
  withBase({ status: 'failed' }),
  withBase({ status: 1 }),
  withBase({ status: 'error', error_type: 'x'.repeat(257) }),
  withBase({ error_type: 7 }),
  withBase({ features: { city: 'Zürich' } }),
  withBase({ features: { '1st': 1, second: 2 } }),
  '{"event_id":"e","model":"m","timestamp":' + ts + ',"features":{"a":1,"a":2},"prediction":1}',
  '{"event_id":"e","model":"m","model":"n","timestamp":' + ts + ',"features":{},"prediction":1}',
  '{"event_id":"e","mod\\u0065l":"m","timestamp":' + ts + ',"features":{},"prediction":1}',
  withBase({ features: { ['__proto__']: 1 } }).replace('"__proto__"', '"__proto__"'),
  '{"event_id":"e","model":"m","timestamp":' + ts + ',"features":{"__proto__":1},"prediction":1}',
  withBase({ features: { constructor: 1 } }),
  withBase({ features: { '@prediction': 1 } }),
  withBase({ features: { 'del\u007f': 1 } }),
  withBase({ features: { '': 1 } }),
  withBase({ features: { nested: { a: 1 } } }),
  withBase({ features: { list: [1] } }),
  withBase({ extra: { nested: true } }),
  withBase({ features: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`f${i}`, i])) }),
  withBase({ tags: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`t${i}`, 'v'])) }),
  withBase({ tags: { n: 1 } }),
  withBase({ scores: { s: 'x' } }),
  withBase({ scores: [] }),
  withBase({ latency_ms: -1 }),
  withBase({ prediction: null }),
  withBase({ prediction: true }),
  withBase({ model: 'bad model' }),
  withBase({ model: '_m' }),
  withBase({ event_id: '' }),
  withBase({ event_id: 'i'.repeat(257) }),
  withBase({ model_version: 3 }),
  withBase({ timestamp: 1_700_000_000 }),
  withBase({ timestamp: '2020-01-01' }),
  // Not real dates, which Date.parse would roll over into the accepted range.
  withBase({ timestamp: `${notADay()}T12:00:00Z` }),
  withBase({ timestamp: `${new Date(ts - 86_400_000).toISOString().slice(0, 10)}T24:00:00Z` }),
  withBase({ event_id: 'nul\u0000id' }),
  withBase({ features: { c: 'nul\u0000value' } }),
  withBase({ timestamp: ts + 86_400_000 }),
  withBase({ features: null }),
  withBase({ features: { long: 'x'.repeat(4097) } }),
  JSON.stringify({ ...base, features: undefined }),
  '{"event_id":"e","model":"m","timestamp":' + ts + ',"features":{"x":1e999},"prediction":1}',
  '{}',
];

/** Day 31 of the latest 30-day month before this one: a date that does not exist, within the accepted age. */
function notADay(): string {
  const d = new Date(ts);
  for (;;) {
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() - 1);
    const month = d.getUTCMonth() + 1;
    if ([4, 6, 9, 11].includes(month)) return `${d.getUTCFullYear()}-${String(month).padStart(2, '0')}-31`;
  }
}

describe('the fast event path', () => {
  it('takes plainly valid events and writes the bytes the generic path writes', () => {
    for (const json of TAKEN) expect(fastOne(json), json.slice(0, 200)).toBe(genericOne(json));
  });

  it('leaves unusual and invalid events to the generic path', () => {
    for (const json of LEFT) expect(fastOne(json), json.slice(0, 200)).toBe(BAIL);
  });

  it('gives the same result as the generic path for whole bodies, JSON and NDJSON', () => {
    const all = [...TAKEN, ...LEFT];
    same(`[${all.join(',')}]`, 'json');
    same(all.join('\n'), 'ndjson');
    same(`\r\n  ${all.join('\r\n\n   ')}\n`, 'ndjson');
    for (const body of ['[]', ' [ ] ', '[1, "x", null, [], {}]', '{"a":1}', '[', '[{"a":1},]', `[${TAKEN[0]}] x`, `[${TAKEN[0]}`, '']) {
      same(body, 'json');
    }
    same(`${TAKEN[0]}\n{"event_id":\n"x"}\n${TAKEN[1]} trailing\n\u000b${TAKEN[2]}`, 'ndjson');
  });

  it('agrees with the generic path on thousands of randomly broken bodies', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
    const noise = ['{', '}', '[', ']', ',', ':', '"', '\\', ' ', '\n', '0', '-', '.', 'e', 'n', 't', 'x', '\u00e9', '1', '"a":1,'];
    for (let round = 0; round < 10_000; round++) {
      const items = Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(random() < 0.7 ? TAKEN : LEFT));
      const format: BodyFormat = random() < 0.5 ? 'json' : 'ndjson';
      let body = format === 'json' ? `[${items.join(',')}]` : items.join('\n');
      for (let edits = Math.floor(random() * 3); edits > 0; edits--) {
        const at = Math.floor(random() * body.length);
        const kind = random();
        if (kind < 0.33) body = body.slice(0, at) + body.slice(at + 1);
        else if (kind < 0.66) body = body.slice(0, at) + pick(noise) + body.slice(at);
        else body = body.slice(0, at) + pick(noise) + body.slice(at + 1);
      }
      same(body, format);
    }
  });
});
