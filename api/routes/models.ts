import type { FastifyInstance } from 'fastify';
import { computeDrift, type DriftOptions } from '../../analyzers/drift.ts';
import type { BaselineOptions } from '../../analyzers/baseline.ts';
import type { Preaggregates } from '../../analyzers/preaggregates.ts';
import { activeBaseline, segmentBaselines } from '../../store/baselines.ts';
import { comparePerformance, computePerformance } from '../../analyzers/performance-window.ts';
import { driftHistory } from '../../store/drift-results.ts';
import { performanceHistory } from '../../store/performance-results.ts';
import { listModels } from '../../store/events.ts';
import { modelSummaries } from '../../store/model-summary.ts';
import { segmentTags } from '../../store/segment-tags.ts';
import type { AlertEngine } from '../../alerts/engine.ts';
import { mayUse } from '../access.ts';
import type { QueryGate } from '../query-gate.ts';
import { Errors } from '../errors.ts';
import { baselineFor, referenceRange } from './baselines.ts';
import {
  DriftHistoryQuery,
  DriftQuery,
  DriftReport as DriftReportSchema,
  ModelSummary as ModelSummarySchema,
  Performance as PerformanceSchema,
  ErrorResponse,
  HistoryQuery,
  ModelParams,
} from '../schemas.ts';
import { iso, parseHistoryRange, parseRange, windowOut } from '../time.ts';
import { compactReport } from './compact.ts';

export interface ModelRouteOptions {
  /** Every route here reads through the gate: bounded in number and time. */
  gate: QueryGate;
  windowMs: number;
  baseline: BaselineOptions;
  drift: DriftOptions;
  maxSegments: number;
  /** The insert-time pre-aggregates (docs/preaggregates.md): a report's binned counts come from them wherever they answer exactly; without it, from raw events. */
  preaggregates?: Preaggregates;
  /** Counts the firing alerts of the models summary; without it the count is null. */
  alerts?: Pick<AlertEngine, 'active'>;
}

type ModelRequest = { Params: { model: string } };
type RangeRequest = ModelRequest & { Querystring: { from?: string; to?: string; limit: number } };

export async function modelRoutes(app: FastifyInstance, options: ModelRouteOptions): Promise<void> {
  const { gate } = options;

  app.get<{ Querystring: { include?: 'summary' } }>(
    '/v1/models',
    {
      config: { scope: 'read', models: 'filtered' },
      schema: {
        summary: 'Models with stored events',
        tags: ['models'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            include: { type: 'string', enum: ['summary'], description: 'summary: each model also with `summary`, what a models page shows (three more grouped queries).' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              models: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    model: { type: 'string' },
                    events: { type: 'integer' },
                    labels: { type: 'integer' },
                    first_event: { type: 'string', format: 'date-time' },
                    last_event: { type: 'string', format: 'date-time' },
                    versions: { type: 'array', items: { type: 'string' } },
                    summary: ModelSummarySchema,
                  },
                },
              },
            },
          },
          503: ErrorResponse,
        },
      },
    },
    async (request, reply) =>
      gate.run(reply, async (sql) => {
        const models = (await listModels(sql)).filter((m) => mayUse(request.grant, m.model));
        if (request.query.include !== 'summary') return { models };
        const summaries = await modelSummaries(sql, options.windowMs);
        const firing = options.alerts?.active().filter((s) => s.status === 'firing');
        return {
          models: models.map((m) => {
            const s = summaries.get(m.model);
            const last = s?.last_window;
            return {
              ...m,
              summary: {
                event_rate_per_s: s?.event_rate_per_s ?? 0,
                last_window: last ? { ...last, from: iso(last.from), to: iso(last.to) } : null,
                label_coverage: s?.label_coverage ?? null,
                firing_alerts: firing ? firing.filter((a) => a.model === m.model).length : null,
              },
            };
          }),
        };
      }),
  );

  app.get<ModelRequest & { Querystring: { from?: string; to?: string; baseline_id?: string; reference_from?: string; reference_to?: string; segment_by?: string; include?: ('distributions' | 'segment_tags')[] } }>(
    '/v1/models/:model/drift',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Drift of a time window against a baseline, or against another range, computed now',
        description:
          'Defaults: the window is the last ANALYSIS_WINDOW before now; the baseline is the active one. With reference_from and reference_to, ' +
          'the window is compared with that range instead, through a baseline built in memory as a frozen one is, and nothing is stored.',
        tags: ['drift'],
        params: ModelParams,
        querystring: DriftQuery,
        response: { 200: DriftReportSchema, 400: ErrorResponse, 404: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      const range = parseRange(request.query.from, request.query.to, options.windowMs);
      const reference = referenceRange(request.query);
      return gate.shared(request, reply, async (sql) => {
        if (reference) return reference.compare(sql, model, range, request.query.segment_by, options);
        const baseline = await baselineFor(sql, model, request.query.baseline_id);
        const include = { distributions: request.query.include?.includes('distributions') };
        const frozen = { from: iso(baseline.from), to: iso(baseline.to), frozen: true };
        const report = {
          ...windowOut(await computeDrift(sql, baseline, { model, ...range }, options.drift, { ...include, counts: await options.preaggregates?.reader(sql, baseline) })),
          reference: frozen,
          ...(request.query.include?.includes('segment_tags') ? { segment_tags: await segmentTags(sql, model, baseline.baseline_id) } : {}),
        };
        const tag = request.query.segment_by;
        if (!tag) return report;
        const segments = [];
        for (const segmentBaseline of await segmentBaselines(sql, model, baseline.baseline_id, tag)) {
          const segment = segmentBaseline.segment!;
          segments.push(windowOut(await computeDrift(sql, segmentBaseline, { model, ...range, segment }, options.drift, include)));
        }
        return { ...report, segments };
      });
    },
  );

  app.get<RangeRequest & { Querystring: { segment_by?: string; segment?: string; compact: boolean } }>(
    '/v1/models/:model/drift/history',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Stored results of the scheduled analysis, newest window first',
        tags: ['drift'],
        params: ModelParams,
        querystring: DriftHistoryQuery,
        response: { 200: { type: 'object', properties: { windows: { type: 'array', items: DriftReportSchema } } }, 400: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { segment_by: tag, segment: value } = request.query;
      if (value !== undefined && tag === undefined) throw new Errors.BadQuery('segment needs segment_by: the tag whose value it is');
      const range = parseHistoryRange(request.query.from, request.query.to);
      const windows = await gate.run(reply, (sql) => driftHistory(sql, request.params.model, range, request.query.limit, tag ? { tag, value } : undefined));
      const shape = request.query.compact ? compactReport : <T>(r: T) => r;
      return { windows: windows.map((w) => ({ ...windowOut(shape(w)), segments: w.segments?.map((s) => windowOut(shape(s))) })) };
    },
  );
}

export async function performanceRoutes(app: FastifyInstance, options: ModelRouteOptions): Promise<void> {
  const { gate } = options;
  const WindowPerformance = {
    type: 'object',
    properties: { ...PerformanceSchema.properties, from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' }, computed_at: { type: 'string', format: 'date-time' } },
  } as const;

  app.get<ModelRequest & { Querystring: { from?: string; to?: string } }>(
    '/v1/models/:model/performance',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Performance of a time window with the labels that have arrived, against the active baseline',
        tags: ['performance'],
        params: ModelParams,
        querystring: { type: 'object', additionalProperties: false, properties: { from: { type: 'string' }, to: { type: 'string' } } },
        response: { 200: WindowPerformance, 400: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      const range = parseRange(request.query.from, request.query.to, options.windowMs);
      return gate.run(reply, async (sql) => {
          const baseline = await activeBaseline(sql, model);
          const perf = comparePerformance(await computePerformance(sql, { model, ...range, includeFailed: options.drift.includeFailed }), baseline?.performance);
          return { ...perf, from: iso(range.from), to: iso(range.to) };
      });
    },
  );

  app.get<RangeRequest>(
    '/v1/models/:model/performance/history',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Stored performance of the scheduled windows (recomputed as labels arrive), newest first',
        tags: ['performance'],
        params: ModelParams,
        querystring: HistoryQuery,
        response: { 200: { type: 'object', properties: { windows: { type: 'array', items: WindowPerformance } } }, 400: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { from, to } = parseHistoryRange(request.query.from, request.query.to);
      const windows = await gate.run(reply, (sql) => performanceHistory(sql, request.params.model, from, to, request.query.limit));
      return { windows: windows.map(windowOut) };
    },
  );
}
