import { checkTimestamp, MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_TAGS, MAX_VALUE_LENGTH, RESERVED_NAMES, type EventLimits } from '../core/event.ts';
import type { RowBinaryWriter } from '../store/rowbinary.ts';
import { matches } from '../core/patterns.ts';

/**
 * The fast path of event ingest: JSON bytes to RowBinary in one pass, with no
 * JavaScript objects in between. On the generic path, JSON.parse alone is 60%
 * of the 3.7 µs of CPU a 20-feature event costs the worker, and the objects it
 * builds are most of the garbage the collector's threads then chase.
 *
 * It takes a strict subset of JSON and of the event contract: ASCII strings
 * without escapes, map keys that do not start with a digit (JavaScript objects
 * would list integer-like keys first, so the generic path would store another
 * order), no repeated keys, only scalars in fields the contract does not name.
 * Anything else, every invalid event included, is BAIL: the caller then runs
 * the generic path (JSON.parse + validateEvent) on that one event, so the
 * contract and its error messages keep one definition (core/event.ts).
 * test/unit/fast-events.test.ts checks that both paths store the same bytes.
 */
export const BAIL = -1;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const DEL = 0x7f;

const isDigit = (c: number) => c >= ZERO && c <= NINE;
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

// Exact powers of ten: with at most 15 significant digits (an exact integer
// below 2^53) one IEEE division is correctly rounded, so it gives the very
// double JSON.parse gives (Clinger's fast path). Longer numbers and exponents
// go through Number(), which parses them as JSON.parse does.
const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);
const MAX_FAST_DIGITS = 15;

/** Event fields the contract names, by the order their values are written. */
const enum Field { EventId, Model, ModelVersion, Timestamp, Features, Prediction, Scores, LatencyMs, Tags, Status, ErrorType, Unknown }
const FIELD_NAMES: readonly string[] = ['event_id', 'model', 'model_version', 'timestamp', 'features', 'prediction', 'scores', 'latency_ms', 'tags', 'status', 'error_type'];
const REQUIRED = [Field.EventId, Field.Model, Field.Timestamp, Field.Features, Field.Prediction];

/** What a map entry's value was. */
const enum Kind { Number, String, True, False, Null }
const KIND_NUMBER = 1 << Kind.Number;
const KIND_STRING = 1 << Kind.String;
const KIND_ANY = KIND_NUMBER | KIND_STRING | (1 << Kind.True) | (1 << Kind.False) | (1 << Kind.Null);

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const FIELD_BYTES = FIELD_NAMES.map(ascii);
const RESERVED_BYTES = [...RESERVED_NAMES].map(ascii);
const TRUE = ascii('true');
const FALSE = ascii('false');
const NULL = ascii('null');
const OK = ascii('ok');
const ERROR = ascii('error');

// Repeated keys are found through a small open-addressing table of key
// hashes; maps larger than this take the generic path.
const HASH_SLOTS = 2048;
const MAX_FAST_ENTRIES = HASH_SLOTS / 2;

/** One per thread: it keeps scratch arrays between events. Not reentrant. */
export class FastEventEncoder {
  private b: Uint8Array = new Uint8Array(0);
  // The last scalar read: a string's byte range or a number's value.
  private s0 = 0;
  private s1 = 0;
  private num = 0;
  // Per event: where each named field's value is (string range or number).
  private readonly seen = new Uint8Array(Field.Unknown);
  private readonly start = new Int32Array(Field.Unknown);
  private readonly end = new Int32Array(Field.Unknown);
  private readonly value = new Float64Array(Field.Unknown);
  private readonly kind = new Uint8Array(Field.Unknown);
  // Map entries of the event's features, scores and tags, one after another.
  private entries = 0;
  private keyStart = new Int32Array(64);
  private keyEnd = new Int32Array(64);
  private keyHash = new Int32Array(64);
  private valueStart = new Int32Array(64);
  private valueEnd = new Int32Array(64);
  private valueNum = new Float64Array(64);
  private valueKind = new Uint8Array(64);
  private readonly mapRange = new Int32Array(6); // [from, to) for features, scores, tags
  private readonly slots = new Int32Array(HASH_SLOTS);
  private readonly slotStamp = new Int32Array(HASH_SLOTS);
  private stamp = 0;

  constructor(private readonly w: RowBinaryWriter) {}

  /**
   * Encodes the event object starting at bytes[p] and returns the position
   * just after it, or BAIL with nothing written.
   */
  encode(bytes: Uint8Array, p: number, limits: EventLimits): number {
    this.b = bytes;
    const q = this.scanEvent(p, limits);
    if (q !== BAIL) this.write();
    return q;
  }

  private scanEvent(p: number, limits: EventLimits): number {
    const b = this.b;
    if (b[p] !== OPEN_BRACE) return BAIL;
    this.seen.fill(0);
    this.entries = 0;
    this.mapRange.fill(0);
    p = this.space(p + 1);
    if (b[p] === CLOSE_BRACE) return BAIL; // no fields: required ones are missing
    for (;;) {
      p = this.string(p);
      if (p === BAIL) return BAIL;
      const field = this.field(this.s0, this.s1);
      p = this.space(p);
      if (b[p] !== COLON) return BAIL;
      p = this.space(p + 1);
      if (field !== Field.Unknown) {
        if (this.seen[field]) return BAIL;
        this.seen[field] = 1;
      }
      p = this.fieldValue(field, p, limits);
      if (p === BAIL) return BAIL;
      p = this.space(p);
      if (b[p] === COMMA) {
        p = this.space(p + 1);
        continue;
      }
      if (b[p] !== CLOSE_BRACE) return BAIL;
      break;
    }
    for (const f of REQUIRED) if (!this.seen[f]) return BAIL;
    return p + 1;
  }

  /** Reads one named field's value at p, checked as validateEvent checks it. */
  private fieldValue(field: Field, p: number, limits: EventLimits): number {
    const c = this.b[p];
    switch (field) {
      case Field.EventId:
        p = this.string(p);
        if (p === BAIL || this.s1 === this.s0 || this.s1 - this.s0 > MAX_ID_LENGTH) return BAIL;
        return this.keep(field, p, Kind.String);
      case Field.Model:
        p = this.string(p);
        if (p === BAIL || !this.modelName(this.s0, this.s1)) return BAIL;
        // A model the sender's key may not write: the generic path words the refusal.
        if (limits.models && !matches(limits.models, latin1(this.b, this.s0, this.s1))) return BAIL;
        return this.keep(field, p, Kind.String);
      case Field.ModelVersion:
        if (c === 0x6e) return this.keep(field, this.literal(p, NULL), Kind.Null);
        p = this.string(p);
        if (p === BAIL || this.s1 - this.s0 > MAX_NAME_LENGTH) return BAIL;
        return this.keep(field, p, Kind.String);
      case Field.Timestamp: {
        let ts;
        if (c === QUOTE) {
          p = this.string(p);
          if (p === BAIL) return BAIL;
          ts = checkTimestamp(latin1(this.b, this.s0, this.s1), limits);
        } else {
          p = this.number(p);
          if (p === BAIL) return BAIL;
          ts = checkTimestamp(this.num, limits);
        }
        if (!ts.ok) return BAIL;
        this.num = ts.value;
        return this.keep(field, p, Kind.Number);
      }
      case Field.Features:
        return this.map(p, 0, KIND_ANY, limits.maxFeatures);
      case Field.Prediction:
        if (c === QUOTE) {
          p = this.string(p);
          if (p === BAIL || this.s1 - this.s0 > MAX_VALUE_LENGTH) return BAIL;
          return this.keep(field, p, Kind.String);
        }
        return this.keep(field, this.number(p), Kind.Number);
      case Field.Scores:
        if (c === 0x6e) return this.literal(p, NULL);
        return this.map(p, 1, KIND_NUMBER, limits.maxFeatures);
      case Field.LatencyMs:
        if (c === 0x6e) return this.keep(field, this.literal(p, NULL), Kind.Null);
        p = this.number(p);
        if (p === BAIL || this.num < 0) return BAIL;
        return this.keep(field, p, Kind.Number);
      case Field.Tags:
        if (c === 0x6e) return this.literal(p, NULL);
        return this.map(p, 2, KIND_STRING, MAX_TAGS);
      case Field.Status:
        // A failed event without a prediction lacks a required field and takes the generic path anyway.
        if (c === 0x6e) return this.keep(field, this.literal(p, NULL), Kind.Null);
        p = this.string(p);
        if (p === BAIL || !(this.equals(this.s0, this.s1, OK) || this.equals(this.s0, this.s1, ERROR))) return BAIL;
        return this.keep(field, p, Kind.String);
      case Field.ErrorType:
        if (c === 0x6e) return this.keep(field, this.literal(p, NULL), Kind.Null);
        p = this.string(p);
        if (p === BAIL || this.s1 - this.s0 > MAX_NAME_LENGTH) return BAIL;
        return this.keep(field, p, Kind.String);
      default:
        return this.scalar(p);
    }
  }

  private keep(field: Field, p: number, kind: Kind): number {
    this.start[field] = this.s0;
    this.end[field] = this.s1;
    this.value[field] = this.num;
    this.kind[field] = kind;
    return p;
  }

  /** An object of named values, appended to the entries; `allowed` is a mask of Kinds. */
  private map(p: number, which: number, allowed: number, maxEntries: number): number {
    const b = this.b;
    if (b[p] !== OPEN_BRACE) return BAIL;
    const from = this.entries;
    const most = Math.min(maxEntries, MAX_FAST_ENTRIES);
    this.mapRange[which * 2] = from;
    this.stamp++;
    p = this.space(p + 1);
    if (b[p] === CLOSE_BRACE) {
      this.mapRange[which * 2 + 1] = from;
      return p + 1;
    }
    for (;;) {
      if (this.entries - from >= most) return BAIL;
      p = this.string(p);
      if (p === BAIL) return BAIL;
      const e = this.entry();
      if (!this.goodKey(e)) return BAIL;
      p = this.space(p);
      if (b[p] !== COLON) return BAIL;
      p = this.space(p + 1);
      const c = b[p];
      let kind: Kind;
      if (c === QUOTE) {
        p = this.string(p);
        if (p === BAIL || this.s1 - this.s0 > MAX_VALUE_LENGTH) return BAIL;
        this.valueStart[e] = this.s0;
        this.valueEnd[e] = this.s1;
        kind = Kind.String;
      } else if (c === 0x74) {
        p = this.literal(p, TRUE);
        kind = Kind.True;
      } else if (c === 0x66) {
        p = this.literal(p, FALSE);
        kind = Kind.False;
      } else if (c === 0x6e) {
        p = this.literal(p, NULL);
        kind = Kind.Null;
      } else {
        p = this.number(p);
        this.valueNum[e] = this.num;
        kind = Kind.Number;
      }
      if (p === BAIL || !(allowed & (1 << kind))) return BAIL;
      this.valueKind[e] = kind;
      p = this.space(p);
      if (b[p] === COMMA) {
        p = this.space(p + 1);
        continue;
      }
      if (b[p] !== CLOSE_BRACE) return BAIL;
      this.mapRange[which * 2 + 1] = this.entries;
      return p + 1;
    }
  }

  /** Appends the string just read as a map key; returns its entry index. */
  private entry(): number {
    const e = this.entries++;
    if (e === this.keyStart.length) this.grow();
    this.keyStart[e] = this.s0;
    this.keyEnd[e] = this.s1;
    return e;
  }

  /** checkName's rules, plus the fast path's own: no leading digit, no repeated key. */
  private goodKey(e: number): boolean {
    const b = this.b;
    const k0 = this.keyStart[e];
    const k1 = this.keyEnd[e];
    const length = k1 - k0;
    if (length === 0 || length > MAX_NAME_LENGTH || isDigit(b[k0])) return false;
    let hash = 0x811c9dc5;
    for (let i = k0; i < k1; i++) {
      const c = b[i];
      if (c === DEL) return false;
      hash = Math.imul(hash ^ c, 0x01000193);
    }
    if ((length === 9 || length === 11) && this.reserved(k0, k1)) return false;
    this.keyHash[e] = hash;
    let slot = hash & (HASH_SLOTS - 1);
    while (this.slotStamp[slot] === this.stamp) {
      const other = this.slots[slot];
      if (this.keyHash[other] === hash && this.sameBytes(this.keyStart[other], this.keyEnd[other], k0, k1)) return false;
      slot = (slot + 1) & (HASH_SLOTS - 1);
    }
    this.slotStamp[slot] = this.stamp;
    this.slots[slot] = e;
    return true;
  }

  private reserved(k0: number, k1: number): boolean {
    for (const name of RESERVED_BYTES) if (this.equals(k0, k1, name)) return true;
    return false;
  }

  private field(k0: number, k1: number): Field {
    for (let f = 0; f < FIELD_BYTES.length; f++) if (this.equals(k0, k1, FIELD_BYTES[f])) return f;
    return Field.Unknown;
  }

  private equals(k0: number, k1: number, name: Uint8Array): boolean {
    if (k1 - k0 !== name.length) return false;
    const b = this.b;
    for (let i = 0; i < name.length; i++) if (b[k0 + i] !== name[i]) return false;
    return true;
  }

  private sameBytes(a0: number, a1: number, b0: number, b1: number): boolean {
    if (a1 - a0 !== b1 - b0) return false;
    const b = this.b;
    for (let i = 0; i < a1 - a0; i++) if (b[a0 + i] !== b[b0 + i]) return false;
    return true;
  }

  /** /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/ (core/event.ts MODEL_NAME) on bytes. */
  private modelName(s0: number, s1: number): boolean {
    const b = this.b;
    if (s1 - s0 < 1 || s1 - s0 > 128) return false;
    for (let i = s0; i < s1; i++) {
      const c = b[i] | 0x20; // folds upper case onto lower
      const alnum = (c >= 0x61 && c <= 0x7a) || isDigit(b[i]);
      if (!alnum && (i === s0 || (b[i] !== 0x5f && b[i] !== DOT && b[i] !== COLON && b[i] !== MINUS))) return false;
    }
    return true;
  }

  /** A string at p: ASCII, no escapes, no control characters; its content is [s0, s1). */
  private string(p: number): number {
    const b = this.b;
    if (b[p] !== QUOTE) return BAIL;
    const n = b.length;
    let i = p + 1;
    for (; i < n; i++) {
      const c = b[i];
      if (c === QUOTE) {
        this.s0 = p + 1;
        this.s1 = i;
        return i + 1;
      }
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) return BAIL;
    }
    return BAIL;
  }

  /** A JSON number at p (strict grammar), finite; its value is `num`. */
  private number(p: number): number {
    const b = this.b;
    let i = p;
    const negative = b[i] === MINUS;
    if (negative) i++;
    let c = b[i];
    let mantissa = 0;
    let digits = 0;
    let fraction = 0;
    if (c === ZERO) {
      c = b[++i];
      if (isDigit(c)) return BAIL; // leading zeros are not JSON
    } else if (c > ZERO && c <= NINE) {
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        digits++;
        c = b[++i];
      } while (isDigit(c));
    } else {
      return BAIL;
    }
    if (c === DOT) {
      c = b[++i];
      if (!isDigit(c)) return BAIL;
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        digits++;
        fraction++;
        c = b[++i];
      } while (isDigit(c));
    }
    let exact = digits <= MAX_FAST_DIGITS;
    if (c === 0x65 || c === 0x45) {
      c = b[++i];
      if (c === 0x2b || c === MINUS) c = b[++i];
      if (!isDigit(c)) return BAIL;
      do c = b[++i];
      while (isDigit(c));
      exact = false;
    }
    let x: number;
    if (exact) {
      x = fraction === 0 ? mantissa : mantissa / POW10[fraction];
      if (negative) x = -x;
    } else {
      x = Number(latin1(b, p, i));
      if (!Number.isFinite(x)) return BAIL;
    }
    this.num = x;
    return i;
  }

  private literal(p: number, word: Uint8Array): number {
    const b = this.b;
    for (let i = 0; i < word.length; i++) if (b[p + i] !== word[i]) return BAIL;
    return p + word.length;
  }

  /** A value of a field the contract does not name: skipped if it is a scalar. */
  private scalar(p: number): number {
    const c = this.b[p];
    if (c === QUOTE) return this.string(p);
    if (c === 0x74) return this.literal(p, TRUE);
    if (c === 0x66) return this.literal(p, FALSE);
    if (c === 0x6e) return this.literal(p, NULL);
    return this.number(p);
  }

  private space(p: number): number {
    return skipSpace(this.b, p);
  }

  private grow(): void {
    const size = this.keyStart.length * 2;
    const int32 = (a: Int32Array) => {
      const next = new Int32Array(size);
      next.set(a);
      return next;
    };
    this.keyStart = int32(this.keyStart);
    this.keyEnd = int32(this.keyEnd);
    this.keyHash = int32(this.keyHash);
    this.valueStart = int32(this.valueStart);
    this.valueEnd = int32(this.valueEnd);
    const nums = new Float64Array(size);
    nums.set(this.valueNum);
    this.valueNum = nums;
    const kinds = new Uint8Array(size);
    kinds.set(this.valueKind);
    this.valueKind = kinds;
  }

  /** Writes the scanned event in the events table's column order (store/events.ts writeEventRow). */
  private write(): void {
    const { w, b } = this;
    w.rawString(b, this.start[Field.Model], this.end[Field.Model]);
    w.rawString(b, this.start[Field.EventId], this.end[Field.EventId]);
    if (this.seen[Field.ModelVersion] && this.kind[Field.ModelVersion] === Kind.String) {
      w.rawString(b, this.start[Field.ModelVersion], this.end[Field.ModelVersion]);
    } else {
      w.byte(0); // ''
    }
    w.int64(this.value[Field.Timestamp]);

    const f0 = this.mapRange[0];
    const f1 = this.mapRange[1];
    let numbers = 0;
    let strings = 0;
    for (let e = f0; e < f1; e++) {
      const k = this.valueKind[e];
      if (k === Kind.Number) numbers++;
      else if (k !== Kind.Null) strings++;
    }
    w.count(numbers);
    for (let e = f0; e < f1; e++) {
      if (this.valueKind[e] !== Kind.Number) continue;
      w.rawString(b, this.keyStart[e], this.keyEnd[e]);
      w.float64(this.valueNum[e]);
    }
    w.count(strings);
    for (let e = f0; e < f1; e++) {
      const k = this.valueKind[e];
      if (k === Kind.Number || k === Kind.Null) continue;
      w.rawString(b, this.keyStart[e], this.keyEnd[e]);
      if (k === Kind.String) w.rawString(b, this.valueStart[e], this.valueEnd[e]);
      else w.rawString(k === Kind.True ? TRUE : FALSE, 0, k === Kind.True ? 4 : 5);
    }
    w.count(f1 - f0 - numbers - strings);
    for (let e = f0; e < f1; e++) if (this.valueKind[e] === Kind.Null) w.rawString(b, this.keyStart[e], this.keyEnd[e]);

    if (this.kind[Field.Prediction] === Kind.Number) {
      w.byte(0);
      w.float64(this.value[Field.Prediction]);
      w.byte(1);
    } else {
      w.byte(1);
      w.byte(0);
      w.rawString(b, this.start[Field.Prediction], this.end[Field.Prediction]);
    }

    w.count(this.mapRange[3] - this.mapRange[2]);
    for (let e = this.mapRange[2]; e < this.mapRange[3]; e++) {
      w.rawString(b, this.keyStart[e], this.keyEnd[e]);
      w.float64(this.valueNum[e]);
    }

    if (this.seen[Field.LatencyMs] && this.kind[Field.LatencyMs] === Kind.Number) {
      w.byte(0);
      w.float64(this.value[Field.LatencyMs]);
    } else {
      w.byte(1);
    }

    w.count(this.mapRange[5] - this.mapRange[4]);
    for (let e = this.mapRange[4]; e < this.mapRange[5]; e++) {
      w.rawString(b, this.keyStart[e], this.keyEnd[e]);
      w.rawString(b, this.valueStart[e], this.valueEnd[e]);
    }

    // status, then error_type: kept for failed events only, as validateEvent keeps it.
    const failed = this.seen[Field.Status] && this.kind[Field.Status] === Kind.String && this.end[Field.Status] - this.start[Field.Status] === ERROR.length;
    if (failed) w.rawString(ERROR, 0, ERROR.length);
    else w.rawString(OK, 0, OK.length);
    if (failed && this.seen[Field.ErrorType] && this.kind[Field.ErrorType] === Kind.String) {
      w.rawString(b, this.start[Field.ErrorType], this.end[Field.ErrorType]);
    } else {
      w.byte(0); // ''
    }
  }
}

/** Position of the first byte at or after p that is not JSON whitespace. */
export function skipSpace(bytes: Uint8Array, p: number): number {
  const n = bytes.length;
  while (p < n && isSpace(bytes[p])) p++;
  return p;
}

function latin1(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}
