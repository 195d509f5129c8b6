import type { FastifyInstance } from 'fastify';
import { computeDrift } from '../../analyzers/drift.ts';
import { ErrorResponse, ModelParams } from '../schemas.ts';
import { reportPage } from '../report-page.ts';
import { iso, parseRange, windowOut } from '../time.ts';
import { baselineFor } from './baselines.ts';
import type { ModelRouteOptions } from './models.ts';

/** GET /v1/models/{model}/report.html: a window's drift as one self-contained HTML file to share. */
export async function reportRoutes(app: FastifyInstance, options: ModelRouteOptions): Promise<void> {
  app.get<{ Params: { model: string }; Querystring: { from?: string; to?: string; baseline_id?: string } }>(
    '/v1/models/:model/report.html',
    {
      config: { scope: 'read' },
      schema: {
        summary: 'A self-contained HTML report of a time range: summary, ranked feature table, every distribution',
        description:
          'One file with its scripts, styles and data inline that loads nothing from the network (its Content-Security-Policy forbids it). Defaults as for /drift: the last ANALYSIS_WINDOW, the newest baseline.',
        tags: ['drift'],
        params: ModelParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'string', description: 'Start, inclusive: RFC 3339 or epoch milliseconds.' },
            to: { type: 'string', description: 'End, exclusive: RFC 3339 or epoch milliseconds.' },
            baseline_id: { type: 'string', format: 'uuid' },
          },
        },
        response: {
          200: { description: 'The report page.', content: { 'text/html': { schema: { type: 'string' } } } },
          400: ErrorResponse,
          404: ErrorResponse,
          503: ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const { model } = request.params;
      const range = parseRange(request.query.from, request.query.to, options.windowMs);
      const data = await options.gate.run(reply, async (sql) => {
        const baseline = await baselineFor(sql, model, request.query.baseline_id);
        const report = windowOut(await computeDrift(sql, baseline, { model, ...range }, options.drift, { distributions: true, counts: await options.preaggregates?.reader(sql, baseline) }));
        return {
          report,
          baseline: { baseline_id: baseline.baseline_id, from: iso(baseline.from), to: iso(baseline.to), n_events: baseline.n_events },
          generated_at: iso(Date.now()),
        };
      });
      const page = await reportPage(data);
      const name = `driftwatch-${model}-${iso(range.from).replace(/[:.]/g, '-')}.html`;
      return reply.type('text/html; charset=utf-8').header('content-disposition', `inline; filename="${name}"`).send(page);
    },
  );
}
