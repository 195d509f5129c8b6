import type { EventLimits, EventRow, LabelRow } from '../core/event.ts';
import { validateEvent, validateLabel } from '../core/event.ts';
import type { Outcome, RejectCode } from '../core/outcome.ts';
import { encodeEvents, encodeLabels } from '../store/events.ts';
import { parseBody, type BodyFormat, type BodyItem } from './body.ts';
import { EventBatch } from './event-batch.ts';

export type Stream = 'events' | 'labels';

export interface Rejection {
  index: number;
  reason: string;
}

/** A batch turned into what the store takes: rows encoded as RowBinary, plus each rejected item's reason. */
export interface Prepared {
  encoded: Uint8Array;
  accepted: number;
  rejected: Rejection[];
  codes: RejectCode[];
}

interface StreamSpec<Row> {
  validate: (input: unknown, limits: EventLimits) => Outcome<Row>;
  encode: (rows: readonly Row[]) => Uint8Array;
}

const STREAMS: { events: StreamSpec<EventRow>; labels: StreamSpec<LabelRow> } = {
  events: { validate: validateEvent, encode: encodeEvents },
  labels: { validate: validateLabel, encode: encodeLabels },
};

/** Validates every item on its own and encodes the valid ones. Pure: no I/O. */
export function prepareItems(stream: Stream, items: readonly BodyItem[], limits: EventLimits): Prepared {
  const spec = STREAMS[stream] as StreamSpec<EventRow | LabelRow>;
  const rows: (EventRow | LabelRow)[] = [];
  const rejected: Rejection[] = [];
  const codes: RejectCode[] = [];
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    const checked = item.ok ? spec.validate(item.value, limits) : item;
    if (checked.ok) {
      rows.push(checked.value);
    } else {
      rejected.push({ index, reason: checked.reason });
      codes.push(checked.code);
    }
  }
  return { encoded: spec.encode(rows), accepted: rows.length, rejected, codes };
}

export type PreparedBody = { ok: true; prepared: Prepared } | { ok: false; reason: string };

/** A Buffer view of bytes that crossed a thread boundary (they arrive as plain Uint8Arrays); no copy. */
export function asBuffer(bytes: Uint8Array): Buffer;
export function asBuffer(bytes: Uint8Array | null): Buffer | null;
export function asBuffer(bytes: Uint8Array | null): Buffer | null {
  return bytes === null || Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Items collected one by one and judged together at the end: the generic path (labels use it always). */
export class ItemBatch {
  private readonly items: BodyItem[] = [];

  constructor(
    private readonly stream: Stream,
    private readonly limits: EventLimits,
  ) {}

  get nextIndex(): number {
    return this.items.length;
  }

  generic(item: BodyItem): void {
    this.items.push(item);
  }

  finish(): Prepared {
    return prepareItems(this.stream, this.items, this.limits);
  }
}

/** A request body from bytes to encoded rows. Pure: runs inline or in a worker thread. */
export function prepareBody(stream: Stream, body: Uint8Array, format: BodyFormat, limits: EventLimits): PreparedBody {
  const bytes = asBuffer(body);
  if (stream === 'events') {
    const batch = new EventBatch(limits);
    if (format === 'ndjson') {
      batch.lines(bytes);
      return { ok: true, prepared: batch.finish() };
    }
    // Not one valid JSON array: the generic path below says what is wrong.
    if (batch.array(bytes)) return { ok: true, prepared: batch.finish() };
  }
  const parsed = parseBody(bytes, format);
  if (!parsed.ok) return parsed;
  return { ok: true, prepared: prepareItems(stream, parsed.items, limits) };
}
