import { ok, reject, type Outcome } from './outcome.ts';
import { matches } from './patterns.ts';
import { parseRfc3339 } from './rfc3339.ts';

/** Limits the contract is checked against; they come from config. */
export interface EventLimits {
  now: number;
  maxFeatures: number;
  maxAgeMs: number;
  maxFutureSkewMs: number;
  /** Model name patterns (core/patterns.ts) the sender may write; absent: any model. */
  models?: readonly string[];
}

/** A prediction event as stored: features split by kind so each has a typed column. */
export interface EventRow {
  model: string;
  event_id: string;
  model_version: string;
  ts: number; // epoch milliseconds
  num: Record<string, number>;
  cat: Record<string, string>;
  missing: string[];
  prediction_num: number | null;
  prediction_cat: string | null;
  scores: Record<string, number>;
  latency_ms: number | null;
  tags: Record<string, string>;
  /** 'error' for a failed prediction; absent means 'ok' (rows built before failed events existed). */
  status?: EventStatus;
  /** What failed, for status 'error'; '' otherwise. */
  error_type?: string;
}

export type EventStatus = 'ok' | 'error';

export interface LabelRow {
  model: string;
  event_id: string;
  label_num: number | null;
  label_cat: string | null;
  ts: number;
}

// Model names travel in URLs, metric labels and dashboard variables, so they are
// kept to a conservative alphabet. Feature names may be anything printable:
// they only ever reach SQL as bound values.
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
export const MAX_NAME_LENGTH = 256;
export const MAX_ID_LENGTH = 256;
export const MAX_VALUE_LENGTH = 4_096;
export const MAX_TAGS = 64;
// Names that mean something to JavaScript objects; refusing them keeps every
// consumer of the data (ours and the user's) safe from prototype tricks, and
// lets rows use plain object literals, which JSON.stringify writes fastest.
// "@prediction" is the name drift reports give the model's own output.
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype', '@prediction']);
// Epoch milliseconds below this (1973-03-03) are almost certainly seconds.
const MIN_PLAUSIBLE_EPOCH_MS = 1e11;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

// A NUL ends the string for C code, Prometheus label values and many a
// consumer downstream, so two different values would read the same.
const hasNul = (s: string) => s.includes('\u0000');
const nulIn = (field: string) => reject('invalid_value', `${field} contains a NUL character (U+0000)`);

function checkName(kind: string, name: string): string | null {
  if (name.length === 0) return `${kind} name is empty`;
  if (name.length > MAX_NAME_LENGTH) return `${kind} name longer than ${MAX_NAME_LENGTH} characters`;
  if (CONTROL_CHARS.test(name)) return `${kind} name "${name.slice(0, 40)}" contains control characters`;
  if (RESERVED_NAMES.has(name)) return `${kind} name "${name}" is reserved`;
  return null;
}

function checkModel(value: unknown, allowed: readonly string[] | undefined): Outcome<string> {
  if (value === undefined) return reject('missing_field', 'model is required');
  if (typeof value !== 'string') return reject('wrong_type', 'model must be a string');
  if (hasNul(value)) return nulIn('model');
  if (!MODEL_NAME.test(value)) {
    return reject('invalid_name', `model "${value.slice(0, 40)}" must match ${MODEL_NAME.source}`);
  }
  if (allowed && !matches(allowed, value)) return reject('model_not_allowed', `this API key may not write model "${value}"`);
  return ok(value);
}

function checkEventId(value: unknown): Outcome<string> {
  if (value === undefined) return reject('missing_field', 'event_id is required');
  if (typeof value !== 'string') return reject('wrong_type', 'event_id must be a string');
  if (value.length === 0 || value.length > MAX_ID_LENGTH) {
    return reject('invalid_value', `event_id must be 1 to ${MAX_ID_LENGTH} characters`);
  }
  if (hasNul(value)) return nulIn('event_id');
  return ok(value);
}

/** A time for an error message; beyond what Date can hold (±8.64e15 ms), the number itself. */
const describeMs = (ms: number) => (Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms`);

/** Accepts RFC 3339 strings and epoch milliseconds within the configured bounds. */
export function checkTimestamp(value: unknown, limits: EventLimits, field = 'timestamp'): Outcome<number> {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return reject('invalid_value', `${field} must be a finite number`);
    if (Math.abs(value) < MIN_PLAUSIBLE_EPOCH_MS) {
      return reject('timestamp_out_of_range', `${field} ${value} looks like epoch seconds; send epoch milliseconds or RFC 3339`);
    }
    ms = Math.trunc(value);
  } else if (typeof value === 'string') {
    const parsed = parseRfc3339(value);
    if (!parsed.ok) return reject('invalid_value', `${field} "${value.slice(0, 40)}" ${parsed.reason}`);
    ms = parsed.ms;
  } else {
    return reject('wrong_type', `${field} must be an RFC 3339 string or epoch milliseconds`);
  }
  if (ms < limits.now - limits.maxAgeMs) {
    return reject('timestamp_out_of_range', `${field} ${describeMs(ms)} is older than the accepted age`);
  }
  if (ms > limits.now + limits.maxFutureSkewMs) {
    return reject('timestamp_out_of_range', `${field} ${describeMs(ms)} is in the future`);
  }
  return ok(ms);
}

function checkStringMap(field: string, value: unknown, maxEntries: number): Outcome<Record<string, string>> {
  if (value === undefined || value === null) return ok({});
  if (!isObject(value)) return reject('wrong_type', `${field} must be an object of strings`);
  const out: Record<string, string> = {};
  let n = 0;
  for (const key in value) {
    if (++n > maxEntries) return reject('invalid_value', `${field} has more than ${maxEntries} entries`);
    const problem = checkName(field, key);
    if (problem) return reject('invalid_name', problem);
    const v = value[key];
    if (typeof v !== 'string') return reject('wrong_type', `${field}.${key} must be a string`);
    if (v.length > MAX_VALUE_LENGTH) return reject('invalid_value', `${field}.${key} is longer than ${MAX_VALUE_LENGTH}`);
    if (hasNul(v)) return nulIn(`${field}.${key}`);
    out[key] = v;
  }
  return ok(out);
}

function checkNumber(field: string, value: unknown, optional: boolean): Outcome<number | null> {
  if (value === undefined || value === null) {
    return optional ? ok(null) : reject('missing_field', `${field} is required`);
  }
  if (typeof value !== 'number') return reject('wrong_type', `${field} must be a number`);
  if (!Number.isFinite(value)) return reject('invalid_value', `${field} must be finite`);
  return ok(value);
}

/** Validates one prediction event against the contract (see core/event.schema.json). */
export function validateEvent(input: unknown, limits: EventLimits): Outcome<EventRow> {
  if (!isObject(input)) return reject('not_an_object', 'event must be a JSON object');

  const eventId = checkEventId(input.event_id);
  if (!eventId.ok) return eventId;
  const model = checkModel(input.model, limits.models);
  if (!model.ok) return model;

  let modelVersion = '';
  if (input.model_version !== undefined && input.model_version !== null) {
    if (typeof input.model_version !== 'string') return reject('wrong_type', 'model_version must be a string');
    if (input.model_version.length > MAX_NAME_LENGTH) return reject('invalid_value', 'model_version is too long');
    if (hasNul(input.model_version)) return nulIn('model_version');
    modelVersion = input.model_version;
  }

  if (input.timestamp === undefined) return reject('missing_field', 'timestamp is required');
  const ts = checkTimestamp(input.timestamp, limits);
  if (!ts.ok) return ts;

  const features = input.features;
  if (features === undefined) return reject('missing_field', 'features is required');
  if (!isObject(features)) return reject('wrong_type', 'features must be an object');
  const num: Record<string, number> = {};
  const cat: Record<string, string> = {};
  const missing: string[] = [];
  let count = 0;
  for (const name in features) {
    if (++count > limits.maxFeatures) {
      return reject('too_many_features', `more than ${limits.maxFeatures} features in one event`);
    }
    const problem = checkName('feature', name);
    if (problem) return reject('invalid_name', problem);
    const v = features[name];
    switch (typeof v) {
      case 'number':
        if (!Number.isFinite(v)) return reject('invalid_value', `features.${name} must be finite (got ${v})`);
        num[name] = v;
        break;
      case 'string':
        if (v.length > MAX_VALUE_LENGTH) return reject('invalid_value', `features.${name} is longer than ${MAX_VALUE_LENGTH}`);
        if (hasNul(v)) return nulIn(`features.${name}`);
        cat[name] = v;
        break;
      case 'boolean':
        cat[name] = v ? 'true' : 'false';
        break;
      default:
        if (v !== null) return reject('wrong_type', `features.${name} must be a number, string, boolean or null`);
        missing.push(name);
    }
  }

  // A failed prediction (the model call threw) may have no output; its features are kept.
  let status: EventStatus = 'ok';
  let errorType = '';
  if (input.status !== undefined && input.status !== null) {
    if (input.status !== 'ok' && input.status !== 'error') return reject('invalid_value', 'status must be "ok" or "error"');
    status = input.status;
  }
  if (input.error_type !== undefined && input.error_type !== null) {
    if (typeof input.error_type !== 'string') return reject('wrong_type', 'error_type must be a string');
    if (input.error_type.length > MAX_NAME_LENGTH) return reject('invalid_value', `error_type is longer than ${MAX_NAME_LENGTH} characters`);
    if (hasNul(input.error_type)) return nulIn('error_type');
    if (status === 'error') errorType = input.error_type;
  }

  let predictionNum: number | null = null;
  let predictionCat: string | null = null;
  const prediction = input.prediction;
  if (prediction === undefined || prediction === null) {
    if (status !== 'error') return reject('missing_field', 'prediction is required (unless status is "error")');
  } else if (typeof prediction === 'number') {
    if (!Number.isFinite(prediction)) return reject('invalid_value', 'prediction must be finite');
    predictionNum = prediction;
  } else if (typeof prediction === 'string') {
    if (prediction.length > MAX_VALUE_LENGTH) return reject('invalid_value', 'prediction is too long');
    if (hasNul(prediction)) return nulIn('prediction');
    predictionCat = prediction;
  } else {
    return reject('wrong_type', 'prediction must be a number or a string');
  }

  const scores: Record<string, number> = {};
  if (input.scores !== undefined && input.scores !== null) {
    if (!isObject(input.scores)) return reject('wrong_type', 'scores must be an object of numbers');
    let n = 0;
    for (const cls in input.scores) {
      if (++n > limits.maxFeatures) return reject('invalid_value', `scores has more than ${limits.maxFeatures} entries`);
      const problem = checkName('scores class', cls);
      if (problem) return reject('invalid_name', problem);
      const p = input.scores[cls];
      if (typeof p !== 'number') return reject('wrong_type', `scores.${cls} must be a number`);
      if (!Number.isFinite(p)) return reject('invalid_value', `scores.${cls} must be finite`);
      scores[cls] = p;
    }
  }

  const latency = checkNumber('latency_ms', input.latency_ms, true);
  if (!latency.ok) return latency;
  if (latency.value !== null && latency.value < 0) return reject('invalid_value', 'latency_ms must not be negative');

  const tags = checkStringMap('tags', input.tags, MAX_TAGS);
  if (!tags.ok) return tags;

  return ok({
    model: model.value,
    event_id: eventId.value,
    model_version: modelVersion,
    ts: ts.value,
    num,
    cat,
    missing,
    prediction_num: predictionNum,
    prediction_cat: predictionCat,
    scores,
    latency_ms: latency.value,
    tags: tags.value,
    status,
    error_type: errorType,
  });
}

/** Validates one label event: the ground truth for an earlier prediction. */
export function validateLabel(input: unknown, limits: EventLimits): Outcome<LabelRow> {
  if (!isObject(input)) return reject('not_an_object', 'label must be a JSON object');
  const eventId = checkEventId(input.event_id);
  if (!eventId.ok) return eventId;
  const model = checkModel(input.model, limits.models);
  if (!model.ok) return model;
  const label = input.label;
  let labelNum: number | null = null;
  let labelCat: string | null = null;
  if (label === undefined || label === null) return reject('missing_field', 'label is required');
  if (typeof label === 'number') {
    if (!Number.isFinite(label)) return reject('invalid_value', 'label must be finite');
    labelNum = label;
  } else if (typeof label === 'string') {
    if (label.length > MAX_VALUE_LENGTH) return reject('invalid_value', 'label is too long');
    if (hasNul(label)) return nulIn('label');
    labelCat = label;
  } else {
    return reject('wrong_type', 'label must be a number or a string');
  }
  let ts = limits.now;
  if (input.timestamp !== undefined && input.timestamp !== null) {
    const checked = checkTimestamp(input.timestamp, limits);
    if (!checked.ok) return checked;
    ts = checked.value;
  }
  return ok({ model: model.value, event_id: eventId.value, label_num: labelNum, label_cat: labelCat, ts });
}
