import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './kafka-helpers.ts';

/**
 * Real Prometheus and Alertmanager (Debian's prometheus and
 * prometheus-alertmanager packages) on free loopback ports, with their data
 * in the test's temp folder; and a webhook receiver that records what it is
 * sent.
 */
/** Installs the Debian packages when they are missing (scripts/prometheus.sh); call it before using any of them. */
export function ensurePrometheusTools(): void {
  execFileSync('bash', [join(import.meta.dirname, '..', 'scripts', 'prometheus.sh')], { stdio: 'inherit', timeout: 300_000 });
}

export interface Server {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

async function startBinary(binary: string, args: string[], url: string): Promise<Server> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${binary} exited: ${out.slice(-2000)}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${binary} did not become ready: ${out.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    output: () => out,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function startAlertmanager(dir: string, receiverUrl: string): Promise<Server> {
  const port = await freePort();
  writeFileSync(
    join(dir, 'alertmanager.yml'),
    stringify({
      route: { receiver: 'hook', group_by: ['alertname', 'model', 'feature', 'source'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
      receivers: [{ name: 'hook', webhook_configs: [{ url: receiverUrl, send_resolved: true }] }],
    }),
  );
  return startBinary(
    'prometheus-alertmanager',
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'alertmanager-data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // No HA mesh: it would bind another port on every interface.
      '--cluster.listen-address=',
    ],
    `http://127.0.0.1:${port}`,
  );
}

export async function startPrometheus(dir: string, options: { target: string; rulesFile: string; alertmanager: string; alsoScrape?: Record<string, string> }): Promise<Server> {
  const port = await freePort();
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s', external_labels: { source: 'prometheus' } },
      rule_files: [options.rulesFile],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [new URL(options.alertmanager).host] }] }] },
      scrape_configs: [
        { job_name: 'driftwatch', static_configs: [{ targets: [new URL(options.target).host] }] },
        // More jobs (job name: URL), e.g. a model server beside driftwatch.
        ...Object.entries(options.alsoScrape ?? {}).map(([job, url]) => ({ job_name: job, metrics_path: new URL(url).pathname, static_configs: [{ targets: [new URL(url).host] }] })),
      ],
    }),
  );
  return startBinary(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    `http://127.0.0.1:${port}`,
  );
}

/** Runs a PromQL instant query; throws with Prometheus's error when it fails. */
export async function promQuery(prometheus: string, query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { result: never[] } };
  if (body.status !== 'success') throw new Error(`PromQL failed: ${body.error} in ${query}`);
  return body.data!.result;
}

export interface Receiver {
  url: string;
  /** Bodies received, by path. */
  received: { path: string; body: any }[];
  /** Answers 503 to the next `n` requests. */
  failNext(n: number): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  let failures = 0;
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      if (failures > 0) {
        failures--;
        res.writeHead(503).end();
        return;
      }
      received.push({ path: req.url ?? '', body: JSON.parse(text) });
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    failNext: (n) => (failures = n),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
