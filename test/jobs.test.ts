import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { tempDir, testConfig } from './helpers.ts';

const SECRET = { all: 'jobs-test-all-scopes-0123456789', credit: 'jobs-test-credit-only-012345678' };
const KEYS = `
keys:
  - { name: ops, secret: ${SECRET.all}, scopes: [ingest, read, admin] }
  - { name: credit-team, secret: ${SECRET.credit}, scopes: [ingest, read, admin], models: ["credit-*"] }
`;
const dir = tempDir();
let service: Service;
const call = async (method: string, url: string, secret: string) => {
  const response = await fetch(`${service.url}${url}`, { method, headers: { authorization: `Bearer ${secret}` } });
  return { status: response.status, body: await response.json() };
};

beforeAll(async () => {
  writeFileSync(join(dir.path, 'keys.yaml'), KEYS);
  service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data'), API_KEYS_FILE: join(dir.path, 'keys.yaml') }), { logger: false });
}, 120_000);
afterAll(async () => {
  await service?.close();
  dir.remove();
});

describe('jobs over the API', () => {
  it('report progress, hide other models from a limited key, and cancel a running job once', async () => {
    let release!: () => void;
    const step = new Promise<void>((r) => (release = r));
    const job = service.jobs.start('import', 'fraud', 'rows', async ({ signal, progress }) => {
      progress(250, 1000);
      await step;
      // Work that looks at its signal stops early and says how far it got.
      return { stopped: signal.aborted };
    });

    const running = await call('GET', `/v1/jobs/${job.id}`, SECRET.all);
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({ id: job.id, kind: 'import', model: 'fraud', state: 'running', done: 250, total: 1000, unit: 'rows' });
    expect(running.body.rate_per_second).toBeGreaterThan(0);
    expect(running.body.eta_seconds).toBeGreaterThan(0);

    expect((await call('GET', `/v1/jobs/${job.id}`, SECRET.credit)).status).toBe(404);
    expect((await call('DELETE', `/v1/jobs/${job.id}`, SECRET.credit)).status).toBe(404);
    expect((await call('GET', '/v1/jobs', SECRET.credit)).body.jobs).toEqual([]);
    expect((await call('GET', '/v1/jobs?model=fraud', SECRET.all)).body.jobs.map((j: { id: string }) => j.id)).toEqual([job.id]);

    const cancelled = await call('DELETE', `/v1/jobs/${job.id}`, SECRET.all);
    expect(cancelled.status).toBe(202);
    release();
    const done = await service.jobs.settled(job.id);
    expect(done).toMatchObject({ state: 'cancelled', result: { stopped: true }, eta_seconds: 0 });
    const again = await call('DELETE', `/v1/jobs/${job.id}`, SECRET.all);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('DW_JOB_FINISHED');
  });

  it('keep a failed job with its reason', async () => {
    const job = service.jobs.start('analyze', 'credit-a', 'windows', async () => {
      throw new Error('the store went away');
    });
    await service.jobs.settled(job.id);
    const failed = await call('GET', `/v1/jobs/${job.id}`, SECRET.credit);
    expect(failed.body).toMatchObject({ state: 'failed', error: 'the store went away' });
    expect((await call('GET', '/v1/jobs/00000000-0000-4000-8000-000000000000', SECRET.all)).body.code).toBe('DW_JOB_NOT_FOUND');
  });
});
