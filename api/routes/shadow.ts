import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ShadowAnalyzer } from '../../analyzers/shadow/analyze.ts';
import { checkModel, ModelLoadError } from '../../analyzers/shadow/model.ts';
import type { ShadowScorer } from '../../analyzers/shadow/scorer.ts';
import type { ShadowSpec } from '../../analyzers/shadow/spec.ts';
import { deleteShadowModel, getShadowModel, listShadowModels, saveShadowModel, type ShadowRecord } from '../../store/shadow-models.ts';
import { shadowHistory } from '../../store/shadow-results.ts';
import type { Sql } from '../../store/sql.ts';
import type { QueryGate } from '../query-gate.ts';
import { Errors } from '../errors.ts';
import { ErrorResponse, HistoryQuery, ModelParams, ShadowParams, ShadowReport as ShadowReportSchema, ShadowRequest, ShadowSummary } from '../schemas.ts';
import { iso, parseHistoryRange, parseRange, windowOut } from '../time.ts';

export interface ShadowRouteOptions {
  sql: Sql;
  /** Reports and histories read through the gate: bounded in number and time. */
  gate: QueryGate;
  scorer: ShadowScorer;
  analyzer: ShadowAnalyzer;
  windowMs: number;
  /** Files named by model_path must be under this folder. */
  modelDir: string;
  maxModelBytes: number;
  maxPerModel: number;
  defaultSampleShare: number;
}

type Body = ShadowSpec & { model_base64?: string; model_path?: string };
type ShadowRequestT = { Params: { model: string; name: string } };


/**
 * Shadow models: register an ONNX copy of a model with its feature mapping,
 * list and remove them, and read their per-window comparison with what
 * production logged.
 */
export async function shadowRoutes(app: FastifyInstance, options: ShadowRouteOptions): Promise<void> {
  const { sql, scorer } = options;

  const summaryOut = (r: ShadowRecord) => ({
    model: r.model,
    name: r.name,
    revision: r.revision,
    role: r.role,
    registered_at: iso(r.registered_at),
    source: r.source,
    model_bytes: r.model_bytes,
    sample_share: r.spec.sample_share ?? options.defaultSampleShare,
    spec: r.spec,
    graph: scorer.graphOf(r) ?? undefined,
  });

  const readModelFile = async (path: string): Promise<Buffer> => {
    const root = await realpath(resolve(options.modelDir)).catch(() => null);
    if (root === null) throw new Errors.BadBody(`model_path is not available: SHADOW_MODEL_DIR (${options.modelDir}) does not exist`);
    const full = await realpath(resolve(root, path)).catch(() => null);
    if (full === null) throw new Errors.BadBody(`model_path "${path}" does not exist under SHADOW_MODEL_DIR`);
    if (!full.startsWith(root + sep)) throw new Errors.BadBody('model_path must name a file under SHADOW_MODEL_DIR');
    const info = await stat(full);
    if (!info.isFile()) throw new Errors.BadBody(`model_path "${path}" is not a file`);
    if (info.size > options.maxModelBytes) throw new Errors.BadModel(`the model is ${info.size} bytes; SHADOW_MAX_MODEL_BYTES is ${options.maxModelBytes}`);
    return readFile(full);
  };

  app.post<{ Params: { model: string }; Body: Body }>(
    '/v1/models/:model/shadow',
    {
      config: { scope: 'admin' },
      // Base64 is 4/3 of the bytes; the mapping itself is small.
      bodyLimit: Math.ceil((options.maxModelBytes * 4) / 3) + 1024 * 1024,
      schema: {
        summary: 'Register (or replace) a shadow model: ONNX bytes or a path, and how event features feed it',
        tags: ['shadow'],
        params: ModelParams,
        body: ShadowRequest,
        response: { 201: ShadowSummary, 400: ErrorResponse, 409: ErrorResponse, 413: ErrorResponse, 422: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      const { model_base64, model_path, ...spec } = request.body;
      if ((model_base64 === undefined) === (model_path === undefined)) {
        throw new Errors.BadBody('give exactly one of model_base64 (the ONNX file) and model_path (a file under SHADOW_MODEL_DIR)');
      }
      let bytes: Buffer;
      if (model_base64 !== undefined) {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(model_base64)) throw new Errors.BadBody('model_base64 is not base64');
        bytes = Buffer.from(model_base64, 'base64');
        if (bytes.length > options.maxModelBytes) throw new Errors.BadModel(`the model is ${bytes.length} bytes; SHADOW_MAX_MODEL_BYTES is ${options.maxModelBytes}`);
      } else {
        bytes = await readModelFile(model_path!);
      }

      const existing = await listShadowModels(sql, model);
      if (!existing.some((r) => r.name === spec.name) && existing.length >= options.maxPerModel) {
        throw new Errors.TooManyShadows(model, options.maxPerModel);
      }

      let checked: Awaited<ReturnType<typeof checkModel>>;
      try {
        checked = await checkModel(bytes, spec);
      } catch (err) {
        if (err instanceof ModelLoadError) throw new Errors.BadModel(err.message);
        throw err;
      }
      await checked.model.close();
      if (checked.problems.length > 0) throw new Errors.ModelSignature(checked.problems.join('; '));

      const revision = createHash('sha256').update(bytes).update(JSON.stringify(spec)).digest('hex').slice(0, 16);
      const record: ShadowRecord = {
        model,
        name: spec.name,
        revision,
        registered_at: Date.now(),
        role: spec.role,
        spec,
        model_bytes: bytes.length,
        source: model_path ?? 'upload',
      };
      await saveShadowModel(sql, record, bytes);
      await scorer.refresh();
      reply.code(201);
      return summaryOut(record);
    },
  );

  app.get<{ Params: { model: string } }>(
    '/v1/models/:model/shadow',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Shadow models registered for a model',
        tags: ['shadow'],
        params: ModelParams,
        response: { 200: { type: 'object', properties: { shadows: { type: 'array', items: ShadowSummary } } } },
      },
    },
    async (request) => ({ shadows: (await listShadowModels(sql, request.params.model)).map(summaryOut) }),
  );

  const find = async (model: string, name: string, from = sql) => {
    const record = await getShadowModel(from, model, name);
    if (!record) throw new Errors.ShadowNotFound(model, name);
    return record;
  };

  app.get<ShadowRequestT>(
    '/v1/models/:model/shadow/:name',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'One shadow model',
        tags: ['shadow'],
        params: ShadowParams,
        response: { 200: ShadowSummary, 404: ErrorResponse },
      },
    },
    async (request) => summaryOut(await find(request.params.model, request.params.name)),
  );

  app.delete<ShadowRequestT>(
    '/v1/models/:model/shadow/:name',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Stop re-scoring with a shadow model (its stored predictions and reports stay)',
        tags: ['shadow'],
        params: ShadowParams,
        response: { 204: { type: 'null' }, 404: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model, name } = request.params;
      await find(model, name);
      await deleteShadowModel(sql, model, name, Date.now());
      await scorer.refresh();
      reply.code(204);
    },
  );

  app.get<ShadowRequestT & { Querystring: { from?: string; to?: string } }>(
    '/v1/models/:model/shadow/:name/report',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Compare a shadow model with production over a range, scoring the sampled events it has not scored yet first',
        tags: ['shadow'],
        params: ShadowParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { from: { type: 'string', maxLength: 64 }, to: { type: 'string', maxLength: 64 } },
        },
        response: { 200: ShadowReportSchema, 400: ErrorResponse, 404: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const range = parseRange(request.query.from, request.query.to, options.windowMs);
      return options.gate.run(reply, async (bounded) => {
        const record = await find(request.params.model, request.params.name, bounded);
        await scorer.refresh();
        return windowOut(await options.analyzer.report(record, range, bounded));
      });
    },
  );

  app.get<ShadowRequestT & { Querystring: { from?: string; to?: string; limit: number } }>(
    '/v1/models/:model/shadow/:name/history',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'Stored window reports of a shadow model, newest first',
        tags: ['shadow'],
        params: ShadowParams,
        querystring: HistoryQuery,
        response: { 200: { type: 'object', properties: { reports: { type: 'array', items: ShadowReportSchema } } }, 400: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model, name } = request.params;
      const range = parseHistoryRange(request.query.from, request.query.to);
      const reports = await options.gate.run(reply, (bounded) => shadowHistory(bounded, { model, shadow: name, ...range, limit: request.query.limit }));
      return { reports: reports.map(windowOut) };
    },
  );
}
