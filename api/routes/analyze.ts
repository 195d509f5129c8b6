import type { FastifyInstance } from 'fastify';
import { Backfill, BackfillRangeError } from '../../analyzers/backfill.ts';
import { baselineFor } from './baselines.ts';
import { Errors } from '../errors.ts';
import type { QueryGate } from '../query-gate.ts';
import { ErrorResponse, ModelParams } from '../schemas.ts';
import { parseTime } from '../time.ts';
import { JobSchema, jobOut } from './jobs.ts';

const Time = { anyOf: [{ type: 'string', maxLength: 64 }, { type: 'integer' }] } as const;

/** Backfills: the scheduled analysis of a past range, as a job (docs/backfill.md). */
export async function analyzeRoutes(app: FastifyInstance, options: { backfill: Backfill; gate: QueryGate }): Promise<void> {
  app.post<{ Params: { model: string }; Body: { from: string | number; to: string | number } }>(
    '/v1/models/:model/analyze',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Run the scheduled analysis for every window of a past range (a backfill), as a job',
        description:
          'Drift, prediction drift, data quality, performance, segments and shadow models per window, stored as the live scheduler stores them ' +
          '(a re-run replaces them); alert rules are stepped in window order, notifying only for windows younger than ALERT_NOTIFY_MAX_AGE. ' +
          'Follow the job at GET /v1/jobs/{id}; its result lists the windows that drifted.',
        tags: ['drift'],
        params: ModelParams,
        body: {
          type: 'object',
          required: ['from', 'to'],
          additionalProperties: false,
          properties: { from: { ...Time, description: 'Epoch ms or RFC 3339' }, to: { ...Time, description: 'Epoch ms or RFC 3339, exclusive' } },
        },
        response: { 202: JobSchema, 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      const from = parseTime('from', String(request.body.from));
      const to = parseTime('to', String(request.body.to));
      if (from >= to) throw new Errors.BadRange('from must be before to');
      let windows;
      try {
        windows = options.backfill.windows({ from, to });
      } catch (err) {
        if (err instanceof BackfillRangeError) throw new Errors.BadRange(err.message);
        throw err;
      }
      const running = options.backfill.running(model);
      if (running) throw new Errors.BackfillRunning(model, running.id, running.id);
      // Only that there is one: the backfill asks for the active baseline at each window, as the scheduler does.
      await options.gate.run(reply, (sql) => baselineFor(sql, model, undefined));
      // Checked again: a second request may have started one while the baseline was read.
      const started = options.backfill.running(model);
      if (started) throw new Errors.BackfillRunning(model, started.id, started.id);
      reply.code(202);
      return jobOut(options.backfill.start(model, windows));
    },
  );
}
