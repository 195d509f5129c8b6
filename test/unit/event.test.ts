import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import eventSchema from '../../core/event.schema.json' with { type: 'json' };
import labelSchema from '../../core/label.schema.json' with { type: 'json' };
import { validateEvent, validateLabel, type EventLimits } from '../../core/event.ts';
import { event } from '../helpers.ts';

const NOW = Date.parse('2026-11-24T12:00:00Z');
const limits: EventLimits = { now: NOW, maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 };
const base = () => event({ timestamp: NOW - 1000 });

describe('validateEvent', () => {
  it('accepts a full event and splits features by kind', () => {
    const result = validateEvent(base(), limits);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.num).toEqual({ amount: 12.5 });
    expect(result.value.cat).toEqual({ country: 'DE', is_new: 'true' });
    expect(result.value.missing).toEqual(['age']);
    expect(result.value.ts).toBe(NOW - 1000);
    expect(result.value.prediction_num).toBe(0.12);
    expect(result.value.prediction_cat).toBeNull();
  });

  it('accepts a failed prediction without a prediction, keeping its features and error_type (issue 20)', () => {
    const result = validateEvent({ ...base(), prediction: undefined, status: 'error', error_type: 'TimeoutError' }, limits);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value).toMatchObject({ status: 'error', error_type: 'TimeoutError', prediction_num: null, prediction_cat: null, num: { amount: 12.5 } });
    // Without a status an event is ok, and an ok event has no error_type.
    expect(validateEvent(base(), limits)).toMatchObject({ ok: true, value: { status: 'ok', error_type: '' } });
    expect(validateEvent({ ...base(), error_type: 'Stray' }, limits)).toMatchObject({ ok: true, value: { status: 'ok', error_type: '' } });
  });

  it('accepts RFC 3339 timestamps with offsets and a string prediction', () => {
    const result = validateEvent({ ...base(), timestamp: '2026-11-24T13:00:00.250+01:00', prediction: 'fraud' }, limits);
    expect(result.ok && result.value.ts).toBe(Date.parse('2026-11-24T12:00:00.250Z'));
    expect(result.ok && result.value.prediction_cat).toBe('fraud');
  });

  const bad: [string, unknown, RegExp][] = [
    ['an array', [1], /must be a JSON object/],
    ['a string', 'hello', /must be a JSON object/],
    ['missing event_id', { ...base(), event_id: undefined }, /event_id is required/],
    ['numeric event_id', { ...base(), event_id: 7 }, /event_id must be a string/],
    ['missing model', { ...base(), model: undefined }, /model is required/],
    ['SQL in the model name', { ...base(), model: "x'; DROP TABLE events; --" }, /model .* must match/],
    ['missing timestamp', { ...base(), timestamp: undefined }, /timestamp is required/],
    ['timestamp in seconds', { ...base(), timestamp: Math.floor(NOW / 1000) }, /looks like epoch seconds/],
    ['timestamp far in the past', { ...base(), timestamp: NOW - 500 * 86_400_000 }, /older than the accepted age/],
    ['timestamp far in the future', { ...base(), timestamp: NOW + 2 * 86_400_000 }, /in the future/],
    ['timestamp beyond what a Date holds (1e300)', { ...base(), timestamp: 1e300 }, /1e\+300 ms is in the future/],
    ['timestamp not RFC 3339', { ...base(), timestamp: '24/11/2026' }, /not RFC 3339/],
    ['a day February does not have (2026-02-30)', { ...base(), timestamp: '2026-02-30T00:00:00Z' }, /"2026-02-30T00:00:00Z" is not a real date: 2026-02 has no day 30/],
    ['February 29th of a common year', { ...base(), timestamp: '2026-02-29T00:00:00Z' }, /2026-02 has no day 29/],
    ['a 31st of a 30-day month', { ...base(), timestamp: '2026-11-31T10:00:00Z' }, /2026-11 has no day 31/],
    ['month 13', { ...base(), timestamp: '2026-13-01T00:00:00Z' }, /there is no month 13/],
    ['hour 24', { ...base(), timestamp: '2026-11-23T24:00:00Z' }, /not a real time of day: 24:00:00/],
    ['minute 60', { ...base(), timestamp: '2026-11-24T11:60:00Z' }, /not a real time of day/],
    ['an offset of 25 hours', { ...base(), timestamp: '2026-11-24T11:00:00+25:00' }, /no real UTC offset: \+25:00/],
    ['a NUL in the event_id', { ...base(), event_id: 'a\u0000b' }, /event_id contains a NUL character/],
    ['a NUL in the model name', { ...base(), model: 'fraud\u0000' }, /model contains a NUL character/],
    ['a NUL in the model_version', { ...base(), model_version: 'v\u00001' }, /model_version contains a NUL character/],
    ['a NUL in a category value', { ...base(), features: { country: 'D\u0000E' } }, /features\.country contains a NUL character/],
    ['a NUL in a predicted class', { ...base(), prediction: 'fraud\u0000' }, /prediction contains a NUL character/],
    ['a NUL in a tag value', { ...base(), tags: { region: '\u0000' } }, /tags\.region contains a NUL character/],
    ['features missing', { ...base(), features: undefined }, /features is required/],
    ['features an array', { ...base(), features: [1, 2] }, /features must be an object/],
    ['a feature of Infinity (1e999)', { ...base(), features: JSON.parse('{"x": 1e999}') }, /features\.x must be finite/],
    ['a nested feature', { ...base(), features: { x: { y: 1 } } }, /features\.x must be a number, string, boolean or null/],
    ['a feature named __proto__', { ...base(), features: JSON.parse('{"__proto__": 1}') }, /"__proto__" is reserved/],
    ['a feature named constructor', { ...base(), features: { constructor: 1 } }, /"constructor" is reserved/],
    ['a feature named @prediction', { ...base(), features: { '@prediction': 1 } }, /"@prediction" is reserved/],
    ['too many features', { ...base(), features: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`f${i}`, i])) }, /more than 1000 features/],
    ['prediction missing', { ...base(), prediction: undefined }, /prediction is required/],
    ['prediction an object', { ...base(), prediction: { p: 1 } }, /prediction must be a number or a string/],
    ['prediction NaN-like string in a number slot', { ...base(), latency_ms: '12' }, /latency_ms must be a number/],
    ['negative latency', { ...base(), latency_ms: -1 }, /latency_ms must not be negative/],
    ['scores with a string', { ...base(), scores: { a: 'high' } }, /scores\.a must be a number/],
    ['tags with a number', { ...base(), tags: { region: 1 } }, /tags\.region must be a string/],
    ['prediction missing from an ok event', { ...base(), prediction: undefined, status: 'ok' }, /prediction is required \(unless status is "error"\)/],
    ['a status other than ok or error', { ...base(), status: 'failed' }, /status must be "ok" or "error"/],
    ['an error_type that is not a string', { ...base(), status: 'error', error_type: 500 }, /error_type must be a string/],
    ['an error_type too long', { ...base(), status: 'error', error_type: 'x'.repeat(257) }, /error_type is longer than 256/],
    ['a NUL in the error_type', { ...base(), status: 'error', error_type: 'a\u0000' }, /error_type contains a NUL character/],
  ];
  for (const [name, input, reason] of bad) {
    it(`rejects ${name} with a clear reason`, () => {
      const result = validateEvent(input, limits);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(reason);
    });
  }

  it('reads RFC 3339 exactly: leap days, a space for T, nine fraction digits, offsets', () => {
    const ts = (timestamp: string) => {
      const result = validateEvent({ ...base(), timestamp }, { ...limits, maxAgeMs: 100 * 365 * 86_400_000 });
      return result.ok ? result.value.ts : result.reason;
    };
    expect(ts('2024-02-29T12:00:00Z')).toBe(Date.UTC(2024, 1, 29, 12));
    expect(ts('2000-02-29T00:00:00Z')).toBe(Date.UTC(2000, 1, 29));
    expect(ts('2026-11-24 11:30:00.123456789z')).toBe(Date.UTC(2026, 10, 24, 11, 30, 0, 123));
    expect(ts('2026-11-24T00:15:00-02:30')).toBe(Date.UTC(2026, 10, 24, 2, 45));
    expect(ts('2026-11-23T23:59:59.999+00:00')).toBe(Date.UTC(2026, 10, 23, 23, 59, 59, 999));
    expect(ts('2026-11-24T11:59:60Z')).toMatch(/not a real time of day/);
  });

  it('keeps SQL metacharacters in feature names as plain data', () => {
    const result = validateEvent({ ...base(), features: { "a'); DROP TABLE events; --": 1 } }, limits);
    expect(result.ok && Object.keys(result.value.num)).toEqual(["a'); DROP TABLE events; --"]);
  });
});

describe('validateLabel', () => {
  it('accepts a label and defaults its time to now', () => {
    const result = validateLabel({ event_id: 'a', model: 'fraud', label: 1 }, limits);
    expect(result).toEqual({ ok: true, value: { model: 'fraud', event_id: 'a', label_num: 1, label_cat: null, ts: NOW } });
  });
  it('rejects a label timestamp that is not a real date, and NUL characters in its id and value', () => {
    const reason = (input: object) => {
      const result = validateLabel({ event_id: 'a', model: 'fraud', label: 1, ...input }, limits);
      return result.ok ? 'accepted' : result.reason;
    };
    expect(reason({ timestamp: '2026-02-30T00:00:00Z' })).toMatch(/timestamp "2026-02-30T00:00:00Z" is not a real date/);
    expect(reason({ event_id: 'a\u0000' })).toMatch(/event_id contains a NUL character/);
    expect(reason({ label: 'yes\u0000' })).toMatch(/label contains a NUL character/);
  });
  it('rejects a label without a value', () => {
    const result = validateLabel({ event_id: 'a', model: 'fraud' }, limits);
    expect(result.ok === false && result.reason).toMatch(/label is required/);
  });
});

describe('the published JSON Schemas agree with the validator', () => {
  const ajv = new Ajv2020({ allErrors: true, allowUnionTypes: true });
  // ajv-formats is CommonJS: its plugin is the default export's default.
  const addFormats = (formats as unknown as { default: (a: Ajv2020) => void }).default ?? formats;
  addFormats(ajv);
  const checkEvent = ajv.compile(eventSchema);
  const checkLabel = ajv.compile(labelSchema);
  const samples: unknown[] = [
    base(),
    { ...base(), timestamp: '2026-11-24T11:00:00Z' },
    { ...base(), features: { x: 'a', y: false, z: null } },
    { ...base(), model: 'bad name' },
    { ...base(), features: JSON.parse('{"__proto__": 1}') },
    { ...base(), prediction: true },
    { ...base(), latency_ms: -3 },
    { ...base(), tags: { a: 2 } },
    { ...base(), event_id: '' },
    { ...base(), features: undefined },
    { ...base(), timestamp: '2026-02-30T00:00:00Z' },
    { ...base(), timestamp: '2026-11-23T24:00:00Z' },
    { ...base(), event_id: 'a\u0000b' },
    { ...base(), features: { c: 'x\u0000' } },
    { ...base(), prediction: '\u0000' },
    { ...base(), tags: { r: 'a\u0000' } },
    { ...base(), prediction: undefined, status: 'error', error_type: 'TimeoutError' },
    { ...base(), prediction: undefined, status: 'error' },
    { ...base(), prediction: undefined, status: 'ok' },
    { ...base(), prediction: undefined },
    { ...base(), status: 'failed' },
    { ...base(), status: 'error', error_type: 3 },
  ];
  samples.forEach((sample, i) => {
    it(`event sample ${i}`, () => {
      expect(checkEvent(sample)).toBe(validateEvent(sample, limits).ok);
    });
  });
  it('label samples', () => {
    for (const sample of [
      { event_id: 'a', model: 'm', label: 'x' },
      { event_id: 'a', model: 'm' },
      { event_id: 'a', model: 'm', label: [1] },
      { event_id: 'a', model: 'm', label: 'x\u0000' },
      { event_id: 'a\u0000', model: 'm', label: 1 },
      { event_id: 'a', model: 'm', label: 1, timestamp: '2026-02-30T00:00:00Z' },
    ]) {
      expect(checkLabel(sample)).toBe(validateLabel(sample, limits).ok);
    }
  });
});
