import type { EventLimits, EventRow, LabelRow } from '../core/event.ts';
import { validateEvent, validateLabel } from '../core/event.ts';
import type { Metrics } from '../core/metrics.ts';
import type { Outcome } from '../core/outcome.ts';
import { encodeCompact, EVENT_COLUMNS, LABEL_COLUMNS } from '../store/events.ts';
import type { BodyItem } from './body.ts';
import type { InsertBatcher } from './batcher.ts';

export interface Rejection {
  index: number;
  reason: string;
}

export interface IngestResult {
  accepted: number;
  rejected: Rejection[];
}

export type Stream = 'events' | 'labels';

interface StreamSpec<Row> {
  validate: (input: unknown, limits: EventLimits) => Outcome<Row>;
  encode: (rows: readonly Row[]) => string;
}

const STREAMS: { events: StreamSpec<EventRow>; labels: StreamSpec<LabelRow> } = {
  events: { validate: validateEvent, encode: (rows) => encodeCompact(rows, EVENT_COLUMNS) },
  labels: { validate: validateLabel, encode: (rows) => encodeCompact(rows, LABEL_COLUMNS) },
};

export interface IngestDeps {
  writers: Record<Stream, InsertBatcher>;
  metrics: Metrics;
  limits: () => EventLimits;
}

/**
 * Validates every item on its own and stores the valid ones, resolving once
 * they are stored. A bad item costs only itself; a failing or saturated store
 * throws, so the caller can answer 503 and the sender retry the whole batch
 * (events are idempotent by (model, event_id)).
 */
export async function ingest(deps: IngestDeps, stream: Stream, items: readonly BodyItem[], source = 'http'): Promise<IngestResult> {
  const started = performance.now();
  const spec = STREAMS[stream] as StreamSpec<EventRow | LabelRow>;
  const limits = deps.limits();
  const rows: (EventRow | LabelRow)[] = [];
  const rejected: Rejection[] = [];
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    const checked = item.ok ? spec.validate(item.value, limits) : item;
    if (checked.ok) {
      rows.push(checked.value);
    } else {
      rejected.push({ index, reason: checked.reason });
      deps.metrics.ingestRejected.inc({ stream, reason: checked.code });
    }
  }
  await deps.writers[stream].add(spec.encode(rows), rows.length);
  deps.metrics.ingestItems.inc({ stream, source, outcome: 'accepted' }, rows.length);
  if (rejected.length > 0) deps.metrics.ingestItems.inc({ stream, source, outcome: 'rejected' }, rejected.length);
  deps.metrics.ingestBatchSeconds.observe({ stream }, (performance.now() - started) / 1000);
  return { accepted: rows.length, rejected };
}
