import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { MappingError, type ImportMapping } from '../../import/mapping.ts';
import type { Importer, ImportRequest } from '../../import/run.ts';
import { fileEnding, fileUnder, formatOf, FORMATS, SourceError, urlSource, type S3Credentials, type Source } from '../../import/source.ts';
import { UnreadableError } from '../../import/stage.ts';
import type { Jobs } from '../../jobs/registry.ts';
import { Errors } from '../errors.ts';
import { ErrorResponse, ModelParams } from '../schemas.ts';
import { JobSchema, jobOut } from './jobs.ts';

export interface ImportRouteOptions {
  /** Null when `unavailable` says why. */
  importer: Importer | null;
  jobs: Jobs;
  /** IMPORT_DIR: server-side paths must be under it; unset, they are refused. */
  importDir?: string;
  s3: S3Credentials;
  maxUploadBytes: number;
  maxRunning: number;
  /** Why imports cannot run with this store, or null when they can. */
  unavailable: string | null;
  /** Why writes are refused now (a full disk), or null. */
  writesRefused?: () => string | null;
}

const column = { type: 'string', minLength: 1, maxLength: 256 } as const;
const columns = { type: 'array', items: column, maxItems: 100_000 } as const;
const MappingFields = {
  id_column: { ...column, description: 'Column holding event_id (default: event_id if the file has it; else an id derived from a hash of the row)' },
  timestamp_column: { ...column, description: 'Column holding the timestamp (default: timestamp)' },
  prediction_column: { ...column, description: 'Column holding the prediction (default: prediction)' },
  score_columns: { ...columns, description: 'Columns holding class scores; the column name is the class' },
  label_column: { ...column, description: 'Column holding the ground truth, stored as a label with the event time' },
  tag_columns: { ...columns, description: 'Columns holding tags (any scalar, as text)' },
  latency_column: column,
  model_version_column: column,
  feature_columns: { ...columns, description: 'Columns that are features (default: every column not mapped otherwise)' },
} as const;

const ImportBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    path: { type: 'string', minLength: 1, maxLength: 4096, description: 'A file under IMPORT_DIR (relative to it)' },
    url: { type: 'string', minLength: 1, maxLength: 8192, description: 'An http://, https:// or s3:// URL the engine reads' },
    format: { type: 'string', enum: [...FORMATS], description: 'Default: from the extension (.parquet, .csv, .ndjson, .jsonl; .gz and .zst compressed too)' },
    ...MappingFields,
  },
} as const;

const UploadQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['format'],
  properties: {
    format: { type: 'string', enum: [...FORMATS] },
    compression: { type: 'string', enum: ['gz', 'zst', 'xz', 'bz2', 'lz4', 'br'], description: 'How the bytes are compressed, if they are (the engine undoes it)' },
    ...MappingFields,
  },
} as const;

const responses = {
  202: JobSchema,
  400: ErrorResponse,
  413: ErrorResponse,
  422: ErrorResponse,
  501: ErrorResponse,
  503: ErrorResponse,
};

type Body = { path?: string; url?: string; format?: string } & ImportMapping;
type Query = { format: string; compression?: string } & ImportMapping;

const mappingOf = ({ path: _p, url: _u, format: _f, compression: _c, ...mapping }: Body & { compression?: string }): ImportMapping => mapping;

/**
 * Imports of past events from files: a file under IMPORT_DIR or a URL
 * (POST .../import), or the bytes of a file sent in the request
 * (POST .../import/upload, what `driftwatch import` does). Both answer 202
 * with the job once the file's columns are read and the mapping fits them;
 * the rows are judged and stored by the job (import/run.ts).
 */
export async function importRoutes(app: FastifyInstance, options: ImportRouteOptions): Promise<void> {
  const { jobs } = options;
  const importer = options.importer!;
  // Upload bodies are never parsed: the route streams them to a file.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  const admit = (reply: FastifyReply) => {
    if (options.unavailable || !options.importer) throw new Errors.ImportUnavailable(options.unavailable ?? 'import is not available');
    const refused = options.writesRefused?.();
    if (refused) {
      reply.header('retry-after', '5');
      throw new Errors.DiskFull(`${refused}: imports are refused until space is freed`);
    }
    const running = jobs.list({ kind: 'import' }).filter((j) => j.state === 'running').length;
    if (running >= options.maxRunning) {
      reply.header('retry-after', '10');
      throw new Errors.Busy(`${running} imports are running (IMPORT_MAX_RUNNING): retry once one has finished`);
    }
  };

  const start = async (request: ImportRequest) => {
    let prepared;
    try {
      prepared = await importer.prepare(request);
    } catch (err) {
      if (request.ownDir) await rm(request.ownDir, { recursive: true, force: true });
      if (err instanceof UnreadableError) throw new Errors.UnreadableFile(err.message);
      if (err instanceof MappingError || err instanceof SourceError) throw new Errors.BadImport(err.message);
      throw err;
    }
    return jobs.start('import', request.model, 'rows', (ctx) => importer.run(prepared, ctx));
  };

  app.post<{ Params: { model: string }; Body: Body }>(
    '/v1/models/:model/import',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Import past events from a file under IMPORT_DIR or a URL (Parquet, CSV, NDJSON); runs as a job',
        tags: ['import'],
        params: ModelParams,
        body: ImportBody,
        response: responses,
      },
    },
    async (request, reply) => {
      admit(reply);
      const { path, url } = request.body;
      if ((path === undefined) === (url === undefined)) throw new Errors.BadImport('give exactly one of path (a file under IMPORT_DIR) and url');
      let source: Source;
      let format;
      try {
        source = path !== undefined ? await fileUnder(options.importDir, path) : urlSource(url!, options.s3);
        format = formatOf(source.kind === 'file' ? source.path : new URL(source.url).pathname, request.body.format).format;
      } catch (err) {
        if (err instanceof SourceError) throw new Errors.BadImport(err.message);
        throw err;
      }
      const job = await start({ model: request.params.model, source, format, mapping: mappingOf(request.body) });
      reply.code(202);
      return jobOut(job);
    },
  );

  app.post<{ Params: { model: string }; Querystring: Query; Body: NodeJS.ReadableStream }>(
    '/v1/models/:model/import/upload',
    {
      config: { scope: 'admin' },
      schema: {
        summary: "Import past events from a file's bytes (the body, application/octet-stream); format and mapping in the query; runs as a job",
        tags: ['import'],
        consumes: ['application/octet-stream'],
        params: ModelParams,
        querystring: UploadQuery,
        response: responses,
      },
    },
    async (request, reply) => {
      admit(reply);
      if (!request.body || typeof (request.body as NodeJS.ReadableStream).pipe !== 'function') {
        throw new Errors.BadBody('send the file as the body, with Content-Type: application/octet-stream');
      }
      const declared = Number(request.headers['content-length'] ?? 0);
      if (declared > options.maxUploadBytes) throw new Errors.UploadTooLarge(options.maxUploadBytes);
      let ending: string;
      try {
        ending = fileEnding(formatOf('', request.query.format).format, request.query.compression ?? null);
      } catch (err) {
        if (err instanceof SourceError) throw new Errors.BadImport(err.message);
        throw err;
      }
      // The bytes are kept under DATA_DIR (the disk the free-space guard watches), never in memory whole.
      const dir = importer.newDir();
      const file = join(dir, `upload${ending}`);
      let bytes = 0;
      const limit = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          done(bytes > options.maxUploadBytes ? new Errors.UploadTooLarge(options.maxUploadBytes) : null, chunk);
        },
      });
      try {
        await pipeline(request.body, limit, createWriteStream(file));
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        if (err instanceof Errors.UploadTooLarge) throw err;
        throw new Errors.BadBody(`the upload did not arrive whole: ${(err as Error).message.slice(0, 200)}`);
      }
      if (bytes === 0) {
        await rm(dir, { recursive: true, force: true });
        throw new Errors.BadBody('the body is empty: send the file');
      }
      const job = await start({
        model: request.params.model,
        source: { kind: 'file', path: file },
        format: formatOf('', request.query.format).format,
        mapping: mappingOf(request.query),
        ownDir: dir,
      });
      reply.code(202);
      return jobOut(job);
    },
  );
}
