import type { FastifyReply } from 'fastify';
import type { Metrics } from '../core/metrics.ts';
import { boundedSql, QueryCancelledError, QueryTimeoutError } from '../store/bounded.ts';
import { AnalysisMemoryError, withMemoryCeiling } from '../store/memory-ceiling.ts';
import type { Sql } from '../store/sql.ts';
import { Errors } from './errors.ts';

export interface QueryGateOptions {
  /** Analysis requests answered at once; more are refused with 503 and Retry-After. */
  maxConcurrent: number;
  /** Time one request's statements may take together, enforced by the engine. */
  timeoutMs: number;
  /** The engine's memory ceiling for each statement of a request (ANALYSIS_MAX_MEMORY_BYTES); unset: the engine's own. */
  maxMemoryBytes?: number;
}

/**
 * A slot is usually free again within one analysis; a second is what a
 * client polling the drift route waits before it asks again.
 */
const RETRY_AFTER_S = 1;

/**
 * The bound on the API's analysis routes. A request takes one of
 * `maxConcurrent` slots or is refused at once (503, Retry-After): a queue
 * would only make the answers it holds later, and the engine does one
 * statement at a time anyway (chDB), so waiting requests delay ingest's
 * inserts too. In its slot the request sees the store through boundedSql:
 * its statements share the engine time limit, and none starts once the
 * client has gone or the service is stopping.
 */
export class QueryGate {
  readonly #inFlight = new Set<AbortController>();
  #closed = false;

  constructor(
    private readonly deps: { sql: Sql; metrics: Metrics },
    private readonly options: QueryGateOptions,
  ) {}

  /**
   * Runs `work` in a slot with a bounded store. With `bounded: false` the
   * work holds a slot but sees the store unbounded: a write that should not
   * be left half done by a client that went away (freezing a baseline and
   * its segment baselines).
   */
  async run<T>(reply: FastifyReply, work: (sql: Sql) => Promise<T>, mode: { bounded?: boolean } = {}): Promise<T> {
    const { metrics } = this.deps;
    if (this.#closed || this.#inFlight.size >= this.options.maxConcurrent) {
      metrics.queryGateRequests.inc({ outcome: 'busy' });
      reply.header('retry-after', String(RETRY_AFTER_S));
      throw new Errors.Busy(
        this.#closed
          ? 'the service is stopping'
          : `${this.options.maxConcurrent} analysis requests are running (ANALYSIS_MAX_CONCURRENT); retry after ${RETRY_AFTER_S} s`,
      );
    }
    const controller = new AbortController();
    // The response closes before it finished only when the client went away.
    const gone = () => {
      if (!reply.raw.writableFinished) controller.abort();
    };
    reply.raw.once('close', gone);
    this.#inFlight.add(controller);
    metrics.queryGateInFlight.set(this.#inFlight.size);
    const store = this.options.maxMemoryBytes === undefined ? this.deps.sql : withMemoryCeiling(this.deps.sql, this.options.maxMemoryBytes);
    const sql = mode.bounded === false ? store : boundedSql(store, { signal: controller.signal, timeoutMs: this.options.timeoutMs });
    try {
      const result = await work(sql);
      metrics.queryGateRequests.inc({ outcome: 'ok' });
      return result;
    } catch (err) {
      if (err instanceof QueryTimeoutError) {
        metrics.queryGateRequests.inc({ outcome: 'timeout' });
        throw new Errors.QueryTimeout(`${err.message} (ANALYSIS_TIMEOUT); ask for a shorter range, or raise the limit`);
      }
      if (err instanceof AnalysisMemoryError) {
        metrics.queryGateRequests.inc({ outcome: 'memory' });
        throw new Errors.AnalysisMemory(`${err.message} (ANALYSIS_MAX_MEMORY_BYTES); ask for a shorter range or fewer features, or raise the ceiling`);
      }
      if (err instanceof QueryCancelledError) {
        metrics.queryGateRequests.inc({ outcome: 'cancelled' });
        throw new Errors.QueryCancelled(this.#closed ? 'the service is stopping' : 'the client went away');
      }
      metrics.queryGateRequests.inc({ outcome: 'error' });
      throw err;
    } finally {
      reply.raw.off('close', gone);
      this.#inFlight.delete(controller);
      metrics.queryGateInFlight.set(this.#inFlight.size);
    }
  }

  /**
   * Admits no more work and cancels what is in flight, so that stopping
   * waits for no statement that has not started: the service is stopping.
   */
  close(): void {
    this.#closed = true;
    for (const controller of this.#inFlight) controller.abort();
  }
}
