import { STATUS_CODES } from 'node:http';
import { constants as zlibConstants } from 'node:zlib';
import compress from '@fastify/compress';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { BaselineOptions } from '../analyzers/baseline.ts';
import type { DriftOptions } from '../analyzers/drift.ts';
import type { Metrics } from '../core/metrics.ts';
import type { IngestDeps } from '../ingest/ingest.ts';
import type { Preparer } from '../ingest/preparer.ts';
import type { Writers } from '../ingest/writers.ts';
import type { Sql } from '../store/sql.ts';
import type { AlertEngine } from '../alerts/engine.ts';
import type { Jobs } from '../jobs/registry.ts';
import { installAccess } from './access.ts';
import { installContract } from './contract.ts';
import { envKeys, type ApiKey } from './keys.ts';
import { alertRoutes } from './routes/alerts.ts';
import type { QueryGate } from './query-gate.ts';
import { ErrorResponse } from './schemas.ts';
import { ingestRoutes } from './routes/ingest.ts';
import { modelRoutes, performanceRoutes } from './routes/models.ts';
import { baselineRoutes } from './routes/baselines.ts';
import { lifetimeRoutes } from './routes/lifetime.ts';
import type { RollingBaselines } from '../analyzers/rolling.ts';
import { jobRoutes } from './routes/jobs.ts';
import { seriesRoutes, type SeriesRouteOptions } from './routes/series.ts';
import type { Preaggregates } from '../analyzers/preaggregates.ts';
import { importRoutes, type ImportRouteOptions } from './routes/import.ts';
import { analyzeRoutes } from './routes/analyze.ts';
import type { Backfill } from '../analyzers/backfill.ts';
import { opsRoutes } from './routes/ops.ts';
import { reportRoutes } from './routes/report.ts';
import { uiRoutes } from './routes/ui.ts';
import { shadowRoutes, type ShadowRouteOptions } from './routes/shadow.ts';

export interface AppDeps {
  sql: Sql;
  metrics: Metrics;
  limits: IngestDeps['limits'];
  writers: Writers;
  preparer: Preparer;
  /**
   * Settles once every row acknowledged before the call is stored (journaled
   * ingest answers before that), or after a bounded wait, answering which;
   * absent when a 200 already means stored.
   */
  settled?: () => Promise<boolean>;
  /**
   * Ingest entries handed to the store so far (JournaledWriters.submitted):
   * where a read stands in ingest's order. Absent: the clock stands in.
   */
  readMark?: () => number;
  /** Extra readiness checks: each answers null when ready, or why not. */
  readiness?: (() => Promise<string | null>)[];
  /** API keys (api/keys.ts); a plain string is a secret with every scope. None: everything is open. */
  apiKeys: readonly (string | ApiKey)[];
  /** METRICS_DOCS_ACCESS: whether /metrics and /docs/json stay open when keys are configured (default: they need read). */
  metricsDocsAccess?: 'read' | 'open';
  bodyLimit: number;
  /** The bound on analysis routes (api/query-gate.ts). */
  gate: QueryGate;
  /** Longest a client may take to send its request headers, and its whole request. */
  http: { headersTimeoutMs: number; requestTimeoutMs: number };
  windowMs: number;
  baseline: BaselineOptions;
  drift: DriftOptions;
  maxSegments?: number;
  /** Shadow re-scoring; its routes are left out without it. */
  shadow?: Omit<ShadowRouteOptions, 'sql' | 'gate' | 'windowMs'>;
  /** The alert engine; its routes are left out without it. */
  alerts?: AlertEngine;
  /** Long work started over the API (imports, backfills), followed at /v1/jobs; its routes are left out without it. */
  jobs?: Jobs;
  /** Imports of past events from files (api/routes/import.ts); left out without it or without jobs. */
  import?: Omit<ImportRouteOptions, 'jobs'>;
  /** Backfills of past ranges (POST /v1/models/{model}/analyze); the route is left out without it. */
  backfill?: Backfill;
  /** The rolling-baseline scheduler, woken when a policy changes. */
  rolling?: RollingBaselines;
  /** The insert-time pre-aggregates that GET /drift, the HTML report and GET /drift/series read (docs/preaggregates.md); without them they read raw events. */
  preaggregates?: Preaggregates;
  /** GET /drift/series (api/routes/series.ts): its bounds; default bounds without it. */
  series?: Omit<SeriesRouteOptions, 'gate' | 'drift' | 'preaggregates'>;
  logger?: FastifyServerOptions['logger'];
}

/** The HTTP API, built from its dependencies; it opens nothing itself, so tests can inject() into it. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.bodyLimit,
    // A client that sends a byte now and then is cut off (408) once these
    // run out; Node checks them every connectionsCheckingInterval (30 s of
    // its own), so a second makes them hold to about that.
    requestTimeout: deps.http.requestTimeoutMs,
    http: { headersTimeout: deps.http.headersTimeoutMs, connectionsCheckingInterval: 1_000 },
    // Unknown fields are an error the client should hear about, not something to drop silently.
    ajv: { customOptions: { removeAdditional: false } },
  });

  // Answers of 1 KiB or more are compressed for clients that accept it:
  // Prometheus scrapes /metrics with gzip, and reports and histories run to
  // hundreds of KB. Request bodies are decompressed on the ingest routes
  // alone (their `decompress` option), in these encodings.
  // Brotli at quality 4, not zlib's default 11: at 11 the UI's 300 KB bundle took
  // 670 ms to compress on every page load (and a 1.8 MB history seconds), at 4
  // it takes 9 ms for 16% more bytes.
  await app.register(compress, {
    globalCompression: true,
    globalDecompression: false,
    threshold: 1024,
    requestEncodings: ['gzip', 'deflate', 'br'],
    brotliOptions: { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4 } },
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'driftwatch',
        version: '0.1.0',
        description: 'Prediction events in; drift, data quality and performance of ML models out.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
    },
  });
  installContract(app);
  const keys = [...envKeys(deps.apiKeys.filter((k) => typeof k === 'string')), ...deps.apiKeys.filter((k) => typeof k !== 'string')];
  installAccess(app, { keys, metricsDocs: deps.metricsDocsAccess ?? 'read', metrics: deps.metrics });
  // The API documents itself in a browser: Swagger UI at /docs, from the
  // package's own bundled files (no CDN), with the document at /docs/json
  // (access to both: api/access.ts, docsAccess).
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    const statusCode = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    // Load shed on purpose (a full ingest queue or query gate, a cancelled analysis) is counted in
    // metrics; logged with its stack at every refusal it would cost the busy service more.
    const shed = error.code === 'DW_BUSY' || error.code === 'DW_QUERY_CANCELLED';
    if (statusCode >= 500 && !shed) request.log.error({ err: error }, 'request failed');
    const message =
      statusCode === 500 && !error.code?.startsWith('DW_') ? 'internal error; see the service log' : error.message;
    reply.code(statusCode).send({
      statusCode,
      code: error.code ?? (error.validation ? 'FST_ERR_VALIDATION' : 'DW_INTERNAL'),
      error: STATUS_CODES[statusCode] ?? 'Error',
      message,
    });
  });

  // Any route whose parameters, query or body are validated answers 400 when
  // they do not match: the OpenAPI document says so for each, so that clients
  // generated from it (and schemathesis) expect it.
  app.addHook('onRoute', (route) => {
    const schema = route.schema as { params?: unknown; querystring?: unknown; body?: unknown; response?: Record<string, unknown> } | undefined;
    if (schema?.response && (schema.params || schema.querystring || schema.body) && !schema.response[400]) schema.response[400] = ErrorResponse;
  });

  // A client that sent events and then asks about its model (freeze a
  // baseline, drift of a window) must see them: journaled ingest answers
  // before the rows are stored, so model routes first have what was
  // acknowledged stored now. Where the request stood is kept: a request may
  // share an analysis only with one that sees all it must (api/query-gate.ts).
  const { settled, readMark } = deps;
  app.decorateRequest('readPoint', null);
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/models')) return;
    if (!settled) {
      request.readPoint = { mark: performance.now(), covers: () => performance.now() };
      return;
    }
    const mark = readMark ? readMark() : performance.now();
    const stored = await settled();
    request.readPoint = { mark, covers: () => (stored ? mark : Number.NEGATIVE_INFINITY) };
  });

  await app.register(ingestRoutes, {
    deps: { writers: deps.writers, metrics: deps.metrics, limits: deps.limits },
    preparer: deps.preparer,
    bodyLimit: deps.bodyLimit,
  });
  const modelOptions = {
    gate: deps.gate,
    windowMs: deps.windowMs,
    baseline: deps.baseline,
    drift: deps.drift,
    maxSegments: deps.maxSegments ?? 20,
    preaggregates: deps.preaggregates,
  };
  await app.register(baselineRoutes, { ...modelOptions, rolling: deps.rolling });
  await app.register(lifetimeRoutes, { gate: deps.gate, metrics: deps.metrics, alerts: deps.alerts, scorer: deps.shadow?.scorer, jobs: deps.jobs });
  await app.register(modelRoutes, { ...modelOptions, alerts: deps.alerts });
  await app.register(performanceRoutes, modelOptions);
  await app.register(seriesRoutes, { gate: deps.gate, drift: deps.drift, preaggregates: deps.preaggregates, maxCells: 200_000, rawMaxSteps: 48, ...deps.series });
  if (deps.shadow) await app.register(shadowRoutes, { ...deps.shadow, sql: deps.sql, gate: deps.gate, windowMs: deps.windowMs });
  if (deps.alerts) await app.register(alertRoutes, { sql: deps.sql, engine: deps.alerts });
  if (deps.jobs) await app.register(jobRoutes, { jobs: deps.jobs });
  if (deps.jobs && deps.import) await app.register(importRoutes, { ...deps.import, jobs: deps.jobs });
  if (deps.backfill) await app.register(analyzeRoutes, { backfill: deps.backfill, gate: deps.gate });
  await app.register(opsRoutes, { sql: deps.sql, metrics: deps.metrics, readiness: deps.readiness ?? [] });
  await app.register(uiRoutes);
  await app.register(reportRoutes, modelOptions);
  return app;
}
