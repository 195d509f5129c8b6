import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../core/config.ts';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';
import { mulberry32 } from '../core/random.ts';

/** A temp folder removed by the returned cleanup. Each test file gets its own chDB folder. */
export function tempDir(prefix = 'driftwatch-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

const CLI = new URL('../cli/driftwatch.mjs', import.meta.url).pathname;

/** Runs the `driftwatch` command as a child process, collecting what it prints. */
export function runCli(args: string[], env: Record<string, string> = {}, command: string[] = [process.execPath, CLI]) {
  const child = spawn(command[0], [...command.slice(1), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return parseConfig({ PORT: '0', LOG_LEVEL: 'silent', ANALYSIS_ENABLED: 'false', ...overrides });
}

/** Backends the store suites run against: the embedded engine always, a server when CLICKHOUSE_URL is set. */
export function backends(): { name: string; open: (dataDir: string) => Promise<Sql> }[] {
  const list = [{ name: 'embedded (chDB)', open: (dataDir: string) => openStore(testConfig({ DATA_DIR: dataDir })) }];
  const url = process.env.CLICKHOUSE_URL;
  if (url) {
    list.push({
      name: `server (${url})`,
      open: () =>
        openStore(
          testConfig({
            CLICKHOUSE_URL: url,
            CLICKHOUSE_USER: process.env.CLICKHOUSE_USER ?? 'default',
            CLICKHOUSE_PASSWORD: process.env.CLICKHOUSE_PASSWORD ?? '',
            CLICKHOUSE_DATABASE: `driftwatch_test_${process.pid}_${Date.now()}`,
          }),
        ),
    });
  }
  return list;
}

/** mulberry32 + Box-Muller: reproducible test data. */
export function seeded(seed: number) {
  const random = mulberry32(seed);
  const normal = (mean = 0, sd = 1) => mean + sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return { random, normal };
}

export function event(overrides: Record<string, unknown> = {}) {
  return {
    event_id: `e-${Math.random().toString(36).slice(2)}`,
    model: 'fraud',
    model_version: 'v1',
    timestamp: Date.now(),
    features: { amount: 12.5, country: 'DE', is_new: true, age: null },
    prediction: 0.12,
    scores: { fraud: 0.12, ok: 0.88 },
    latency_ms: 3.2,
    tags: { region: 'eu' },
    ...overrides,
  };
}

/**
 * A store whose inserts fail while `down()` says so (queries still answer):
 * the outage the ingest paths must wait out without losing rows.
 */
export function withInsertOutage(down: () => boolean): (sql: Sql) => Sql {
  const unavailable = () => Promise.reject(new Error('store unavailable (injected)'));
  return (sql) => ({
    ...sql,
    backend: sql.backend,
    query: (q, p, o) => sql.query(q, p, o),
    command: (q, p, o) => sql.command(q, p, o),
    close: () => sql.close(),
    insertCompact: (table, columns, rows) => (down() ? unavailable() : sql.insertCompact(table, columns, rows)),
    insertRowBinary: (table, columns, rows) => (down() ? unavailable() : sql.insertRowBinary(table, columns, rows)),
  });
}
