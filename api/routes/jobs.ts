import type { FastifyInstance } from 'fastify';
import type { JobView, Jobs } from '../../jobs/registry.ts';
import { mayUse } from '../access.ts';
import { Errors } from '../errors.ts';
import { ErrorResponse } from '../schemas.ts';
import { iso } from '../time.ts';

export const JobSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', description: 'What the job does: import, analyze, ...' },
    model: { type: 'string' },
    state: { type: 'string', enum: ['running', 'succeeded', 'failed', 'cancelled'] },
    created_at: { type: 'string', format: 'date-time' },
    finished_at: { type: ['string', 'null'], format: 'date-time' },
    done: { type: 'number' },
    total: { type: ['number', 'null'] },
    unit: { type: 'string', description: 'What done and total count: rows, windows' },
    rate_per_second: { type: ['number', 'null'] },
    eta_seconds: { type: ['number', 'null'] },
    result: { description: "The job's answer once it succeeded (the same as the route that started it documents)" },
    error: { type: ['string', 'null'] },
  },
} as const;

export const jobOut = (v: JobView) => ({ ...v, created_at: iso(v.created_at), finished_at: v.finished_at === null ? null : iso(v.finished_at) });

const IdParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;

/**
 * Jobs the API started: imports, backfills. A key limited to models sees
 * only their jobs; another model's job answers 404, as if it did not exist.
 */
export async function jobRoutes(app: FastifyInstance, options: { jobs: Jobs }): Promise<void> {
  const visible = (id: string, grant: Parameters<typeof mayUse>[0]) => {
    const job = options.jobs.get(id);
    if (!job || !mayUse(grant, job.model)) throw new Errors.JobNotFound(id.slice(0, 64));
    return job;
  };

  app.get<{ Querystring: { model?: string; kind?: string } }>(
    '/v1/jobs',
    {
      config: { scope: 'read', models: 'filtered' },
      schema: {
        summary: 'Jobs of this process, newest first',
        tags: ['jobs'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { model: { type: 'string', maxLength: 128 }, kind: { type: 'string', maxLength: 32 } },
        },
        response: { 200: { type: 'object', properties: { jobs: { type: 'array', items: JobSchema } } } },
      },
    },
    async (request) => ({
      jobs: options.jobs.list(request.query).filter((j) => mayUse(request.grant, j.model)).map(jobOut),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id',
    {
      config: { scope: 'read', models: 'filtered' },
      schema: { summary: "A job's state and progress", tags: ['jobs'], params: IdParams, response: { 200: JobSchema, 404: ErrorResponse } },
    },
    async (request) => jobOut(visible(request.params.id, request.grant)),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/jobs/:id',
    {
      config: { scope: 'admin', models: 'filtered' },
      schema: {
        summary: 'Cancels a running job; what it stored so far stays (an import resumes idempotently, a backfill re-run replaces)',
        tags: ['jobs'],
        params: IdParams,
        response: { 202: JobSchema, 404: ErrorResponse, 409: ErrorResponse },
      },
    },
    async (request, reply) => {
      const job = visible(request.params.id, request.grant);
      if (!options.jobs.cancel(job.id)) throw new Errors.JobFinished(job.id, job.state);
      reply.code(202);
      return jobOut(options.jobs.get(job.id)!);
    },
  );
}
