import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../core/metrics.ts';
import type { Sql } from '../../store/sql.ts';

export interface OpsRouteOptions {
  sql: Sql;
  metrics: Metrics;
  readiness: (() => Promise<string | null>)[];
}

const Status = { type: 'object', properties: { status: { type: 'string' }, reason: { type: 'string' } } } as const;

/** Liveness, readiness and the Prometheus scrape endpoint. */
export async function opsRoutes(app: FastifyInstance, options: OpsRouteOptions): Promise<void> {
  app.get('/healthz', { config: { scope: 'open' }, schema: { summary: 'The process is up', tags: ['ops'], response: { 200: Status } } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    { config: { scope: 'open' }, schema: { summary: 'The store answers queries', tags: ['ops'], response: { 200: Status, 503: Status } } },
    async (_request, reply) => {
      try {
        await options.sql.query('SELECT 1 AS ok');
      } catch (err) {
        reply.code(503);
        return { status: 'not_ready', reason: `store: ${(err as Error).message.split('\n')[0]}` };
      }
      for (const check of options.readiness) {
        const problem = await check();
        if (problem) {
          reply.code(503);
          return { status: 'not_ready', reason: problem };
        }
      }
      return { status: 'ready' };
    },
  );

  app.get(
    '/metrics',
    {
      config: { scope: 'read', opsRoute: true },
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['ops'],
        produces: ['text/plain'],
        response: { 200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    async (_request, reply) => {
      reply.type(options.metrics.registry.contentType);
      return options.metrics.registry.metrics();
    },
  );
}
