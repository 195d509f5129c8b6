import { describe, expect, it } from 'vitest';
import { runCli as run, tempDir } from './helpers.ts';

describe('driftwatch CLI', () => {
  it('--help lists the commands and options', async () => {
    const cli = run(['--help']);
    expect(await cli.exited).toBe(0);
    for (const word of ['serve', 'demo', '--data-dir', '--clickhouse-url', '--analysis-window', '--api-keys', '--duration']) {
      expect(cli.out()).toContain(word);
    }
  });

  it('config prints every setting with its default and current value, secrets masked, and checks them', async () => {
    const { CONFIG_KEYS } = await import('../core/config.ts');
    const cli = run(['config', '--analysis-window', '1m', '--api-keys', 'k3y-one,k3y-two'], {
      CLICKHOUSE_URL: 'http://reader:pa55word@127.0.0.1:8123',
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'hunter2-secret',
    });
    expect(await cli.exited).toBe(0);
    const lines = cli.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^setting\s+default\s+current\s+from$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(CONFIG_KEYS);
    const row = (key: string) => lines.find((l) => l.startsWith(`${key} `))!.split(/\s{2,}/);
    expect(row('ANALYSIS_WINDOW')).toEqual(['ANALYSIS_WINDOW', '5m', '1m', 'flag']);
    expect(row('ANALYSIS_GRACE')).toEqual(['ANALYSIS_GRACE', '10s', '10s', 'default']);
    expect(row('BODY_LIMIT_BYTES')).toEqual(['BODY_LIMIT_BYTES', '8388608', '8388608', 'default']);
    expect(row('INGEST_ACK').slice(2)).toEqual(['stored', 'default']);
    expect(row('CLICKHOUSE_URL')).toEqual(['CLICKHOUSE_URL', '(unset)', 'http://reader:********@127.0.0.1:8123', 'env']);
    expect(row('KAFKA_SASL_PASSWORD').slice(2)).toEqual(['********', 'env']);
    expect(row('API_KEYS').slice(2)).toEqual(['********', 'flag']);
    for (const secret of ['pa55word', 'hunter2', 'k3y-']) expect(cli.out()).not.toContain(secret);
    const bad = run(['config', '--psi-bins', 'many']);
    expect(await bad.exited).toBe(2);
    expect(bad.out()).toMatch(/^PSI_BINS\s+10\s+many\s+flag$/m);
    expect(bad.err()).toMatch(/PSI_BINS:/);
    const help = run(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.out()).toMatch(/config\s+Print every setting with its default and its current value/);
  });

  it('stops at start-up on a bad setting, naming it', async () => {
    const cli = run(['serve'], { ANALYSIS_WINDOW: 'soon' });
    expect(await cli.exited).toBe(2);
    expect(cli.err()).toMatch(/ANALYSIS_WINDOW: expected a duration/);
    const flag = run(['serve', '--port', 'http']);
    expect(await flag.exited).toBe(2);
    expect(flag.err()).toMatch(/PORT:/);
  });

  it('rules writes the alert rules as Prometheus rules, and names what is wrong with a bad rules file', async () => {
    const cli = run(['rules', '--analysis-window', '1m']);
    expect(await cli.exited).toBe(0);
    expect(cli.out()).toMatch(/- alert: FeatureDrift\n\s+expr: driftwatch_feature_drifted\{feature!="@prediction"\} >= 1\n/);
    expect(cli.out()).toMatch(/- alert: MissingValues\n\s+expr: \|-\n\s+driftwatch_feature_missing_ratio > 0\.2\n\s+or\n/);
    expect(cli.out()).toMatch(/for: 60s\n\s+keep_firing_for: 60s/);
    const dir = tempDir();
    try {
      const bad = `${dir.path}/rules.yaml`;
      (await import('node:fs')).writeFileSync(bad, 'rules:\n  - name: X\n    metric: drift.psi\n    threshold: 0.2\n    severity: loud\n');
      const failed = run(['rules', '--alert-rules-file', bad]);
      expect(await failed.exited).toBe(2);
      expect(failed.err()).toMatch(/invalid alert rules in .*rules\.yaml:\n  rules\[0\]\.severity: Invalid option/);
    } finally {
      dir.remove();
    }
  });

  it('dashboards writes the Grafana dashboards and provisioning files', async () => {
    const dir = tempDir();
    try {
      const cli = run(['dashboards', '--out', dir.path]);
      expect(await cli.exited).toBe(0);
      const { readFileSync } = await import('node:fs');
      const overview = JSON.parse(readFileSync(`${dir.path}/dashboards/driftwatch-overview.json`, 'utf8'));
      expect(overview).toMatchObject({ uid: 'driftwatch-overview', tags: ['driftwatch'] });
      expect(readFileSync(`${dir.path}/provisioning/datasources/driftwatch.yaml`, 'utf8')).toMatch(/type: grafana-clickhouse-datasource/);
      expect(cli.out().trim().split('\n')).toHaveLength(4);
    } finally {
      dir.remove();
    }
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

describe('errors a newcomer meets at start-up: one line each, naming the fix', () => {
  /** Starts `serve` and waits until it listens; returns its URL. */
  async function serving(args: string[]) {
    const cli = run(['serve', ...args]);
    const deadline = Date.now() + 60_000;
    let url: string | undefined;
    while (!url && Date.now() < deadline) {
      url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(cli.out())?.[1];
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(url, cli.err()).toBeDefined();
    return cli;
  }

  it('a port in use', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    const dir = tempDir();
    try {
      const cli = run(['serve', '--port', String(port), '--data-dir', dir.path]);
      expect(await cli.exited).toBe(1);
      expect(cli.err()).toBe(`driftwatch: port ${port} on 127.0.0.1 is in use by another process: stop it, or pick another port with --port (PORT)\n`);
    } finally {
      taken.close();
      dir.remove();
    }
  });

  it('a data folder another process holds', async () => {
    const dir = tempDir();
    const first = await serving(['--port', '0', '--data-dir', dir.path]);
    try {
      const second = run(['serve', '--port', '0', '--data-dir', dir.path]);
      expect(await second.exited).toBe(1);
      expect(second.err()).toBe(
        `driftwatch: data folder ${dir.path} is in use by another process (pid ${first.child.pid}): stop it, or give this one its own --data-dir (DATA_DIR); ` +
          'a running service is reached through its API, not its folder\n',
      );
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
      dir.remove();
    }
  });

  it('a data folder from a newer schema version', async () => {
    const { openStore } = await import('../store/open.ts');
    const { MIGRATIONS } = await import('../store/migrations.ts');
    const { testConfig } = await import('./helpers.ts');
    const dir = tempDir();
    try {
      // A store a later release migrated further (this test process's one chDB folder).
      const sql = await openStore(testConfig({ DATA_DIR: dir.path }));
      const known = Math.max(...MIGRATIONS.map((m) => m.version));
      await sql.command('INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})', { v: known + 1, n: 'from the future' });
      await sql.close();
      const cli = run(['serve', '--port', '0', '--data-dir', dir.path]);
      expect(await cli.exited).toBe(1);
      expect(cli.err()).toBe(
        `driftwatch: the store was written by a newer driftwatch (schema version ${known + 1}; this one knows up to ${known}): ` +
          'run the newer version, or point this one at another --data-dir (DATA_DIR) or CLICKHOUSE_DATABASE\n',
      );
    } finally {
      dir.remove();
    }
  });
});
