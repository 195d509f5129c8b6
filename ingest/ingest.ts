import type { EventLimits, EventRow, LabelRow } from '../core/event.ts';
import { validateEvent, validateLabel } from '../core/event.ts';
import type { Metrics } from '../core/metrics.ts';
import type { Outcome } from '../core/outcome.ts';
import { insertEvents, insertLabels } from '../store/events.ts';
import type { Sql } from '../store/sql.ts';
import type { BodyItem } from './body.ts';

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
  insert: (sql: Sql, rows: readonly Row[]) => Promise<void>;
}

const STREAMS: { events: StreamSpec<EventRow>; labels: StreamSpec<LabelRow> } = {
  events: { validate: validateEvent, insert: insertEvents },
  labels: { validate: validateLabel, insert: insertLabels },
};

export interface IngestDeps {
  sql: Sql;
  metrics: Metrics;
  limits: () => EventLimits;
}

/**
 * Validates every item on its own and stores the valid ones in one insert.
 * A bad item costs only itself; a failing store throws, so the caller can
 * answer 503 and the sender retry the whole batch (inserts are idempotent).
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
  await spec.insert(deps.sql, rows);
  deps.metrics.ingestItems.inc({ stream, source, outcome: 'accepted' }, rows.length);
  if (rejected.length > 0) deps.metrics.ingestItems.inc({ stream, source, outcome: 'rejected' }, rejected.length);
  deps.metrics.ingestBatchSeconds.observe({ stream }, (performance.now() - started) / 1000);
  return { accepted: rows.length, rejected };
}
