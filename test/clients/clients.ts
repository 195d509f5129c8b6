import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The ClickHouse clients other than ours, built or installed by the test
 * itself (so a clean machine runs it too) and cached under .cache/: the Go
 * driver Grafana's data source uses, built with the machine's Go, and the
 * Python client from PyPI in a virtual environment of its own.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const CACHE = join(ROOT, '.cache');
const run = promisify(execFile);

/** One query's answer through a client: columns, types and rows, or the error it reported. */
export interface ClientResult {
  columns?: string[];
  types?: string[];
  rows?: unknown[][];
  error?: string;
  code?: number;
}

const goEnv = () => ({
  ...process.env,
  GOMODCACHE: join(CACHE, 'go', 'mod'),
  GOCACHE: join(CACHE, 'go', 'build'),
  GOPATH: join(CACHE, 'go', 'path'),
  GOFLAGS: '-modcacherw',
  GOTOOLCHAIN: 'local',
});

/**
 * Builds test/clients/go (clickhouse-go v2, pinned in its go.mod) and returns
 * the program's path: one per process, as test files build it at once.
 */
export async function buildGoClient(): Promise<string> {
  const out = join(CACHE, 'go', 'bin', `chclient-${process.pid}`);
  mkdirSync(join(CACHE, 'go', 'bin'), { recursive: true });
  await run('go', ['build', '-o', out, '.'], { cwd: join(ROOT, 'test', 'clients', 'go'), env: goEnv(), timeout: 900_000 });
  return out;
}

export const CLICKHOUSE_CONNECT = 'clickhouse-connect==1.12.0';

/** A virtual environment with clickhouse-connect; returns its python. */
export async function pythonClient(): Promise<string> {
  const venv = join(CACHE, 'py-clickhouse');
  const python = join(venv, 'bin', 'python');
  if (!existsSync(python)) await run('python3', ['-m', 'venv', venv], { timeout: 300_000 });
  const installed = await run(python, ['-m', 'pip', 'show', 'clickhouse-connect'], { timeout: 120_000 }).then((r) => r.stdout, () => '');
  if (!installed.includes(`Version: ${CLICKHOUSE_CONNECT.split('==')[1]}`)) {
    await run(python, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', CLICKHOUSE_CONNECT], { timeout: 600_000 });
  }
  return python;
}

/** Runs a client program with its input as JSON on stdin and returns what it printed as JSON. */
export function runClient<T>(command: string[], input: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${command.join(' ')} exited with ${code}: ${stderr.slice(-2000)}`));
      try {
        resolve(JSON.parse(stdout) as T);
      } catch (err) {
        reject(new Error(`${command.join(' ')} printed no JSON: ${stdout.slice(0, 500)} ${stderr.slice(-1000)}`, { cause: err }));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

export const PYTHON_CLIENT = join(ROOT, 'test', 'clients', 'python', 'run.py');

/**
 * A value as every client can be compared on: times (and dates) as epoch
 * milliseconds, 64-bit integers (quoted in ClickHouse's JSON) as numbers,
 * containers value by value. `type` is the engine's type of the column.
 */
export function normalise(value: unknown, type: string): unknown {
  if (value === null || value === undefined) return null;
  const inner = /^(?:Nullable|LowCardinality)\((.*)\)$/.exec(type);
  if (inner) return normalise(value, inner[1]);
  const array = /^Array\((.*)\)$/.exec(type);
  if (array) return (value as unknown[]).map((v) => normalise(v, array[1]));
  const map = /^Map\(([^,]+),\s*(.*)\)$/.exec(type);
  if (map) return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, normalise(v, map[2])]).sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)));
  if (/^(DateTime|Date)/.test(type)) {
    if (typeof value === 'number') return value;
    const text = String(value);
    return Date.parse(`${text.replace(' ', 'T')}${/^Date(32)?$/.test(type) ? 'T00:00:00' : ''}Z`);
  }
  if (/^(U?Int|Float|Decimal)/.test(type)) return Number(value);
  return value;
}

export const normaliseRows = (rows: unknown[][], types: string[]) => rows.map((row) => row.map((v, i) => normalise(v, types[i])));
