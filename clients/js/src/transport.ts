import type { Stream } from './types.js';

/** What became of one batch. */
export type SendResult =
  /** Answered: accepted except the items listed (index in the batch, reason). */
  | { kind: 'sent'; rejected: { index: number; reason: string }[] }
  /** Nothing of it was kept (503, 429, 5xx, a network error, a timeout): send it again later. */
  | { kind: 'retry'; reason: string; retryAfterMs: number | null }
  /** Refused whole (400, 401, 403, 413): sending it again would be refused again. */
  | { kind: 'refused'; status: number; reason: string };

/** Carries batches to driftwatch: over HTTP or through Kafka. */
export interface Transport {
  send(stream: Stream, json: string[], signal: AbortSignal): Promise<SendResult>;
  close(): Promise<void>;
}
