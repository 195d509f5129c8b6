import type { EventLimits } from '../../core/event.ts';
import { ok, reject, type RejectCode } from '../../core/outcome.ts';
import { EventBatch } from '../event-batch.ts';
import { ItemBatch, type Stream } from '../prepare.ts';

/** The parts of a Kafka message the plan needs; any client library can supply them. */
export interface MessageIn {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export type DeadLetterCode = RejectCode | 'null_value' | 'too_large';

/** A message (or one element of an array message) that goes to the dead-letter topic. */
export interface DeadLetter {
  offset: string;
  key: Buffer | null;
  /** The original bytes; for one bad element of an array message, that element as JSON. */
  value: Buffer | null;
  code: DeadLetterCode;
  reason: string;
  /** Position in an array message, when only that element was bad. */
  index?: number;
}

/** What to do with one partition's batch: rows to insert, letters to dead-letter, offset to commit after both. */
export interface FlushPlan {
  encoded: Uint8Array;
  rows: number;
  dead: DeadLetter[];
  /** The offset to commit once rows and dead letters are acknowledged: last offset + 1. */
  commitOffset: string;
  messages: number;
}

/**
 * Turns one partition's batch of messages into a flush plan. Pure, so the
 * delivery rules are tested without a broker: a message holds one event or an
 * array of events; a bad message is dead-lettered with its own bytes; in an
 * array, bad elements are dead-lettered one by one and good ones still stored.
 */
export function planFlush(stream: Stream, messages: readonly MessageIn[], limits: EventLimits, maxMessageBytes: number): FlushPlan {
  const batch = stream === 'events' ? new EventBatch(limits) : new ItemBatch(stream, limits);
  // Where each item that took the generic path came from; only those can be rejected.
  const origins = new Map<number, { message: MessageIn; index?: number; element?: unknown }>();
  const dead: DeadLetter[] = [];
  for (const message of messages) {
    const base = { offset: message.offset, key: message.key, value: message.value };
    const value = message.value;
    if (value === null) {
      dead.push({ ...base, code: 'null_value', reason: 'message has no value (a tombstone?)' });
      continue;
    }
    if (value.length > maxMessageBytes) {
      dead.push({ ...base, code: 'too_large', reason: `message is ${value.length} bytes, more than ${maxMessageBytes}` });
      continue;
    }
    if (batch instanceof EventBatch) {
      if (batch.whole(value, 0, value.length)) continue;
      if (batch.array(value, (element, index) => origins.set(batch.nextIndex, { message, index, element }))) continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.toString('utf8'));
    } catch (err) {
      dead.push({ ...base, code: 'invalid_json', reason: `not valid JSON: ${(err as Error).message}` });
      continue;
    }
    if (Array.isArray(parsed)) {
      parsed.forEach((element, index) => {
        origins.set(batch.nextIndex, { message, index, element });
        batch.generic(ok(element));
      });
    } else {
      origins.set(batch.nextIndex, { message });
      batch.generic(parsed !== null && typeof parsed === 'object' ? ok(parsed) : reject('not_an_object', 'message must hold a JSON object or an array of them'));
    }
  }
  const prepared = batch.finish();
  prepared.rejected.forEach((r, i) => {
    const from = origins.get(r.index)!;
    const whole = from.index === undefined;
    dead.push({
      offset: from.message.offset,
      key: from.message.key,
      value: whole ? from.message.value : Buffer.from(JSON.stringify(from.element)),
      code: prepared.codes[i],
      reason: r.reason,
      ...(whole ? {} : { index: from.index }),
    });
  });
  dead.sort((a, b) => (BigInt(a.offset) < BigInt(b.offset) ? -1 : BigInt(a.offset) > BigInt(b.offset) ? 1 : (a.index ?? 0) - (b.index ?? 0)));
  const last = messages.length > 0 ? BigInt(messages[messages.length - 1].offset) : -1n;
  return { encoded: prepared.encoded, rows: prepared.accepted, dead, commitOffset: (last + 1n).toString(), messages: messages.length };
}
