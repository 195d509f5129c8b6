import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.ts';

/**
 * What a newcomer does first, on a fresh clone of this commit: npm ci, and
 * the package installed globally and started. Both use the warm npm cache
 * (--prefer-offline): the network is not what is tested.
 */

// `npm warn` lines the project cannot avoid. Keep it short, each with its reason.
const ALLOWED_WARNINGS: RegExp[] = [
  // (none: every warning npm ci printed here was fixed at its source)
];

const root = new URL('..', import.meta.url).pathname;

/** Runs a command to its end; resolves with its exit code and everything it printed. */
function sh(command: string, args: string[], cwd: string) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(command, args, { cwd, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

// npm as a newcomer runs it, without the npm_* settings a parent `npm test` puts in the environment.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));

const warnings = (output: string) =>
  output.split('\n').filter((line) => /^npm warn/i.test(line) && !ALLOWED_WARNINGS.some((allowed) => allowed.test(line)));


describe('a fresh clone', () => {
  const dir = tempDir('driftwatch-install-');
  const clone = join(dir.path, 'clone');
  beforeAll(async () => {
    const cloned = await sh('git', ['clone', '--quiet', root, clone], dir.path);
    expect(cloned.code, cloned.output).toBe(0);
  }, 120_000);
  afterAll(() => dir.remove());

  it('installs with npm ci printing no warning, and npm commands print none either', async () => {
    const ci = await sh('npm', ['ci', '--prefer-offline'], clone);
    expect(ci.code, ci.output).toBe(0);
    expect(warnings(ci.output)).toEqual([]);
    const other = await sh('npm', ['pkg', 'get', 'engines'], clone);
    expect(other.code, other.output).toBe(0);
    expect(warnings(other.output)).toEqual([]);
    expect(JSON.parse(other.output)).toEqual({ node: '>=20' });
  }, 600_000);

  it('packs into a package that installs globally in an empty folder and serves, compiled, without tsx', async () => {
    // npm pack builds first (prepack: npm run build).
    const packed = await sh('npm', ['pack', '--silent'], clone);
    expect(packed.code, packed.output).toBe(0);
    const tarball = join(clone, packed.output.trim().split('\n').pop()!);
    expect(tarball).toMatch(/driftwatch-\d+\.\d+\.\d+\.tgz$/);
    const empty = join(dir.path, 'empty');
    const prefix = join(dir.path, 'prefix');
    mkdirSync(empty);
    // --ignore-scripts: a global install runs dependencies' install scripts
    // (allowScripts binds a project only), and none is needed (docs/operations.md).
    const installed = await sh('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--ignore-scripts', tarball], empty);
    expect(installed.code, installed.output).toBe(0);
    expect(warnings(installed.output)).toEqual([]);
    const modules = join(prefix, 'lib/node_modules/driftwatch/node_modules');
    expect(existsSync(join(modules, 'fastify'))).toBe(true);
    expect(readdirSync(modules)).not.toContain('tsx');

    const data = join(dir.path, 'data');
    const cli = runCli(['serve', '--port', '0', '--data-dir', data], {}, [join(prefix, 'bin/driftwatch')]);
    try {
      let url: string | undefined;
      const deadline = Date.now() + 60_000;
      while (!url && Date.now() < deadline && cli.child.exitCode === null) {
        url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(cli.out())?.[1];
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(url, cli.out() + cli.err()).toBeDefined();
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      // The ingest worker (compiled), the event schema (JSON) and the shipped alert rules (YAML) are in the package.
      const sent = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ event_id: 'a', model: 'm', timestamp: Date.now(), features: { x: 1 }, prediction: 1 }, { event_id: 'b', model: 'm' }]),
      });
      const answer = await sent.json();
      expect(answer.accepted).toBe(1);
      expect(answer.rejected[0].index).toBe(1);
      expect((await (await fetch(`${url}/v1/alerts/rules`)).json()).rules.length).toBeGreaterThan(0);
      expect((await fetch(`${url}/docs`)).status).toBe(200);
      // The web UI's bundle is built before packing and shipped in the package.
      const ui = await fetch(`${url}/ui`);
      expect(ui.status).toBe(200);
      expect(await ui.text()).toContain('/ui/app.js');
      expect((await fetch(`${url}/ui/app.js`)).status).toBe(200);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
    }
  }, 900_000);
});
