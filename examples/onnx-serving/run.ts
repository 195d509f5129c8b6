// `npx tsx examples/onnx-serving/run.ts [--window 5s] [--max-windows 8] [--rate 200] [--keep-data]`:
// the whole path from an ONNX model to an alert, in one command. driftwatch
// (embedded store, in a temp folder) and the model server (server.ts) start;
// a traffic generator calls the model server, which logs every prediction
// through the SDK (labels follow 2 s later, a few requests fail); after two
// windows of reference traffic a baseline is frozen, then the generator
// shifts debt_ratio, and the run ends when driftwatch's FeatureDrift alert
// fires for it (exit 0) or after --max-windows drifted windows (exit 1).
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService, type Service } from '../../cli/service.ts';
import { parseConfig } from '../../core/config.ts';
import { parseDuration } from '../../core/duration.ts';
import { MODEL, startModelServer, type ModelServer } from './server.ts';

interface Row {
  features: Record<string, number | string>;
  default: number;
}
const TRAFFIC = JSON.parse(readFileSync(new URL('../../test/fixtures/shadow/traffic.json', import.meta.url), 'utf8')) as Row[];
const SHIFT = 0.4; // added to debt_ratio once the baseline is frozen
const FAILING_SHARE = 0.02; // requests sent without annual_income: the model server fails them

export interface ExampleOptions {
  windowMs: number;
  maxWindows: number;
  rate: number;
  log?: (line: string) => void;
  /** Called with both once they run, e.g. to point a Prometheus at them. */
  onStarted?: (parts: { service: Service; modelServer: ModelServer }) => Promise<void> | void;
}

export interface ExampleResult {
  fired: boolean;
  alert: { rule: string; subject: string; value: number } | null;
  predictions: number;
  failed: number;
  /** Latency quantiles of the model calls, from the stored events (ms). */
  latency: { p50: number; p95: number; p99: number; events: number };
  /** The error rate of the last analysed window, from its drift report. */
  errorRate: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runExample(options: ExampleOptions, dataDir: string): Promise<ExampleResult> {
  const log = options.log ?? (() => {});
  const service = await startService(
    parseConfig({ PORT: '0', DATA_DIR: dataDir, ANALYSIS_WINDOW: `${options.windowMs}ms`, ANALYSIS_GRACE: '1s', MIN_WINDOW_EVENTS: '100', PERFORMANCE_RECOMPUTE_WINDOWS: '1', INGEST_ACK: 'stored', LOG_LEVEL: 'warn' }),
    { logger: false },
  );
  const modelServer = await startModelServer({ driftwatchUrl: service.url });
  await options.onStarted?.({ service, modelServer });
  log(`driftwatch at ${service.url}, model server at ${modelServer.url} (model "${MODEL}")`);
  let shift = 0;
  let sent = 0;
  let failed = 0;
  let running = true;
  const labels: { at: number; id: string; label: number }[] = [];
  // The generator: `rate` requests a second in ticks of 50 ms, each labelled 2 s later.
  const traffic = (async () => {
    const perTick = Math.max(1, Math.round(options.rate / 20));
    while (running) {
      const started = Date.now();
      await Promise.all(
        Array.from({ length: perTick }, async () => {
          const i = sent++;
          const row = TRAFFIC[i % TRAFFIC.length];
          const features: Record<string, number | string> = { ...row.features, debt_ratio: Number(row.features.debt_ratio) + shift };
          if (Math.random() < FAILING_SHARE) delete features.annual_income;
          const id = `req-${i}`;
          const answer = await fetch(`${modelServer.url}/predict`, { method: 'POST', body: JSON.stringify({ event_id: id, features }) });
          await answer.arrayBuffer();
          if (answer.status === 200) labels.push({ at: Date.now() + 2_000, id, label: row.default });
          else failed++;
        }),
      );
      while (labels.length > 0 && labels[0].at <= Date.now()) {
        const l = labels.shift()!;
        modelServer.client.label(l.id, MODEL, l.label);
      }
      await sleep(Math.max(0, 50 - (Date.now() - started)));
    }
  })();

  try {
    const t0 = Date.now();
    await sleep(2 * options.windowMs + 500);
    const freeze = await fetch(`${service.url}/v1/models/${MODEL}/baselines`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: t0, to: Date.now() }),
    });
    if (freeze.status !== 201) throw new Error(`freezing the baseline: ${freeze.status} ${await freeze.text()}`);
    const baseline = (await freeze.json()) as { baseline_id: string; n_events: number };
    log(`baseline ${baseline.baseline_id.slice(0, 8)} frozen from ${baseline.n_events} events; shifting debt_ratio by +${SHIFT}`);
    shift = SHIFT;

    let alert: ExampleResult['alert'] = null;
    const deadline = Date.now() + (options.maxWindows + 1) * options.windowMs + 5_000;
    while (!alert && Date.now() < deadline) {
      await sleep(500);
      const answer = (await (await fetch(`${service.url}/v1/alerts?model=${MODEL}&status=firing`)).json()) as { active: { rule: string; subject: string; value: number; status: string }[] };
      const hit = answer.active.find((a) => a.rule === 'FeatureDrift' && a.subject === 'debt_ratio' && a.status === 'firing');
      if (hit) alert = { rule: hit.rule, subject: hit.subject, value: hit.value };
    }
    running = false;
    await traffic;
    await modelServer.client.flush(30_000);
    log(alert ? `ALERT ${alert.rule} fired for ${alert.subject} (value ${alert.value})` : 'no drift alert fired');

    const [q] = await service.sql.query<{ p50: number; p95: number; p99: number; events: number }>(
      `SELECT quantile(0.5)(latency_ms) AS p50, quantile(0.95)(latency_ms) AS p95, quantile(0.99)(latency_ms) AS p99, count() AS events
       FROM events FINAL WHERE model = {m:String}`,
      { m: MODEL },
    );
    const latency = { p50: Number(q.p50), p95: Number(q.p95), p99: Number(q.p99), events: Number(q.events) };
    const history = (await (await fetch(`${service.url}/v1/models/${MODEL}/drift/history?from=${t0}&to=${Date.now()}`)).json()) as { windows: { from: string; n_events: number; drifted_features: string[]; errors?: { rate: number | null } }[] };
    for (const w of [...history.windows].reverse()) log(`window ${w.from}: ${w.n_events} events, drifted: ${w.drifted_features.join(', ') || 'none'}, error rate ${w.errors?.rate?.toFixed(3)}`);
    const errorRate = history.windows[0]?.errors?.rate ?? null;
    log(`${sent} requests, ${failed} failed; latency from the events: p50 ${latency.p50.toFixed(3)} ms, p95 ${latency.p95.toFixed(3)} ms, p99 ${latency.p99.toFixed(3)} ms; last window's error rate ${errorRate}`);
    return { fired: alert !== null, alert, predictions: sent, failed, latency, errorRate };
  } finally {
    running = false;
    await traffic;
    await modelServer.close();
    await service.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, fallback: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i === -1 ? fallback : process.argv[i + 1];
  };
  const windowMs = parseDuration(arg('window', '5s'));
  if (windowMs === null || windowMs < 1_000) throw new Error('--window must be a duration of at least 1s, e.g. 5s');
  const dataDir = mkdtempSync(join(tmpdir(), 'driftwatch-onnx-example-'));
  const result = await runExample({ windowMs, maxWindows: Number(arg('max-windows', '8')), rate: Number(arg('rate', '200')), log: (l) => console.log(l) }, dataDir);
  if (!process.argv.includes('--keep-data')) rmSync(dataDir, { recursive: true, force: true });
  else console.log(`data kept in ${dataDir}`);
  process.exit(result.fired ? 0 : 1);
}
