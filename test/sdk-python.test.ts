import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.ts';

// The Python client (clients/python) is tested with pytest against real
// driftwatch services its tests start (clients/python/tests/conftest.py).
// This file makes `npm test` run them: a venv under .cache/ (git-ignored)
// with pytest, the package installed into it from a copy of its folder
// (pip builds in place), then pytest over its tests.

const run = promisify(execFile);
const REPO = new URL('..', import.meta.url).pathname;
const VENV = join(REPO, '.cache', 'sdk-python', 'venv');
const PYTHON = join(VENV, 'bin', 'python');
const REPORT = join(REPO, '.reports', 'pytest-sdk.xml');

beforeAll(async () => {
  if (!existsSync(PYTHON)) {
    mkdirSync(join(REPO, '.cache', 'sdk-python'), { recursive: true });
    await run('python3', ['-m', 'venv', VENV], { timeout: 120_000 });
  }
  // Without network use when both are there already (setuptools 70.1+ builds wheels itself).
  await run(PYTHON, ['-m', 'pip', 'install', '-q', 'pytest>=8,<10', 'setuptools>=70.1'], { timeout: 600_000 });
  const copy = tempDir('driftwatch-pyclient-');
  try {
    cpSync(join(REPO, 'clients', 'python'), copy.path, { recursive: true, filter: (src) => !/(__pycache__|\.egg-info|\/build)$/.test(src) });
    await run(PYTHON, ['-m', 'pip', 'install', '-q', '--no-build-isolation', '--force-reinstall', '--no-deps', copy.path], { timeout: 300_000 });
  } finally {
    copy.remove();
  }
}, 900_000);

describe('the Python client (pytest)', () => {
  it('passes its pytest suite against real services, nothing skipped', async () => {
    rmSync(REPORT, { force: true });
    const tests = join(REPO, 'clients', 'python', 'tests');
    const result = await run(PYTHON, ['-m', 'pytest', tests, '-q', '-p', 'no:cacheprovider', `--junitxml=${REPORT}`], {
      cwd: REPO,
      env: { ...process.env, DRIFTWATCH_REPO: REPO, NODE: process.execPath },
      timeout: 1_500_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string; code?: number }) => err);
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    expect((result as { code?: number }).code ?? 0, output).toBe(0);
    const suite = /<testsuite [^>]*>/.exec(readFileSync(REPORT, 'utf8'))?.[0] ?? '';
    const attr = (name: string) => Number(new RegExp(`${name}="(\\d+)"`).exec(suite)?.[1]);
    expect({ tests: attr('tests'), failures: attr('failures'), errors: attr('errors'), skipped: attr('skipped') }).toEqual({ tests: 12, failures: 0, errors: 0, skipped: 0 });
  }, 1_500_000);
});
