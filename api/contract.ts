import FindMyWay from 'find-my-way';
import type { FastifyInstance } from 'fastify';
import { Errors } from './errors.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * HTTP contract rules every route follows, in one place. Must be installed
 * before any route is declared.
 *
 * - A query parameter given empty (`?from=`, or `?from`) is as if absent:
 *   forms and generated clients send empty fields, and "no value" is what the
 *   sender means. Its default applies, if it has one.
 * - A known path asked with a method it does not serve answers 405 with an
 *   Allow header, not 404: the path is right, the method is not.
 */
export function installContract(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const query = request.query as Record<string, unknown> | undefined;
    if (!query || typeof query !== 'object') return;
    for (const name of Object.keys(query)) {
      const value = query[name];
      if (value === '') delete query[name];
      else if (Array.isArray(value)) {
        const given = value.filter((v) => v !== '');
        if (given.length === 0) delete query[name];
        else if (given.length === 1) query[name] = given[0];
        else query[name] = given;
      }
    }
  });

  // The same router fastify routes with (find-my-way, same defaults), fed
  // every route's path: "is this a known path?" is answered as routing does.
  const paths = FindMyWay();
  const seen = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      const id = `${method} ${route.url}`;
      if (seen.has(id) || !(METHODS as readonly string[]).includes(method)) continue;
      seen.add(id);
      paths.on(method as (typeof METHODS)[number], route.url, () => {});
    }
  });

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = METHODS.filter((m) => paths.find(m, path) !== null);
    if (allowed.length === 0) throw new Errors.NotFound(request.method, path.slice(0, 200));
    reply.header('allow', allowed.join(', '));
    throw new Errors.MethodNotAllowed(request.method, path.slice(0, 200), allowed.join(', '));
  });
}
