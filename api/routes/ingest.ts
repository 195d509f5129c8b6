import type { FastifyInstance, LogLevel } from 'fastify';
import { DiskFullError } from '../../core/disk.ts';
import { BusyError } from '../../ingest/batcher.ts';
import type { BodyFormat } from '../../ingest/body.ts';
import { store, type IngestDeps, type Stream } from '../../ingest/ingest.ts';
import type { Preparer } from '../../ingest/preparer.ts';
import type { Prepared } from '../../ingest/prepare.ts';
import { modelForbidden, type Grant } from '../access.ts';
import { Errors } from '../errors.ts';
import { ErrorResponse, EventSchema, IngestResponse, LabelSchema } from '../schemas.ts';

export interface IngestRouteOptions {
  deps: IngestDeps;
  preparer: Preparer;
  bodyLimit: number;
}

const NDJSON = /^application\/(x-)?ndjson/i;

/**
 * The ingest routes' log level, given the service's. At `info` they log no
 * line per request: senders post hundreds of batches a second, two lines
 * each drown the log, and writing them cost the event loop 0.3 µs an event
 * at 500-event bodies (4% of the service's CPU). What a request did is in
 * the ingest counters; a failure is still logged (at error); `debug` or
 * `trace` bring the per-request lines back.
 */
export function ingestLogLevel(serviceLevel: LogLevel | undefined): LogLevel | undefined {
  return serviceLevel === 'info' ? 'warn' : serviceLevel;
}

/**
 * POST /v1/events and /v1/labels. Bodies arrive as raw bytes (a JSON array or
 * NDJSON) and are judged item by item by the event contract, so the route
 * schema documents the items but does not gate the request on them.
 */
export async function ingestRoutes(app: FastifyInstance, options: IngestRouteOptions): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'application/x-ndjson', 'application/ndjson'],
    { parseAs: 'buffer', bodyLimit: options.bodyLimit },
    (_request, body, done) => done(null, body),
  );

  const logLevel = ingestLogLevel(app.log.level as LogLevel | undefined);
  const route = (stream: Stream, itemSchema: object, summary: string) =>
    app.post(
      `/v1/${stream}`,
      {
        ...(logLevel ? { logLevel } : {}),
        config: { scope: 'ingest', models: 'items' },
        // Senders may compress bodies (Content-Encoding: gzip, deflate or br;
        // api/app.ts): events of repeated feature names shrink 5x on the wire.
        // Decoding is a zlib stream in libuv's pool, and the body limit counts
        // decoded bytes, so a small body that inflates past it is refused with
        // 413 as soon as it does, not held in memory.
        decompress: {},
        // Items are checked one by one by the contract; the schema is for the docs.
        validatorCompiler: () => () => true,
        schema: {
          summary,
          tags: ['ingest'],
          consumes: ['application/json', 'application/x-ndjson'],
          body: { type: 'array', items: itemSchema },
          response: { 200: IngestResponse, 400: ErrorResponse, 413: ErrorResponse, 415: ErrorResponse, 503: ErrorResponse },
        },
      },
      async (request, reply) => {
        // No body at all (and so no Content-Type for a parser to match) leaves
        // request.body undefined; it is a sender's mistake like any bad body.
        if (!Buffer.isBuffer(request.body)) throw new Errors.BadBody('the body is empty: send a JSON array or NDJSON of items');
        const format: BodyFormat = NDJSON.test(request.headers['content-type'] ?? '') ? 'ndjson' : 'json';
        // A key limited to models: items of another model are refused by the
        // contract, and then the whole request is (below).
        const { models } = request.grant;
        const limits = models ? { ...options.deps.limits(), models } : options.deps.limits();
        const prepared = await options.preparer.prepare(stream, request.body, format, limits);
        if (!prepared.ok) throw new Errors.BadBody(prepared.reason);
        refuseForeignModels(request.grant, prepared.prepared);
        try {
          return await store(options.deps, stream, prepared.prepared);
        } catch (err) {
          if (err instanceof BusyError) {
            reply.header('retry-after', '1');
            throw new Errors.Busy(err.message);
          }
          if (err instanceof DiskFullError) {
            // Nothing of the request was acknowledged: the sender keeps it and retries.
            options.deps.metrics.ingestRefusedRequests.inc({ stream, reason: 'disk_full' });
            reply.header('retry-after', '5');
            throw new Errors.DiskFull(err.message);
          }
          request.log.error({ err }, 'store insert failed');
          throw new Errors.StoreUnavailable((err as Error).message.split('\n')[0].slice(0, 200));
        }
      },
    );

  /**
   * A body with an item for a model the key may not write is refused whole,
   * with 403, and nothing of it is stored: it is a misconfigured sender to
   * be told loudly, not bad data to be skipped while the rest goes in.
   */
  function refuseForeignModels(grant: Grant, prepared: Prepared): void {
    const i = prepared.codes.indexOf('model_not_allowed');
    if (i === -1) return;
    const model = /model "([^"]*)"/.exec(prepared.rejected[i].reason)?.[1] ?? '';
    const error = modelForbidden(grant, model);
    error.message += `: item ${prepared.rejected[i].index}; nothing of this request was stored`;
    throw error;
  }

  route('events', EventSchema, 'Send prediction events: a JSON array or NDJSON, each validated on its own');
  route('labels', LabelSchema, 'Send ground-truth labels for earlier predictions');
}
