import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { PredictionEvent } from './types.js';

/** What a model call is about, known before it runs. */
export interface PredictionInput {
  model: string;
  features: PredictionEvent['features'];
  /** The request's own id, to label it later by; generated when absent. */
  event_id?: string;
  model_version?: string;
  tags?: Record<string, string>;
}

interface Logger {
  log(event: PredictionEvent): string;
}

/**
 * One prediction being timed: its event_id and timestamp are fixed when it
 * starts, latency_ms is measured with the monotonic clock until `ok()` or
 * `fail()`, which log it (once; later calls do nothing).
 */
export class Prediction {
  readonly event_id: string;
  readonly timestamp = Date.now();
  private readonly start = performance.now();
  private done = false;

  constructor(
    private readonly client: Logger,
    private readonly input: PredictionInput,
  ) {
    this.event_id = input.event_id ?? randomUUID();
  }

  ok(prediction: number | string, scores?: Record<string, number>): string {
    return this.finish({ prediction, ...(scores ? { scores } : {}) });
  }

  /** Logs a failed prediction: status "error", error_type the error's name (or the string given); its features are kept. */
  fail(error: unknown): string {
    return this.finish({ status: 'error', error_type: errorType(error) });
  }

  private finish(outcome: Partial<PredictionEvent>): string {
    if (this.done) return this.event_id;
    this.done = true;
    const { model, features, model_version, tags } = this.input;
    return this.client.log({
      event_id: this.event_id,
      model,
      timestamp: this.timestamp,
      features,
      ...outcome,
      latency_ms: performance.now() - this.start,
      ...(model_version !== undefined ? { model_version } : {}),
      ...(tags !== undefined ? { tags } : {}),
    });
  }
}

/** "TypeError", "TimeoutError", a custom class name, or the string given; at most 256 characters. */
export function errorType(error: unknown): string {
  let name: string;
  if (typeof error === 'string') name = error;
  else if (error instanceof Error) name = error.name && error.name !== 'Error' ? error.name : error.constructor?.name || 'Error';
  else name = typeof error;
  return name.slice(0, 256) || 'Error';
}
