import type { FastifyInstance } from 'fastify';
import { readUiFile, UI_BUILD_DIR, uiFileType, type UiFile } from '../ui-bundle.ts';

/**
 * The web UI's static files (ui/, built by `npm run build:ui`). Open and out
 * of the OpenAPI document: a page and its scripts hold no data, a browser
 * cannot send a bearer key when it opens a page, and the data comes from
 * /v1 with the key the page asks for.
 */
export async function uiRoutes(app: FastifyInstance, options: { dir?: string } = {}): Promise<void> {
  const dir = options.dir ?? UI_BUILD_DIR;
  const route = { config: { scope: 'open' as const }, schema: { hide: true } };
  const send = async (name: UiFile, reply: import('fastify').FastifyReply) =>
    reply
      .type(uiFileType(name)!)
      // Revalidated every time: a rebuilt bundle must never meet a cached page.
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .send(await readUiFile(name, dir));

  app.get('/', route, async (_request, reply) => reply.redirect('/ui'));
  app.get('/ui', route, async (_request, reply) => send('index.html', reply));
  app.get<{ Params: { file: string } }>('/ui/:file', route, async (request, reply) => {
    const name = request.params.file;
    if (!uiFileType(name)) return reply.callNotFound();
    return send(name as UiFile, reply);
  });
}
