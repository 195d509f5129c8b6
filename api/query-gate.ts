import type { FastifyReply, FastifyRequest } from 'fastify';
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
 * Where a request stands in ingest's order (api/app.ts): `mark` counts what
 * was acknowledged before it arrived, in a unit that only grows (the
 * journal's entries, or the clock where a 200 already means stored).
 * `covers` answers up to which mark a run started now for it sees
 * everything: its own mark once that was stored, the current clock where
 * acknowledged means stored, nothing where storing did not finish in time.
 */
export interface ReadPoint {
  mark: number;
  covers(): number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Where a model route's request stands in ingest's order, set on arrival (api/app.ts). */
    readPoint: ReadPoint | null;
  }
}

/** An admitted analysis and the requests waiting for it (one, unless shared). */
interface SharedRun<T> {
  controller: AbortController;
  /** Requests waiting for it whose clients are still there. */
  clients: number;
  /** The mark it sees everything before (ReadPoint.covers when it started). */
  covers: number;
  result: Promise<T>;
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
  readonly #shared = new Map<string, SharedRun<unknown>[]>();
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
    return this.#await(null, this.#start(reply, work, mode.bounded !== false), reply);
  }

  /**
   * Runs `work` as `run` does, or answers with a run of the same request
   * (route, parameters and query) already in flight: twenty dashboards
   * polling one model's drift cost one analysis, not twenty (or eighteen
   * 503s). A request joins only a run that sees everything it must see: one
   * that covers its place in ingest's order (ReadPoint). A joined request
   * gets that run's answer, whose window is the one the run computed (a
   * default window ends when the run started). The run is cancelled when the
   * last of its requests' clients has gone.
   */
  async shared<T>(request: FastifyRequest, reply: FastifyReply, work: (sql: Sql) => Promise<T>): Promise<T> {
    const at = request.readPoint;
    if (!at) return this.run(reply, work);
    const key = `${request.routeOptions.url} ${JSON.stringify(request.params)} ${JSON.stringify(request.query)}`;
    const runs = this.#shared.get(key) ?? [];
    const joined = runs.find((r) => r.covers >= at.mark) as SharedRun<T> | undefined;
    if (joined) {
      this.deps.metrics.queryGateRequests.inc({ outcome: 'shared' });
      return this.#await(key, joined, reply);
    }
    const started = this.#start(reply, work, true, at.covers());
    this.#shared.set(key, [...runs, started]);
    const forget = () => this.#forget(key, started);
    started.result.then(forget, forget);
    return this.#await(key, started, reply);
  }

  /** Admits `work` (or answers 503) and starts it. */
  #start<T>(reply: FastifyReply, work: (sql: Sql) => Promise<T>, bounded: boolean, covers = Number.NEGATIVE_INFINITY): SharedRun<T> {
    const controller = this.#admit(reply);
    return { controller, clients: 0, covers, result: this.#execute(controller, work, bounded) };
  }

  /** The run's answer for one more client; the run is cancelled when the last of its clients goes away. */
  async #await<T>(key: string | null, run: SharedRun<T>, reply: FastifyReply): Promise<T> {
    run.clients++;
    // The response closes before it finished only when the client went away.
    const gone = () => {
      if (reply.raw.writableFinished || --run.clients > 0) return;
      // Nobody waits for it any more: a later request must not join a run on its way out.
      if (key !== null) this.#forget(key, run);
      run.controller.abort();
    };
    reply.raw.once('close', gone);
    try {
      return await run.result;
    } finally {
      reply.raw.off('close', gone);
    }
  }

  #forget(key: string, run: SharedRun<unknown>): void {
    const left = (this.#shared.get(key) ?? []).filter((r) => r !== run);
    if (left.length === 0) this.#shared.delete(key);
    else this.#shared.set(key, left);
  }

  /** A slot, or 503 with Retry-After. */
  #admit(reply: FastifyReply): AbortController {
    if (this.#closed || this.#inFlight.size >= this.options.maxConcurrent) {
      this.deps.metrics.queryGateRequests.inc({ outcome: 'busy' });
      reply.header('retry-after', String(RETRY_AFTER_S));
      throw new Errors.Busy(
        this.#closed
          ? 'the service is stopping'
          : `${this.options.maxConcurrent} analysis requests are running (ANALYSIS_MAX_CONCURRENT); retry after ${RETRY_AFTER_S} s`,
      );
    }
    const controller = new AbortController();
    this.#inFlight.add(controller);
    this.deps.metrics.queryGateInFlight.set(this.#inFlight.size);
    return controller;
  }

  /** Runs admitted work and frees its slot; engine limits become the API's coded errors. */
  async #execute<T>(controller: AbortController, work: (sql: Sql) => Promise<T>, bounded: boolean): Promise<T> {
    const { metrics } = this.deps;
    const store = this.options.maxMemoryBytes === undefined ? this.deps.sql : withMemoryCeiling(this.deps.sql, this.options.maxMemoryBytes);
    const sql = bounded ? boundedSql(store, { signal: controller.signal, timeoutMs: this.options.timeoutMs }) : store;
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
