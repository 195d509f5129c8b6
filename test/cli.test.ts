import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.ts';

const CLI = new URL('../cli/driftwatch.mjs', import.meta.url).pathname;

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe('driftwatch CLI', () => {
  it('--help lists the commands and options', async () => {
    const cli = run(['--help']);
    expect(await cli.exited).toBe(0);
    for (const word of ['serve', 'demo', '--data-dir', '--clickhouse-url', '--analysis-window', '--api-keys', '--duration']) {
      expect(cli.out()).toContain(word);
    }
  });

  it('stops at start-up on a bad setting, naming it', async () => {
    const cli = run(['serve'], { ANALYSIS_WINDOW: 'soon' });
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toMatch(/ANALYSIS_WINDOW: expected a duration/);
    const flag = run(['serve', '--port', 'http']);
    expect(await flag.exited).toBe(2);
    expect(flag.err()).toMatch(/PORT:/);
  });

  it('refuses unknown commands and options', async () => {
    const cli = run(['launch']);
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toMatch(/unknown command "launch"/);
  });

  it('serve answers on its port and leaves cleanly on SIGTERM', async () => {
    const dir = tempDir();
    const cli = run(['serve', '--port', '0', '--data-dir', dir.path]);
    try {
      let url: string | undefined;
      const deadline = Date.now() + 30_000;
      while (!url && Date.now() < deadline) {
        url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(cli.out())?.[1];
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(url, cli.err()).toBeDefined();
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready' });
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
      dir.remove();
    }
  });
});
