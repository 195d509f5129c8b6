import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { saveAlertEvents } from '../store/alerts.ts';
import { event, tempDir, testConfig } from './helpers.ts';

// One key per role of the walk. The unlimited key is stored by its digest
// only, as a keys file should; the others by secret.
const SECRET = {
  all: 'all-scopes-all-models-0123456789',
  noIngest: 'read-admin-only-0123456789abcdef',
  noRead: 'ingest-admin-only-0123456789abcd',
  noAdmin: 'ingest-read-only-0123456789abcde',
  credit: 'every-scope-credit-models-012345',
};
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const KEYS = `
keys:
  - name: ops
    sha256: ${sha256(SECRET.all)}
    scopes: [ingest, read, admin]
  - { name: no-ingest, secret: ${SECRET.noIngest}, scopes: [read, admin] }
  - { name: no-read, secret: ${SECRET.noRead}, scopes: [ingest, admin] }
  - { name: no-admin, secret: ${SECRET.noAdmin}, scopes: [ingest, read] }
  - name: credit-team
    secret: ${SECRET.credit}
    scopes: [ingest, read, admin]
    models: ["credit-*"]
`;
const RULES = `
rules:
  - name: FraudDrift
    metric: dataset.drifted_share
    threshold: 0.5
    models: [fraud]
    webhook:
      url: https://hooks.example.com/services/T000/B000/very-secret-token?sig=abc
      headers: { Authorization: "Bearer webhook-secret-header" }
  - name: CreditDrift
    metric: dataset.drifted_share
    threshold: 0.5
    models: [credit-*]
`;

const dir = tempDir();
let service: Service;

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

async function call(method: string, url: string, headers: Record<string, string> = {}, body?: unknown) {
  const response = await fetch(`${service.url}${url}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) };
}

beforeAll(async () => {
  writeFileSync(join(dir.path, 'keys.yaml'), KEYS);
  writeFileSync(join(dir.path, 'rules.yaml'), RULES);
  service = await startService(
    testConfig({ DATA_DIR: join(dir.path, 'data'), API_KEYS_FILE: join(dir.path, 'keys.yaml'), ALERT_RULES_FILE: join(dir.path, 'rules.yaml') }),
    { logger: false },
  );
  const seeded = await call('POST', '/v1/events', bearer(SECRET.all), [event({ model: 'credit-a' }), event({ model: 'fraud' })]);
  expect(seeded.json().accepted).toBe(2);
  const at = Date.now() - 60_000;
  const transition = { at, rule: 'R', subject: '', from_status: 'pending', to_status: 'firing', value: 1, threshold: 0.5, severity: 'warning', window_start: at - 60_000, window_end: at } as const;
  await saveAlertEvents(service.sql, [{ ...transition, model: 'credit-a' }, { ...transition, model: 'fraud' }]);
}, 120_000);
afterAll(async () => {
  await service?.close();
  dir.remove();
});

interface Operation {
  method: string;
  path: string;
  scope: string;
  models?: string;
  security?: unknown;
}

describe('access control, walking every route of the OpenAPI document', () => {
  let operations: Operation[];
  beforeAll(async () => {
    const doc = (await call('GET', '/docs/json', bearer(SECRET.all))).json();
    operations = Object.entries(doc.paths as Record<string, Record<string, Record<string, unknown>>>).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        scope: op['x-scope'] as string,
        models: op['x-models'] as string | undefined,
        security: op.security,
      })),
    );
    // The document leaves itself out; it is walked too.
    operations.push({ method: 'GET', path: '/docs/json', scope: 'read', models: 'filtered', security: [{ apiKey: [] }] });
  });

  it('declares for each route the scope the issue gives it, and bearer security on all but the probes', () => {
    expect(operations.length).toBeGreaterThanOrEqual(22);
    for (const op of operations) {
      const name = `${op.method} ${op.path}`;
      const expected = ['/healthz', '/readyz'].includes(op.path)
        ? 'open'
        : !op.path.startsWith('/v1') || op.method === 'GET'
          ? 'read'
          : ['/v1/events', '/v1/labels'].includes(op.path)
            ? 'ingest'
            : 'admin';
      expect(`${name}: ${op.scope}`).toBe(`${name}: ${expected}`);
      expect(op.security, name).toEqual(expected === 'open' ? [] : [{ apiKey: [] }]);
    }
  });

  it('answers 401 without a key or with a wrong one, 403 to a key of another scope or model, and serves the right key', async () => {
    const uuid = '00000000-0000-4000-8000-000000000000';
    let requests = 0;
    for (const op of operations) {
      // Deleting a model is walked on one without data: the seeded models are counted below.
      const model = op.method === 'DELETE' && op.path === '/v1/models/{model}' ? 'never-sent' : 'fraud';
      const url = op.path.replace('{model}', model).replace('{name}', 'logreg').replace('{id}', uuid).replace('{baseline_id}', uuid);
      const body =
        op.path === '/v1/events'
          ? [event({ model: 'credit-a' }), event({ model: 'fraud' })]
          : op.path === '/v1/labels'
            ? [{ model: 'fraud', event_id: 'e-1', label: 1 }]
            : op.method === 'POST'
              ? {}
              : undefined;
      const send = async (headers: Record<string, string>) => {
        requests++;
        return call(op.method, url, headers, body);
      };
      const name = `${op.method} ${op.path}`;
      const otherScope = { ingest: SECRET.noIngest, read: SECRET.noRead, admin: SECRET.noAdmin }[op.scope];

      const right = await send(bearer(SECRET.all));
      expect([401, 403], `${name} with the right key: ${right.text}`).not.toContain(right.status);
      if (op.scope === 'open') {
        for (const headers of [{}, bearer('not-a-configured-key-000000'), bearer(SECRET.credit), bearer(SECRET.noRead)]) {
          expect([401, 403], name).not.toContain((await send(headers)).status);
        }
        continue;
      }
      for (const headers of [{}, bearer('not-a-configured-key-000000'), { authorization: SECRET.all }, { authorization: `Basic ${Buffer.from(SECRET.all).toString('base64')}` }]) {
        const answer = await send(headers);
        expect(`${name} ${answer.status}`).toBe(`${name} 401`);
        expect(answer.json().code).toBe('DW_UNAUTHORIZED');
      }
      const scoped = await send(bearer(otherScope!));
      expect(`${name} ${scoped.status}`).toBe(`${name} 403`);
      expect(scoped.json().message).toMatch(new RegExp(`lacks the ${op.scope} scope`));

      const limited = await send(bearer(SECRET.credit));
      if (op.models === 'filtered' && op.path.startsWith('/v1/jobs/')) {
        // A job of another model is hidden from a limited key as if it did not exist.
        expect(`${name} ${limited.status}`).toBe(`${name} 404`);
      } else if (op.models === 'filtered') {
        // Lists over models answer a limited key with its models only.
        expect(`${name} ${limited.status}`).toBe(`${name} 200`);
        if (op.path.startsWith('/v1')) expect(limited.text, name).not.toMatch(/"fraud"|Fraud/);
      } else {
        expect(`${name} ${limited.status}`).toBe(`${name} 403`);
        expect(limited.json().message).toMatch(/credit-team/);
      }
    }
    // The figure for the closing note: routes x keys.
    expect(requests).toBe(operations.reduce((n, op) => n + (op.scope === 'open' ? 5 : 7), 0));
    // Nothing of the refused ingest requests was stored: only the seeded
    // events and the one accepted request of the unlimited key.
    const stored = await service.sql.query<{ n: string }>("SELECT count() AS n FROM events FINAL WHERE model IN ('credit-a', 'fraud')");
    expect(Number(stored[0].n)).toBe(4);
  }, 120_000);
});

describe('keys limited to models', () => {
  it('may not write events or labels of another model: the whole request is refused, by JSON and NDJSON', async () => {
    const before = await service.sql.query<{ n: string }>("SELECT count() AS n FROM events FINAL WHERE model LIKE 'credit-%' OR model = 'fraud'");
    const mixed = [event({ model: 'credit-b', event_id: 'mixed-1' }), event({ model: 'fraud', event_id: 'mixed-2' })];
    const json = await call('POST', '/v1/events', bearer(SECRET.credit), mixed);
    expect(json.status).toBe(403);
    expect(json.json().message).toMatch(/may not use model "fraud".*item 1; nothing of this request was stored/);
    const ndjson = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { ...bearer(SECRET.credit), 'content-type': 'application/x-ndjson' },
      body: mixed.map((e) => JSON.stringify(e)).join('\n'),
    });
    expect(ndjson.status).toBe(403);
    const labels = await call('POST', '/v1/labels', bearer(SECRET.credit), [{ model: 'fraud', event_id: 'mixed-2', label: 1 }]);
    expect(labels.status).toBe(403);
    const after = await service.sql.query<{ n: string }>("SELECT count() AS n FROM events FINAL WHERE model LIKE 'credit-%' OR model = 'fraud'");
    expect(after[0].n).toBe(before[0].n);

    const own = await call('POST', '/v1/events', bearer(SECRET.credit), [event({ model: 'credit-b', event_id: 'own-1' })]);
    expect(own.json()).toEqual({ accepted: 1, rejected: [] });
  });

  it('see only their models in lists, alerts and alert rules', async () => {
    const models = (await call('GET', '/v1/models', bearer(SECRET.credit))).json().models.map((m: { model: string }) => m.model);
    expect(models).toContain('credit-a');
    expect(models).not.toContain('fraud');
    expect((await call('GET', '/v1/models', bearer(SECRET.all))).json().models.map((m: { model: string }) => m.model)).toContain('fraud');

    const alerts = (await call('GET', '/v1/alerts', bearer(SECRET.credit))).json();
    expect(alerts.history.map((h: { model: string }) => h.model)).toEqual(['credit-a']);
    expect((await call('GET', '/v1/alerts', bearer(SECRET.all))).json().history.map((h: { model: string }) => h.model).sort()).toEqual(['credit-a', 'fraud']);
    expect((await call('GET', '/v1/alerts?model=fraud', bearer(SECRET.credit))).status).toBe(403);

    const rules = (await call('GET', '/v1/alerts/rules', bearer(SECRET.credit))).json().rules.map((r: { name: string }) => r.name);
    expect(rules).toEqual(['CreditDrift']);
  });
});

describe('redaction', () => {
  it('shows where a webhook goes and which headers it sends, never the URL path, query or header values', async () => {
    const answer = await call('GET', '/v1/alerts/rules', bearer(SECRET.all));
    const fraud = answer.json().rules.find((r: { name: string }) => r.name === 'FraudDrift');
    expect(fraud.webhook).toEqual({ url: 'https://hooks.example.com/<redacted>', headers: { Authorization: '<redacted>' } });
    expect(answer.text).not.toMatch(/very-secret-token|sig=abc|webhook-secret-header|T000/);
  });
});

describe('/metrics and /docs/json', () => {
  it('need a read key for every model by default', async () => {
    expect((await call('GET', '/metrics')).status).toBe(401);
    expect((await call('GET', '/metrics', bearer(SECRET.credit))).status).toBe(403);
    expect((await call('GET', '/metrics', bearer(SECRET.noAdmin))).status).toBe(200);
    expect((await call('GET', '/docs/json')).status).toBe(401);
    expect((await call('GET', '/docs/json', bearer(SECRET.credit))).status).toBe(200);
    const refused = await call('GET', '/metrics', bearer(SECRET.all));
    expect(refused.text).toMatch(/driftwatch_api_auth_refused_total\{reason="unauthorized"\} [1-9]/);
    expect(refused.text).toMatch(/driftwatch_api_auth_refused_total\{reason="model"\} [1-9]/);
    expect(refused.text).toMatch(/driftwatch_api_auth_refused_total\{reason="scope"\} [1-9]/);
  });
});

describe('Swagger UI at /docs', () => {
  it('serves its page and bundled assets without a key (they hold no data), while the document it shows still needs one', async () => {
    const page = await call('GET', '/docs/static/index.html');
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/swagger-ui/i);
    const script = /src="\.?\/?([^"]*swagger-ui-bundle\.js)"/.exec(page.text)?.[1];
    expect(script).toBeTruthy();
    expect((await call('GET', `/docs/static/${script!.replace(/^.*\//, '')}`)).status).toBe(200);
    expect((await call('GET', '/docs/json')).status).toBe(401);
  });
});

describe('METRICS_DOCS_ACCESS=open, with keys from API_KEYS', () => {
  it('leaves /metrics and /docs/json open and says so in the document; the rest needs the key, given here by digest', async () => {
    // One embedded store per process: the service restarts with other settings.
    await service.close();
    service = await startService(
      testConfig({ DATA_DIR: join(dir.path, 'data'), API_KEYS: `sha256:${sha256(SECRET.all)}`, METRICS_DOCS_ACCESS: 'open' }),
      { logger: false },
    );
    expect((await call('GET', '/metrics')).status).toBe(200);
    const doc = (await call('GET', '/docs/json')).json();
    expect(doc.paths['/metrics'].get.security).toEqual([]);
    expect(doc.paths['/v1/models'].get.security).toEqual([{ apiKey: [] }]);
    expect((await call('GET', '/v1/models')).status).toBe(401);
    expect((await call('GET', '/v1/models', bearer(SECRET.all))).status).toBe(200);
    expect((await call('GET', '/v1/models', bearer(SECRET.credit))).status).toBe(401);
  }, 60_000);
});
