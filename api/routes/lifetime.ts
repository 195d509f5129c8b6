import type { FastifyInstance } from 'fastify';
import type { AlertEngine } from '../../alerts/engine.ts';
import type { ShadowScorer } from '../../analyzers/shadow/scorer.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { Jobs } from '../../jobs/registry.ts';
import { deleteEvents, deleteModel, type Deleted as DeletedRows } from '../../store/deletion.ts';
import { settleWithin } from '../../core/within.ts';
import { Errors } from '../errors.ts';
import type { QueryGate } from '../query-gate.ts';
import { DeleteEventsRequest, Deleted, ErrorResponse, ModelParams } from '../schemas.ts';

export interface LifetimeRouteOptions {
  gate: QueryGate;
  metrics: Metrics;
  /** What the service keeps about a model outside the store, forgotten with it; each is optional. */
  alerts?: AlertEngine;
  scorer?: ShadowScorer;
  jobs?: Jobs;
}

/** The series of every gauge labelled with this model: a deleted model's last values must not stay on /metrics. */
async function removeGauges(metrics: Metrics, model: string): Promise<void> {
  for (const metric of metrics.registry.getMetricsAsArray()) {
    const m = metric as unknown as { type?: string; get(): Promise<{ type?: string; values: { labels: Record<string, string | number> }[] }>; remove(labels: object): void };
    const { type, values } = await m.get();
    if (type !== 'gauge') continue;
    for (const v of values) if (v.labels.model === model) m.remove(v.labels);
  }
}

// Longest a delete waits for a cancelled job of the model to stop.
const JOB_STOP_MS = 30_000;

const PurgeQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { purge: { type: 'boolean', default: false, description: 'Also rewrite the parts that held the rows, so they are gone from disk too.' } },
} as const;

function count(metrics: Metrics, deleted: DeletedRows): void {
  for (const [table, n] of Object.entries(deleted)) if (n > 0) metrics.deletedRows.inc({ table }, n);
}

/**
 * The end of data's life on request: a whole model, or individual events
 * (a data-subject request). Retention by age is the engine's TTL
 * (store/retention.ts), set at start.
 */
export async function lifetimeRoutes(app: FastifyInstance, options: LifetimeRouteOptions): Promise<void> {
  const { gate, metrics } = options;

  app.delete<{ Params: { model: string }; Querystring: { purge: boolean } }>(
    '/v1/models/:model',
    {
      config: { scope: 'admin' },
      schema: {
        summary: "Delete everything stored about a model: events, labels, baselines, rolling policy, results, shadow models, alert state and history",
        description: 'Deleted rows are invisible at once; with purge=true the parts that held them are also rewritten without them before the answer.',
        tags: ['models'],
        params: ModelParams,
        querystring: PurgeQuery,
        response: { 200: Deleted, 404: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      // Imports and backfills of the model would write again behind the delete: they stop first.
      for (const job of options.jobs?.list({ model }) ?? []) {
        if (job.state !== 'running') continue;
        options.jobs!.cancel(job.id);
        await settleWithin(options.jobs!.settled(job.id), JOB_STOP_MS);
        if (options.jobs!.get(job.id)?.state === 'running') {
          reply.header('retry-after', '5');
          throw new Errors.Busy(`job ${job.id} (${job.kind}) of model "${model}" is still stopping; nothing was deleted: retry in a moment`);
        }
      }
      const deleted = await gate.run(reply, (sql) => deleteModel(sql, model, { purge: request.query.purge }), { bounded: false });
      count(metrics, deleted);
      options.alerts?.forgetModel(model);
      await options.scorer?.refresh();
      await removeGauges(metrics, model);
      if (Object.values(deleted).every((n) => n === 0)) throw new Errors.ModelNotFound(model);
      return { deleted };
    },
  );

  app.post<{ Params: { model: string }; Body: { event_ids: string[]; purge: boolean } }>(
    '/v1/models/:model/events::delete',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Delete individual events of a model with their labels and shadow predictions (e.g. a data-subject request)',
        description: 'At most 10,000 ids a request. Aggregates already computed from the events (baselines, window results) stay; see docs/operations.md.',
        tags: ['models'],
        params: ModelParams,
        body: DeleteEventsRequest,
        response: { 200: Deleted, 400: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const deleted = await gate.run(reply, (sql) => deleteEvents(sql, request.params.model, request.body.event_ids, { purge: request.body.purge }), { bounded: false });
      count(metrics, deleted);
      return { deleted };
    },
  );
}
