import type { FastifyInstance } from 'fastify';
import type { DriftOptions } from '../../analyzers/drift.ts';
import { driftSeries } from '../../analyzers/drift-series.ts';
import type { Preaggregates } from '../../analyzers/preaggregates.ts';
import { parseDuration } from '../../core/duration.ts';
import { Errors } from '../errors.ts';
import type { QueryGate } from '../query-gate.ts';
import { ErrorResponse, ModelParams } from '../schemas.ts';
import { iso, parseTime } from '../time.ts';
import { baselineFor } from './baselines.ts';

const MINUTE = 60_000;

export interface SeriesRouteOptions {
  gate: QueryGate;
  drift: DriftOptions;
  preaggregates?: Preaggregates;
  /** Steps x features at most in one answer (SERIES_MAX_CELLS). */
  maxCells: number;
  /** Steps computed from raw events where the pre-aggregates cannot answer exactly (SERIES_RAW_MAX_STEPS). */
  rawMaxSteps: number;
}

const nullableNumbers = { type: 'array', items: { type: ['number', 'null'] } } as const;

const SeriesSchema = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    baseline_id: { type: 'string' },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    step_ms: { type: 'integer' },
    steps: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          from: { type: 'string', format: 'date-time' },
          to: { type: 'string', format: 'date-time' },
          n_events: { type: ['integer', 'null'] },
          source: {
            type: 'string',
            enum: ['preaggregates', 'raw', 'unavailable'],
            description: 'unavailable: the pre-aggregates cannot answer this step exactly and the raw budget (SERIES_RAW_MAX_STEPS) is spent; its values are null',
          },
        },
      },
    },
    features: {
      type: 'array',
      description: 'Per feature, one value per step (in the order of steps); null where the step had none',
      items: {
        type: 'object',
        properties: {
          feature: { type: 'string' },
          kind: { type: 'string', enum: ['numeric', 'categorical'] },
          n: nullableNumbers,
          psi: nullableNumbers,
          jensen_shannon: nullableNumbers,
          hellinger: nullableNumbers,
          chi2_statistic: nullableNumbers,
          chi2_p_value: nullableNumbers,
          drifted: { type: 'array', items: { type: ['boolean', 'null'] } },
          missing_share: nullableNumbers,
          type_violation_share: nullableNumbers,
        },
      },
    },
    backfill: {
      type: ['object', 'null'],
      description: "Where filling this baseline's pre-aggregates from stored events stands: steps before `from` are computed from raw events, within SERIES_RAW_MAX_STEPS",
      properties: {
        state: { type: 'string', enum: ['running', 'done', 'failed'] },
        from: { type: 'string', format: 'date-time' },
        to: { type: 'string', format: 'date-time' },
        job_id: { type: 'string' },
        reason: { type: 'string' },
      },
    },
  },
} as const;

/** GET /v1/models/{model}/drift/series: drift over time, per feature and step, from the pre-aggregates (docs/preaggregates.md). */
export async function seriesRoutes(app: FastifyInstance, options: SeriesRouteOptions): Promise<void> {
  app.get<{ Params: { model: string }; Querystring: { from?: string; to?: string; step: string; features?: string; baseline_id?: string } }>(
    '/v1/models/:model/drift/series',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Binned drift statistics and data quality per feature and time step, against a baseline',
        description:
          'PSI, Jensen-Shannon, Hellinger, chi-square, the verdict and data quality per feature for each step of [from, to), the same numbers the scheduled ' +
          'analysis computes for a window of that size. Defaults: 24 steps ending at the current minute, the active baseline, every feature.',
        tags: ['drift'],
        params: ModelParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'string', description: 'Epoch ms or RFC 3339, a whole minute' },
            to: { type: 'string', description: 'Epoch ms or RFC 3339; to - from must be a whole number of steps' },
            step: { type: 'string', default: '1h', maxLength: 16, description: 'A duration of whole minutes: 5m, 1h, 1d' },
            features: { type: 'string', maxLength: 65_536, description: 'Comma-separated feature names of the baseline (default: all)' },
            baseline_id: { type: 'string', format: 'uuid' },
          },
        },
        response: { 200: SeriesSchema, 400: ErrorResponse, 404: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      const stepMs = parseDuration(request.query.step);
      if (stepMs === null || stepMs % MINUTE !== 0) throw new Errors.BadQuery(`step must be a duration of whole minutes (5m, 1h, 1d), got "${request.query.step.slice(0, 16)}"`);
      const to = request.query.to !== undefined ? parseTime('to', request.query.to) : Math.floor(Date.now() / MINUTE) * MINUTE;
      const from = request.query.from !== undefined ? parseTime('from', request.query.from) : to - 24 * stepMs;
      if (from >= to) throw new Errors.BadRange('from must be before to');
      if (from % MINUTE !== 0) throw new Errors.BadRange('from must be a whole minute');
      if ((to - from) % stepMs !== 0) throw new Errors.BadRange(`to - from must be a whole number of steps of ${request.query.step}`);
      const names = request.query.features?.split(',').map((f) => f.trim()).filter((f) => f !== '') ?? null;
      const nSteps = (to - from) / stepMs;
      return options.gate.shared(request, reply, async (sql) => {
        const baseline = await baselineFor(sql, model, request.query.baseline_id);
        if (names) {
          const known = new Set(baseline.features.map((f) => f.name));
          const unknown = names.filter((f) => !known.has(f));
          if (unknown.length > 0) throw new Errors.BadQuery(`not features of baseline ${baseline.baseline_id}: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', ...' : ''}`);
        }
        const nFeatures = names ? new Set(names).size : baseline.features.length;
        if (nSteps * nFeatures > options.maxCells) {
          throw new Errors.BadQuery(
            `${nSteps} steps x ${nFeatures} features is more than SERIES_MAX_CELLS (${options.maxCells}): ask for a longer step, a shorter range or fewer features`,
          );
        }
        // The series of the active baseline is what the scheduler keeps binned; asking for it starts that (once) when no window has yet.
        await options.preaggregates?.ensureIfActive(sql, baseline);
        const series = await driftSeries(sql, options.preaggregates, baseline, { from, to, stepMs, features: names }, { ...options.drift, rawMaxSteps: options.rawMaxSteps });
        const backfill = options.preaggregates ? await options.preaggregates.backfill(baseline) : null;
        return {
          ...series,
          from: iso(series.from),
          to: iso(series.to),
          steps: series.steps.map((s) => ({ ...s, from: iso(s.from), to: iso(s.to) })),
          backfill: backfill && { state: backfill.state, from: iso(backfill.from), to: iso(backfill.to), job_id: backfill.jobId, reason: backfill.reason },
        };
      });
    },
  );
}
