import type { EventLimits } from '../core/event.ts';
import type { Metrics } from '../core/metrics.ts';
import type { Prepared, Rejection, Stream } from './prepare.ts';
import type { Writers } from './writers.ts';

export type { Rejection, Stream } from './prepare.ts';

export interface IngestResult {
  accepted: number;
  rejected: Rejection[];
}

export interface IngestDeps {
  writers: Writers;
  metrics: Metrics;
  limits: () => EventLimits;
}

/**
 * Stores a prepared batch's valid rows, resolving once they are stored (or,
 * with INGEST_ACK=journaled, in the journal that stores them). A bad
 * item cost only itself (it is in `rejected`); a failing or saturated store
 * throws, so the caller can answer 503 and the sender retry the whole batch
 * (events are idempotent by (model, event_id)).
 */
export async function store(deps: IngestDeps, stream: Stream, prepared: Prepared, source = 'http'): Promise<IngestResult> {
  const started = performance.now();
  for (const code of prepared.codes) deps.metrics.ingestRejected.inc({ stream, reason: code });
  if (prepared.rejected.length > 0) deps.metrics.ingestItems.inc({ stream, source, outcome: 'rejected' }, prepared.rejected.length);
  await deps.writers[stream].add(prepared.encoded, prepared.accepted);
  deps.metrics.ingestItems.inc({ stream, source, outcome: 'accepted' }, prepared.accepted);
  deps.metrics.ingestBatchSeconds.observe({ stream }, (performance.now() - started) / 1000);
  return { accepted: prepared.accepted, rejected: prepared.rejected };
}
