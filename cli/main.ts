import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { clickhouseTarget, dashboardFiles } from '../grafana/dashboards.ts';
import { prometheusRules } from '../alerts/prometheus.ts';
import { loadRules, RulesError } from '../alerts/rules.ts';
import { KeysError } from '../api/keys.ts';
import { ConfigError, parseConfig } from '../core/config.ts';
import { parseArgs, UsageError } from './args.ts';
import { IMPORT_FLAGS, ImportFailed, runImport } from './import.ts';
import { runBackfill } from './backfill.ts';
import { demoSucceeded, runDemo } from './demo/run.ts';
import { runReport } from './report.ts';
import { settingsReport } from './settings.ts';
import { StartError, startService } from './service.ts';

const HELP = `driftwatch: monitoring and drift detection for machine-learning models

Usage: driftwatch <command> [options]

Commands:
  serve           Run the service: HTTP API, scheduled analysis, /metrics (npm start)
  demo            Run the service on a fresh embedded store with a generated credit-risk
                  model whose features drift on cue, and print each window's drift table
  rules           Write the alert rules (ALERT_RULES_FILE, or the defaults) as a Prometheus
                  alerting-rule file, for Prometheus to evaluate (stdout, or --out FILE)
  backfill        Ask a running service to analyse a past range of a model, window by window,
                  and print which windows drifted (driftwatch backfill --help)
  dashboards      Write the Grafana dashboards and provisioning files (--out DIR, default grafana);
                  the ClickHouse data source points at --clickhouse-host H, --clickhouse-port N,
                  --clickhouse-protocol http|native, --clickhouse-tls true|false, defaults: this
                  store's ClickHouse HTTP interface (CLICKHOUSE_HTTP_PORT, else 8123), or the
                  CLICKHOUSE_URL server; --prometheus-url URL (default http://localhost:9090)
  import PATH     Import past events from a Parquet, CSV or NDJSON file into a running service
                  (--url URL --model M): sends the file, prints progress and a summary
  report          Fetch a self-contained HTML drift report from a running service:
                  --url URL --model M [--from T] [--to T] [--baseline ID] [--out FILE]
                  (defaults: the last window, the active baseline, driftwatch-M.html);
                  a key, when the service needs one, from DRIFTWATCH_API_KEY
  config          Print every setting with its default and its current value here (from the
                  environment and flags; secrets masked), then check them: exit 2 if one is bad
  help            Show this text

Demo options:
  --duration S    Stop after S seconds (default: run until Ctrl-C); at least 41 with the
                  demo's 10s window (a shorter run is refused, naming its minimum)
  --keep-data     Keep the demo's store at the end (default: a temp folder, removed)
  --rate N        Events per second to send (default 2000)
  --kafka-brokers H:P  Send the traffic through Kafka (topics of its own, deleted at the
                  end) for the service to consume, instead of over HTTP

Import options (docs/import.md):
  --url URL       The running service (e.g. http://127.0.0.1:8080)
  --model M       The model the events belong to
  --format F      parquet|csv|ndjson (default: from the extension; .gz, .zst compressed too)
  --api-key K     A key with the admin scope (or DRIFTWATCH_API_KEY)
  --id-column C, --timestamp-column C (default timestamp), --prediction-column C (default
  prediction), --label-column C, --latency-column C, --model-version-column C,
  --score-columns A,B, --tag-columns A,B, --feature-columns A,B (default: every other column)

Options (each also an environment variable of the same name, e.g. --data-dir = DATA_DIR):
  --port N                    HTTP port (default 8080; the demo picks a free one)
  --host H                    Address to listen on (default 127.0.0.1)
  --data-dir DIR              Embedded store folder (default ./data; the demo: a temp folder)
  --clickhouse-url URL        Use a ClickHouse server instead of the embedded store
  --clickhouse-user U         (default "default")
  --clickhouse-password P
  --clickhouse-database DB    (default driftwatch)
  --analysis-window D         Tumbling analysis window, e.g. 30s, 5m, 1h (default 5m; demo 10s)
  --analysis-grace D          Wait after a window closes before analysing it (default 10s; demo 1s)
  --analysis-enabled B        true|false: run the scheduled analysis (default true)
  --api-keys K1,K2            Require Authorization: Bearer <key> on every /v1 route; these keys
                              have every scope (a key may be sha256:<hex digest>)
  --api-keys-file F           Keys with scopes and models, YAML or JSON (docs/security.md)
  --metrics-docs-access A     read|open: whether /metrics and /docs/json need a read key when
                              keys are configured (default read)
  --body-limit-bytes N        Largest request body (default 8388608)
  --ingest-ack A              journaled: answer writes once in the local write-ahead journal
                              (stored within 200ms) | stored: once stored (default: journaled
                              with the embedded store, stored with a ClickHouse server)
  --kafka-brokers H:P,...     Also consume events and labels from Kafka
  --max-features-per-event N  (default 1000)
  --max-event-age D           Refuse older events (default 400d)
  --max-future-skew D         Refuse events further ahead (default 1h)
  --psi-bins N                Quantile bins per numeric feature (default 10)
  --drift-threshold-mode M    calibrated (default: beyond noise at the window's size and at least
                              --psi-min-effect) | fixed (PSI at or above --psi-threshold)
  --drift-alpha X             Chance that noise alone crosses a calibrated threshold (default 0.001)
  --psi-min-effect X          Smallest PSI that counts as drift when calibrated (default 0.005)
  --psi-threshold X           PSI at or above which a feature drifted in fixed mode (default 0.2)
  --min-window-events N       Fewer events than this: no verdict (default 100)
  --baseline-sample-max N     Values kept per feature for KS (default 1000000)
  --max-categories N          Categories kept per feature (default 1000)
  --metrics-max-features N    Per-feature series per model in /metrics (default 200)
  --analysis-max-concurrent N Analysis requests answered at once; more get 503 (default 2)
  --analysis-timeout D        Engine time limit of one analysis request (default 30s)
  --http-headers-timeout D    Time a client may take to send its headers (default 10s)
  --http-request-timeout D    ... and its whole request (default 60s)
  --log-level L               fatal|error|warn|info|debug|trace|silent (default info)
  --alert-rules-file F        Alert rules YAML (default: the shipped alerts/default-rules.yaml)
  --alertmanager-url URL      Post firing and resolved alerts to this Alertmanager
  --alert-resend-interval D   Re-post firing alerts this often (default 1m)
  --shadow-sample-share X     Share of events shadow models re-score (default 0.1)
  --shadow-model-dir DIR      Folder model_path registrations may read from (default ./models)
  (these are the common ones: "driftwatch config" lists every setting with its default)
`;

async function serve(config: ReturnType<typeof parseConfig>): Promise<void> {
  const service = await startService(config);
  const where = config.CLICKHOUSE_URL ? `ClickHouse server ${config.CLICKHOUSE_URL}` : `embedded store in ${config.DATA_DIR}`;
  service.app.log.info(`driftwatch listening on ${service.url} (${where})`);
  const shutdown = async (signal: string) => {
    service.app.log.info(`${signal}: shutting down`);
    const timer = setTimeout(() => {
      process.stderr.write('driftwatch: did not stop within 10s; what the journal holds is stored at the next start\n');
      process.exit(1);
    }, 10_000);
    timer.unref();
    try {
      await service.close();
    } catch (err) {
      // One line, not a stack: what went wrong is the operator's to fix (a full disk, most likely).
      process.stderr.write(`driftwatch: stopping failed: ${(err as Error).message.split('\n')[0]}; what the journal holds is stored at the next start\n`);
      process.exit(1);
    }
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

async function backfill(argv: readonly string[]): Promise<number> {
  // Ctrl-C cancels the job on the service; a second one exits at once.
  const stop = new AbortController();
  process.once('SIGINT', () => {
    stop.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  return runBackfill(argv, { env: process.env, out: process.stdout, err: process.stderr, signal: stop.signal });
}

/** The data source flags of `driftwatch dashboards`, checked. */
function dashboardTargetFlags(extra: Record<string, string>) {
  const port = extra['clickhouse-port'];
  if (port !== undefined && !(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65_535)) throw new UsageError(`--clickhouse-port: expected a port 1-65535, got "${port}"`);
  const protocol = extra['clickhouse-protocol'];
  if (protocol !== undefined && protocol !== 'http' && protocol !== 'native') throw new UsageError(`--clickhouse-protocol: expected http or native, got "${protocol}"`);
  const tls = extra['clickhouse-tls'];
  if (tls !== undefined && tls !== 'true' && tls !== 'false') throw new UsageError(`--clickhouse-tls: expected true or false, got "${tls}"`);
  return { host: extra['clickhouse-host'], port: port === undefined ? undefined : Number(port), protocol, tls: tls === undefined ? undefined : tls === 'true' } as const;
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'backfill') return backfill(argv.slice(1));
  let args;
  try {
    args = parseArgs(argv, ['duration', 'rate', 'out', 'clickhouse-host', 'clickhouse-port', 'clickhouse-protocol', 'clickhouse-tls', 'prometheus-url', ...IMPORT_FLAGS, 'from', 'to', 'baseline'], ['keep-data'], 1);
    if (args.command !== 'import' && args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`driftwatch: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  if (args.help || args.command === undefined || args.command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  try {
    if (args.command === 'serve') {
      await serve(parseConfig({ ...process.env, ...args.config }));
      return -1; // keeps running
    }
    if (args.command === 'rules') {
      const config = parseConfig({ ...process.env, ...args.config });
      const text = prometheusRules(loadRules(config.ALERT_RULES_FILE), config.ANALYSIS_WINDOW);
      if (args.extra.out) writeFileSync(args.extra.out, text);
      else process.stdout.write(text);
      return 0;
    }
    if (args.command === 'config') {
      const report = settingsReport(process.env, args.config);
      process.stdout.write(report.text);
      if (report.problems) process.stderr.write(`driftwatch: ${report.problems}\n`);
      return report.problems ? 2 : 0;
    }
    if (args.command === 'dashboards') {
      const out = args.extra.out ?? 'grafana';
      const config = parseConfig({ ...process.env, ...args.config });
      const target = clickhouseTarget(config, dashboardTargetFlags(args.extra));
      for (const [file, text] of Object.entries(dashboardFiles(target, args.extra['prometheus-url']))) {
        mkdirSync(dirname(join(out, file)), { recursive: true });
        writeFileSync(join(out, file), text);
        process.stdout.write(`wrote ${join(out, file)}\n`);
      }
      return 0;
    }
    if (args.command === 'import') {
      const stop = new AbortController();
      // Ctrl-C cancels the job on the service and waits for it to say so; a second one exits at once.
      process.once('SIGINT', () => {
        stop.abort();
        process.once('SIGINT', () => process.exit(130));
      });
      return (await runImport({ path: args.positionals[0], extra: args.extra, env: process.env, out: process.stdout, signal: stop.signal })) ? 0 : 1;
    }
    if (args.command === 'report') return await runReport({ extra: args.extra, env: process.env, out: process.stdout });
    if (args.command === 'demo') {
      // Ctrl-C ends the demo cleanly (summary printed, store closed); a second one exits at once.
      const stop = new AbortController();
      process.once('SIGINT', () => {
        stop.abort();
        process.once('SIGINT', () => process.exit(130));
      });
      const outcome = await runDemo({ env: process.env, flags: args.config, extra: args.extra, out: process.stdout, signal: stop.signal });
      return demoSucceeded(outcome) ? 0 : 1;
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError || err instanceof RulesError || err instanceof KeysError) {
      process.stderr.write(`driftwatch: ${err.message}\n`);
      return 2;
    }
    if (err instanceof StartError || err instanceof ImportFailed) {
      process.stderr.write(`driftwatch: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  process.stderr.write(`driftwatch: unknown command "${args.command}"\n\n${HELP}`);
  return 2;
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
