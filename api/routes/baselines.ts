import type { FastifyInstance } from 'fastify';
import { EmptyRangeError, freezeBaseline, freezeSegmentBaselines, type Baseline, type BaselineOptions } from '../../analyzers/baseline.ts';
import { computeDrift, type DriftOptions } from '../../analyzers/drift.ts';
import { dueAt, type RollingBaselines } from '../../analyzers/rolling.ts';
import { formatDuration, parseDuration } from '../../core/duration.ts';
import { clearRollingPolicy, listRefreezes, rollingPolicies, saveRollingPolicy } from '../../store/baseline-rolling.ts';
import { activeBaseline, deleteBaseline, getBaseline, listBaselines, renameBaseline, setActiveBaseline } from '../../store/baselines.ts';
import type { Sql } from '../../store/sql.ts';
import { Errors } from '../errors.ts';
import type { QueryGate } from '../query-gate.ts';
import {
  BaselinePatch,
  BaselineRequest,
  BaselineResponse,
  BaselineSummary,
  ErrorResponse,
  ModelParams,
  RollingPolicyRequest,
  RollingPolicyResponse,
} from '../schemas.ts';
import { iso, parseTime, windowOut } from '../time.ts';

export interface BaselineRouteOptions {
  gate: QueryGate;
  baseline: BaselineOptions;
  maxSegments: number;
  /** The refreeze scheduler, woken when a policy changes; absent, policies are stored and run by whichever service runs one. */
  rolling?: RollingBaselines;
}

export const baselineOut = (b: Omit<Baseline, 'features'> & { features?: Baseline['features'] }) => {
  const { reference_sample: _, ...rest } = b;
  const impact = b.impact ? { ...b.impact, computed_at: iso(b.impact.computed_at) } : null;
  return { ...rest, name: b.name ?? null, rolled: b.rolled ?? false, created_at: iso(b.created_at), from: iso(b.from), to: iso(b.to), impact };
};

const BaselineParams = {
  type: 'object',
  required: ['model', 'baseline_id'],
  properties: { ...ModelParams.properties, baseline_id: { type: 'string', format: 'uuid' } },
} as const;

type ModelRequest = { Params: { model: string } };
type OneRequest = { Params: { model: string; baseline_id: string } };

// Longest period a rolling policy may have: a refreeze less than yearly is a baseline frozen by hand.
const MAX_PERIOD_MS = 366 * 86_400_000;

/** The baseline a computation compares with (drift, a report, a backfill's check): the one named, or the model's active one; 404 when there is none. */
export async function baselineFor(sql: Sql, model: string, baselineId: string | undefined): Promise<Baseline> {
  const baseline = baselineId ? await getBaseline(sql, model, baselineId) : await activeBaseline(sql, model);
  if (baseline) return baseline;
  throw new Errors.BaselineNotFound(
    baselineId ? `no baseline ${baselineId} for model "${model}"` : `model "${model}" has no baseline yet: POST /v1/models/${model}/baselines first`,
  );
}

/** A model-wide baseline of the model, or the reason there is none to act on. */
async function modelWide(sql: Sql, model: string, id: string): Promise<Baseline> {
  const baseline = await getBaseline(sql, model, id);
  if (!baseline) throw new Errors.BaselineNotFound(`no baseline ${id} for model "${model}"`);
  if (baseline.parent_baseline_id) {
    throw new Errors.SegmentBaseline(`baseline ${id} is a segment baseline of ${baseline.parent_baseline_id}: it is chosen and deleted with its parent`);
  }
  return baseline;
}

/**
 * GET drift with reference_from and reference_to: the window against a
 * baseline of that range built in memory by the code that freezes one (same
 * bins, sample, methods and thresholds), stored nowhere. Null when the query
 * names no reference range.
 */
export function referenceRange(query: { baseline_id?: string; reference_from?: string; reference_to?: string }) {
  const { reference_from: from, reference_to: to } = query;
  if (from === undefined && to === undefined) return null;
  if (from === undefined || to === undefined) throw new Errors.BadRange('reference_from and reference_to go together: give both, or neither to use a baseline');
  if (query.baseline_id !== undefined) throw new Errors.BadQuery('give baseline_id or a reference range (reference_from, reference_to), not both');
  const reference = { from: parseTime('reference_from', from), to: parseTime('reference_to', to) };
  if (reference.from >= reference.to) throw new Errors.BadRange('reference_from must be before reference_to');
  return {
    async compare(
      sql: Sql,
      model: string,
      range: { from: number; to: number },
      tag: string | undefined,
      options: { baseline: BaselineOptions; drift: DriftOptions; maxSegments: number },
    ) {
      const inMemory = { store: false };
      let baseline: Baseline;
      try {
        baseline = await freezeBaseline(sql, { model, ...reference }, options.baseline, null, inMemory);
      } catch (err) {
        if (err instanceof EmptyRangeError) throw new Errors.EmptyRange(model, iso(reference.from), iso(reference.to));
        throw err;
      }
      const out = { from: iso(reference.from), to: iso(reference.to), frozen: false };
      const report = { ...windowOut(await computeDrift(sql, baseline, { model, ...range }, options.drift)), baseline_id: null, reference: out };
      if (!tag) return report;
      const segments = [];
      for (const segmentBaseline of await freezeSegmentBaselines(sql, baseline, tag, options.maxSegments, options.baseline, inMemory)) {
        const segment = segmentBaseline.segment!;
        segments.push({ ...windowOut(await computeDrift(sql, segmentBaseline, { model, ...range, segment }, options.drift)), baseline_id: null, reference: out });
      }
      return { ...report, segments };
    },
  };
}

/**
 * Managed baselines: freeze (optionally named, optionally made active at
 * once), list with the active one marked, name, choose the active one,
 * delete (with segments), and rolling policies with their refreezes.
 */
export async function baselineRoutes(app: FastifyInstance, options: BaselineRouteOptions): Promise<void> {
  const { gate } = options;

  app.post<ModelRequest & { Body: { from: string | number; to: string | number; segment_by?: string; name?: string; activate?: boolean } }>(
    '/v1/models/:model/baselines',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Freeze a baseline from a time range of stored events',
        description: 'It becomes active only with activate: true, or while no baseline was ever chosen (then the newest is active).',
        tags: ['baselines'],
        params: ModelParams,
        body: BaselineRequest,
        response: { 201: BaselineResponse, 400: ErrorResponse, 422: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      const from = parseTime('from', String(request.body.from));
      const to = parseTime('to', String(request.body.to));
      if (from >= to) throw new Errors.BadRange('from must be before to');
      // A write left half done by a client that went away would be a baseline without its
      // segments: this takes a slot, and runs to its end.
      return gate.run(reply, async (sql) => {
        try {
          const as = { store: true, name: request.body.name ?? null };
          const baseline = await freezeBaseline(sql, { model, from, to }, options.baseline, null, as);
          const segments = request.body.segment_by
            ? await freezeSegmentBaselines(sql, baseline, request.body.segment_by, options.maxSegments, options.baseline, as)
            : [];
          if (request.body.activate) await setActiveBaseline(sql, model, baseline.baseline_id, Date.now());
          reply.code(201);
          return {
            ...baselineOut(baseline),
            active: (await activeBaseline(sql, model))?.baseline_id === baseline.baseline_id,
            segments: segments.map((b) => ({ value: b.segment!.value, baseline_id: b.baseline_id, n_events: b.n_events })),
          };
        } catch (err) {
          if (err instanceof EmptyRangeError) throw new Errors.EmptyRange(model, iso(from), iso(to));
          throw err;
        }
      }, { bounded: false });
    },
  );

  app.get<ModelRequest>(
    '/v1/models/:model/baselines',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Baselines of a model, newest first, with their names, ranges and which one is active',
        tags: ['baselines'],
        params: ModelParams,
        response: { 200: { type: 'object', properties: { baselines: { type: 'array', items: BaselineSummary } } }, 503: ErrorResponse },
      },
    },
    async (request, reply) => gate.run(reply, async (sql) => ({ baselines: (await listBaselines(sql, request.params.model)).map(baselineOut) })),
  );

  app.get<OneRequest>(
    '/v1/models/:model/baselines/:baseline_id',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'One baseline with its frozen reference per feature',
        tags: ['baselines'],
        params: BaselineParams,
        response: { 200: BaselineResponse, 404: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) =>
      gate.run(reply, async (sql) => {
        const baseline = await baselineFor(sql, request.params.model, request.params.baseline_id);
        return { ...baselineOut(baseline), active: (await activeBaseline(sql, baseline.model))?.baseline_id === baseline.baseline_id };
      }),
  );

  app.patch<OneRequest & { Body: { name: string | null } }>(
    '/v1/models/:model/baselines/:baseline_id',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Name a baseline (or remove its name with null)',
        tags: ['baselines'],
        params: BaselineParams,
        body: BaselinePatch,
        response: { 200: BaselineSummary, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model, baseline_id: id } = request.params;
      return gate.run(reply, async (sql) => {
        const baseline = await modelWide(sql, model, id);
        await renameBaseline(sql, model, id, request.body.name ?? '');
        return { ...baselineOut({ ...baseline, name: request.body.name }), active: (await activeBaseline(sql, model))?.baseline_id === id };
      }, { bounded: false });
    },
  );

  app.put<OneRequest>(
    '/v1/models/:model/baselines/:baseline_id/active',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Make a baseline the active one: what the scheduler, drift, performance, shadow and alerts use from now on',
        tags: ['baselines'],
        params: BaselineParams,
        response: { 200: BaselineSummary, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model, baseline_id: id } = request.params;
      return gate.run(reply, async (sql) => {
        const baseline = await modelWide(sql, model, id);
        await setActiveBaseline(sql, model, id, Date.now());
        return { ...baselineOut(baseline), active: true };
      }, { bounded: false });
    },
  );

  app.delete<OneRequest & { Querystring: { force: boolean } }>(
    '/v1/models/:model/baselines/:baseline_id',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Delete a baseline with its segment baselines; the active one only with force=true',
        tags: ['baselines'],
        params: BaselineParams,
        querystring: { type: 'object', additionalProperties: false, properties: { force: { type: 'boolean', default: false } } },
        response: { 204: { type: 'null' }, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model, baseline_id: id } = request.params;
      await gate.run(reply, async (sql) => {
        await modelWide(sql, model, id);
        if (!request.query.force && (await activeBaseline(sql, model))?.baseline_id === id) {
          throw new Errors.BaselineActive(
            `baseline ${id} is the active baseline of model "${model}": choose another first (PUT /v1/models/${model}/baselines/{id}/active), ` +
              'or delete it anyway with ?force=true (then the newest remaining baseline is active)',
          );
        }
        await deleteBaseline(sql, model, id);
      }, { bounded: false });
      reply.code(204);
    },
  );

  const policyOut = async (sql: Sql, model: string, limit: number) => {
    const [policy] = await rollingPolicies(sql, model);
    return {
      policy: policy
        ? {
            model,
            every: formatDuration(policy.every_ms),
            lookback: formatDuration(policy.lookback_ms),
            segment_by: policy.segment_by,
            keep: policy.keep,
            name: policy.name,
            updated_at: iso(policy.updated_at),
            last_refreeze: policy.last_refreeze === null ? null : iso(policy.last_refreeze),
            next_refreeze: iso(dueAt(policy)),
          }
        : null,
      refreezes: (await listRefreezes(sql, model, limit)).map((r) => ({ ...r, at: iso(r.at), from: iso(r.from), to: iso(r.to) })),
    };
  };

  const period = (name: string, text: string) => {
    const ms = parseDuration(text);
    if (ms === null || ms < 1_000 || ms > MAX_PERIOD_MS) throw new Errors.BadBody(`${name} must be a duration from 1s to 366d such as 1d, 6h or 30s; got "${text}"`);
    return ms;
  };

  app.put<ModelRequest & { Body: { every: string; lookback: string; segment_by?: string; keep: number; name?: string } }>(
    '/v1/models/:model/baselines/rolling',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Set the model to refreeze its baseline every period from the lookback before (e.g. every 1d from the last 7d); the first refreeze runs now',
        tags: ['baselines'],
        params: ModelParams,
        body: RollingPolicyRequest,
        response: { 200: RollingPolicyResponse, 400: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      const every = period('every', request.body.every);
      const lookback = period('lookback', request.body.lookback);
      const answer = await gate.run(reply, async (sql) => {
        await saveRollingPolicy(sql, {
          model,
          every_ms: every,
          lookback_ms: lookback,
          segment_by: request.body.segment_by ?? null,
          keep: request.body.keep,
          name: request.body.name ?? null,
          updated_at: Date.now(),
        });
        return policyOut(sql, model, 100);
      }, { bounded: false });
      options.rolling?.poke();
      return answer;
    },
  );

  app.get<ModelRequest & { Querystring: { limit: number } }>(
    '/v1/models/:model/baselines/rolling',
    {
      config: { scope: 'read' },
      schema: {
        summary: "The model's rolling policy (null without one) and its refreezes, newest first",
        tags: ['baselines'],
        params: ModelParams,
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } } },
        response: { 200: RollingPolicyResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => gate.run(reply, (sql) => policyOut(sql, request.params.model, request.query.limit)),
  );

  app.delete<ModelRequest>(
    '/v1/models/:model/baselines/rolling',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Stop refreezing: the rolled baselines and the active choice stay as they are',
        tags: ['baselines'],
        params: ModelParams,
        response: { 204: { type: 'null' }, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      await gate.run(reply, (sql) => clearRollingPolicy(sql, request.params.model), { bounded: false });
      options.rolling?.poke();
      reply.code(204);
    },
  );
}
