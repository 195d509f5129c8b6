import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { Metrics } from '../core/metrics.ts';
import { matches } from '../core/patterns.ts';
import { Errors } from './errors.ts';
import { sha256, type ApiKey, type Scope } from './keys.ts';
import { ErrorResponse } from './schemas.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Who may call the route: 'open' (anyone), or the scope a key needs. A
     * route that declares none needs `read` for GET and `admin` otherwise,
     * for every model: forgetting to declare fails closed.
     */
    scope?: Scope | 'open';
    /**
     * How the route keeps a key limited to models to them, beyond a `:model`
     * in its path, which is checked here: it filters what it answers by
     * request.grant (filtered), or checks each item of the body (items).
     * A route with neither covers every model, and only a key for every
     * model may call it.
     */
    models?: 'filtered' | 'items';
    /** /metrics and /docs/json: open instead with METRICS_DOCS_ACCESS=open. */
    opsRoute?: boolean;
  }
  interface FastifyRequest {
    /** What the caller may do, set by the access hook before anything else runs. */
    grant: Grant;
  }
}

/** What a request's key allows beyond the route's scope, which is checked already. */
export interface Grant {
  /** The key's name; null when no keys are configured. */
  key: string | null;
  /** The model patterns the key is limited to; undefined when it may use any model. */
  models: readonly string[] | undefined;
}

const OPEN: Grant = { key: null, models: undefined };

/** Whether `grant` covers `model`. */
export const mayUse = (grant: Grant, model: string) => grant.models === undefined || matches(grant.models, model);

/** The 403 for a model the key may not use. */
export const modelForbidden = (grant: Grant, model: string) =>
  new Errors.Forbidden(`API key "${grant.key}" may not use model "${model.slice(0, 128)}" (it is limited to ${grant.models!.join(', ')})`);

export interface AccessOptions {
  keys: readonly ApiKey[];
  /** METRICS_DOCS_ACCESS: whether /metrics and /docs/json stay open when keys are configured. */
  metricsDocs: 'read' | 'open';
  metrics?: Metrics;
}

interface RouteAccess {
  scope: Scope | 'open';
  /** path: the :model parameter; filtered or items: the route itself; every: only an unlimited key. */
  models: 'path' | 'filtered' | 'items' | 'every';
}

// Swagger UI's routes are declared by @fastify/swagger-ui, which takes no
// route config: its page and bundled assets hold no data and stay open (a
// browser cannot send a bearer key when it opens a page), while the
// document itself (/docs/json, /docs/yaml) is an ops route like /metrics.
const isApiDocument = (url: string) => url === '/docs/json' || url === '/docs/yaml';
const docsAccess = (url: string): Scope | 'open' | undefined =>
  isApiDocument(url) ? 'read' : url === '/docs' || url.startsWith('/docs/') ? 'open' : undefined;

/**
 * The one place that decides who may call what. Every route declares its
 * scope in its config; with keys configured, a request needs a bearer key
 * that has that scope, and a key limited to models may only name one of
 * them in `:model` (routes over several models filter by the grant, ingest
 * refuses a body naming another: api/routes). With no keys configured
 * everything is open, as a local setup on loopback expects. Must be
 * installed before any route is declared.
 */
export function installAccess(app: FastifyInstance, options: AccessOptions): void {
  const keys = options.keys.map((k) => ({ ...k, models: k.models.includes('*') ? undefined : k.models }));
  const secured = keys.length > 0;
  const accessOf = (config: RouteOptions['config'], method: string, url: string): RouteAccess => {
    const declared = config?.scope ?? docsAccess(url) ?? (method === 'GET' || method === 'HEAD' ? 'read' : 'admin');
    const ops = config?.opsRoute === true || isApiDocument(url);
    const open = declared === 'open' || (ops && options.metricsDocs === 'open');
    // The document holds no model data: a key limited to some models may read it.
    const models = url.includes('/:model') ? 'path' : (config?.models ?? (isApiDocument(url) ? 'filtered' : 'every'));
    return { scope: open ? 'open' : declared, models };
  };

  // The OpenAPI document says what each route needs (x-scope) and, with keys
  // configured, that it takes a bearer key and may answer 401 and 403.
  app.addHook('onRoute', (route) => {
    const method = Array.isArray(route.method) ? route.method[0] : route.method;
    const access = accessOf(route.config, method, route.url);
    route.config = { ...route.config, access } as RouteOptions['config'];
    const schema = (route.schema ??= {}) as Record<string, unknown> & { response?: Record<string, unknown> };
    schema['x-scope'] = access.scope;
    if (access.scope !== 'open') schema['x-models'] = access.models;
    if (!secured) return;
    if (access.scope === 'open') {
      schema.security = [];
      return;
    }
    schema.security = [{ apiKey: [] }];
    if (schema.response) {
      schema.response[401] ??= ErrorResponse;
      schema.response[403] ??= ErrorResponse;
    }
  });

  app.decorateRequest('grant', null as unknown as Grant);
  const refused = (reason: 'unauthorized' | 'scope' | 'model') => options.metrics?.apiAuthRefused.inc({ reason });

  app.addHook('onRequest', async (request: FastifyRequest) => {
    request.grant = OPEN;
    // 404 and 405 answers say nothing a key would protect.
    if (!secured || request.is404) return;
    const access = (request.routeOptions.config as { access?: RouteAccess }).access;
    // A route declared before this was installed: none here, so refuse rather than guess.
    if (!access) throw new Errors.Forbidden('this route has no access rule (api/access.ts)');
    if (access.scope === 'open') return;
    const key = authenticate(request.headers.authorization);
    if (!key) {
      refused('unauthorized');
      throw new Errors.Unauthorized();
    }
    if (!key.scopes.includes(access.scope)) {
      refused('scope');
      throw new Errors.Forbidden(`API key "${key.name}" lacks the ${access.scope} scope this route needs (it has ${key.scopes.join(', ')})`);
    }
    const grant: Grant = { key: key.name, models: key.models };
    if (access.models === 'every' && key.models) {
      refused('model');
      throw new Errors.Forbidden(`API key "${key.name}" is limited to models ${key.models.join(', ')}; this route covers every model`);
    }
    const model = (request.params as { model?: unknown } | undefined)?.model;
    if (typeof model === 'string' && !mayUse(grant, model)) {
      refused('model');
      throw modelForbidden(grant, model);
    }
    request.grant = grant;
  });

  // Every key's digest is compared, in constant time, so the time taken says
  // nothing about which key came close.
  function authenticate(header: string | undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) return undefined;
    const given = sha256(match[1]);
    let found: (typeof keys)[number] | undefined;
    for (const key of keys) if (timingSafeEqual(key.digest, given) && !found) found = key;
    return found;
  }
}
