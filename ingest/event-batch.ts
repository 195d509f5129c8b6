import { validateEvent, type EventLimits } from '../core/event.ts';
import { ok, type RejectCode } from '../core/outcome.ts';
import { RowBinaryWriter } from '../store/rowbinary.ts';
import { writeEventRow } from '../store/events.ts';
import { parseLine, type BodyItem } from './body.ts';
import type { Prepared, Rejection } from './prepare.ts';
import { BAIL, FastEventEncoder, skipSpace } from './fast-events.ts';

const NEWLINE = 0x0a;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

// One writer and one fast encoder per thread, reused: buffers grow once.
const writer = new RowBinaryWriter();
const fast = new FastEventEncoder(writer);

/**
 * One batch of prediction events (a request body, or a Kafka partition's
 * messages) on their way to RowBinary. Each event takes the fast path
 * (ingest/fast-events.ts) when it can and the generic one (JSON.parse +
 * validateEvent) when not; rows are written in item order either way, and
 * rejections carry the item's index. Not reentrant: one batch at a time per
 * thread, finished before the next begins.
 */
export class EventBatch {
  private accepted = 0;
  private items = 0;
  private readonly rejected: Rejection[] = [];
  private readonly codes: RejectCode[] = [];

  constructor(private readonly limits: EventLimits) {
    writer.truncate(0);
  }

  /** Index the next item will get. */
  get nextIndex(): number {
    return this.items;
  }

  /** An item already parsed (or already refused), judged by validateEvent. */
  generic(item: BodyItem): void {
    const checked = item.ok ? validateEvent(item.value, this.limits) : item;
    if (checked.ok) {
      writeEventRow(writer, checked.value);
      this.accepted++;
    } else {
      this.rejected.push({ index: this.items, reason: checked.reason });
      this.codes.push(checked.code);
    }
    this.items++;
  }

  /**
   * The one JSON value in bytes[start, end) as an event item; whitespace
   * around it is allowed, nothing else. False (and nothing recorded) when it
   * is not a plainly valid event object: the caller takes the generic path.
   */
  whole(bytes: Uint8Array, start: number, end: number): boolean {
    const mark = writer.length;
    const q = fast.encode(bytes, skipSpace(bytes, start), this.limits);
    if (q === BAIL) return false;
    if (q > end || skipSpace(bytes, q) < end) {
      writer.truncate(mark);
      return false;
    }
    this.accepted++;
    this.items++;
    return true;
  }

  /**
   * The elements of the JSON array in bytes, as items. `onGeneric` hears of
   * each element that took the generic path (Kafka needs its value for a
   * dead letter). False when the bytes are not one valid JSON array: the
   * items it had added are taken back, and the caller takes the generic
   * path for the whole, which also words the error.
   */
  array(bytes: Buffer, onGeneric?: (element: unknown, position: number) => void): boolean {
    const mark = this.mark();
    const done = this.walkArray(bytes, onGeneric);
    if (!done) this.rollback(mark);
    return done;
  }

  /** NDJSON lines as items; blank lines are not items. */
  lines(bytes: Buffer): void {
    let start = 0;
    while (start < bytes.length) {
      let end = bytes.indexOf(NEWLINE, start);
      if (end === -1) end = bytes.length;
      if (!this.whole(bytes, start, end)) {
        const item = parseLine(bytes, start, end);
        if (item) this.generic(item);
      }
      start = end + 1;
    }
  }

  finish(): Prepared {
    return { encoded: writer.take(), accepted: this.accepted, rejected: this.rejected, codes: this.codes };
  }

  private walkArray(bytes: Buffer, onGeneric?: (element: unknown, position: number) => void): boolean {
    const n = bytes.length;
    let p = skipSpace(bytes, 0);
    if (bytes[p] !== OPEN_BRACKET) return false;
    p = skipSpace(bytes, p + 1);
    if (bytes[p] === CLOSE_BRACKET) return skipSpace(bytes, p + 1) === n;
    for (let position = 0; ; position++) {
      let q = fast.encode(bytes, p, this.limits);
      if (q !== BAIL) {
        this.accepted++;
        this.items++;
      } else {
        q = elementEnd(bytes, p);
        if (q === BAIL) return false;
        let element: unknown;
        try {
          element = JSON.parse(bytes.toString('utf8', p, q));
        } catch {
          return false;
        }
        onGeneric?.(element, position);
        this.generic(ok(element));
      }
      p = skipSpace(bytes, q);
      if (bytes[p] === COMMA) {
        p = skipSpace(bytes, p + 1);
        continue;
      }
      return bytes[p] === CLOSE_BRACKET && skipSpace(bytes, p + 1) === n;
    }
  }

  private mark() {
    return { bytes: writer.length, accepted: this.accepted, items: this.items, rejected: this.rejected.length };
  }

  private rollback(mark: ReturnType<EventBatch['mark']>): void {
    writer.truncate(mark.bytes);
    this.accepted = mark.accepted;
    this.items = mark.items;
    this.rejected.length = mark.rejected;
    this.codes.length = mark.rejected;
  }
}

/**
 * Where the array element starting at p ends: the next comma or closing
 * bracket outside strings and nesting. Lenient on purpose: JSON.parse then
 * judges the element itself.
 */
function elementEnd(b: Uint8Array, p: number): number {
  let depth = 0;
  for (let i = p; i < b.length; i++) {
    const c = b[i];
    if (c === QUOTE) {
      for (i++; i < b.length && b[i] !== QUOTE; i++) if (b[i] === BACKSLASH) i++;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth === 0) return i;
      depth--;
    } else if (c === COMMA && depth === 0) {
      return i;
    }
  }
  return BAIL;
}
