import { z } from 'zod';
import { parseDuration } from './duration.ts';

/**
 * All runtime settings, parsed once at start-up from the environment (and
 * command-line flags, which win). Every setting has an explicit default here
 * and nowhere else; a bad value stops start-up with a message naming it.
 */
const toMs = (text: string, ctx: z.RefinementCtx) => {
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like 30s, 5m or 1h, got "${text}"` });
    return z.NEVER;
  }
  return ms;
};
const duration = (fallback: string) => z.string().default(fallback).transform(toMs);

/** A duration with no default: unset means "never" (kept forever). At least a second: the engine's TTL counts seconds. */
const optionalDuration = () =>
  z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      const ms = parseDuration(text);
      if (ms === null || ms < 1_000) {
        ctx.addIssue({ code: 'custom', message: `expected a duration of at least 1s like 90d or 12h, or unset to keep forever; got "${text}"` });
        return z.NEVER;
      }
      return ms;
    });

const integer = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

// Kafka's own rule for topic names.
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const topicList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const topics = text.split(',').map((t) => t.trim()).filter(Boolean);
      const bad = topics.filter((t) => !TOPIC.test(t));
      if (topics.length === 0 || bad.length > 0) {
        ctx.addIssue({ code: 'custom', message: `expected Kafka topic names (1-249 of A-Z a-z 0-9 . _ -), comma-separated; got "${text}"` });
        return z.NEVER;
      }
      return [...new Set(topics)];
    });

const ConfigFields = z.object({
  PORT: integer(8080, 0, 65_535),
  // Loopback by default: exposing the API to a network is a deliberate choice.
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  CLICKHOUSE_URL: z.url().optional(),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a plain identifier').default('driftwatch'),
  ANALYSIS_WINDOW: duration('5m'),
  // How long after a window closes before it is analysed, so in-flight events land first.
  ANALYSIS_GRACE: duration('10s'),
  // Labels arrive late: each run also recomputes the performance of this many earlier windows.
  PERFORMANCE_RECOMPUTE_WINDOWS: integer(12, 0, 10_000),
  ANALYSIS_ENABLED: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  API_KEYS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean)),
  BODY_LIMIT_BYTES: integer(8 * 1024 * 1024, 1024, 512 * 1024 * 1024),
  MAX_FEATURES_PER_EVENT: integer(1_000, 1, 100_000),
  // Group commit: rows per store insert at most, and rows allowed to wait before ingest answers 503.
  INGEST_MAX_BATCH_ROWS: integer(100_000, 1, 10_000_000),
  INGEST_MAX_PENDING_ROWS: integer(500_000, 1, 100_000_000),
  // Worker threads that parse, validate and encode request bodies; 0 does it on the event loop.
  INGEST_WORKERS: integer(1, 0, 64),
  // When POST /v1/events and /v1/labels answer: once the rows are stored
  // (stored), or once they are in the local journal, stored within
  // INGEST_FLUSH_INTERVAL in inserts of up to INGEST_FLUSH_ROWS (journaled).
  // Unset, it follows the store (see ingestAckFor).
  INGEST_ACK: z.enum(['stored', 'journaled']).optional(),
  INGEST_FLUSH_ROWS: integer(100_000, 1, 10_000_000),
  INGEST_FLUSH_INTERVAL: duration('200ms'),
  // Journal folder; empty means DATA_DIR/journal.
  INGEST_JOURNAL_DIR: z.string().default(''),
  // Events older than this or further in the future than MAX_FUTURE_SKEW are refused.
  MAX_EVENT_AGE: duration('400d'),
  MAX_FUTURE_SKEW: duration('1h'),
  // Kafka ingest runs when KAFKA_BROKERS (comma-separated host:port) is set.
  KAFKA_BROKERS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((b) => b.trim()).filter(Boolean)),
  // One topic or several, comma-separated (a topic per model or per team is common).
  KAFKA_EVENTS_TOPIC: topicList('driftwatch.events'),
  KAFKA_LABELS_TOPIC: topicList('driftwatch.labels'),
  KAFKA_DLQ_TOPIC: z.string().regex(TOPIC, 'expected a Kafka topic name: 1-249 of A-Z a-z 0-9 . _ -').default('driftwatch.events.dlq'),
  KAFKA_GROUP_ID: z.string().min(1).default('driftwatch'),
  KAFKA_CLIENT_ID: z.string().min(1).default('driftwatch'),
  KAFKA_MAX_MESSAGE_BYTES: integer(1024 * 1024, 1024, 64 * 1024 * 1024),
  KAFKA_MAX_BYTES_PER_PARTITION: integer(4 * 1024 * 1024, 64 * 1024, 256 * 1024 * 1024),
  KAFKA_PARTITIONS_CONCURRENTLY: integer(4, 1, 256),
  KAFKA_TOPIC_PARTITIONS: integer(6, 1, 1024),
  // Rows from Kafka are stored in flushes of this many rows, or sooner once
  // the oldest has waited KAFKA_FLUSH_INTERVAL; offsets are committed after.
  KAFKA_FLUSH_ROWS: integer(100_000, 1, 10_000_000),
  KAFKA_FLUSH_INTERVAL: duration('500ms'),
  // How soon the group notices a dead consumer (broker minimum: 6s) and hands its partitions on.
  KAFKA_SESSION_TIMEOUT: duration('30s'),
  // TLS to the brokers, verified against the system's CAs or KAFKA_SSL_CA_FILE (PEM).
  KAFKA_SSL: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  KAFKA_SSL_CA_FILE: z.string().min(1).optional(),
  // A client certificate and its key (PEM) for brokers that require one (mutual TLS).
  KAFKA_SSL_CERT_FILE: z.string().min(1).optional(),
  KAFKA_SSL_KEY_FILE: z.string().min(1).optional(),
  // SASL authentication; the password travels in clear without KAFKA_SSL with plain.
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  PSI_BINS: integer(10, 2, 100),
  // How a feature's PSI is judged: "calibrated" to the window's size (beyond what noise gives with
  // probability DRIFT_ALPHA, and at least PSI_MIN_EFFECT), or "fixed" at PSI_THRESHOLD.
  DRIFT_THRESHOLD_MODE: z.enum(['calibrated', 'fixed']).default('calibrated'),
  DRIFT_ALPHA: z.coerce.number().gt(0).lt(0.5).default(0.001),
  PSI_MIN_EFFECT: z.coerce.number().min(0).default(0.005),
  PSI_THRESHOLD: z.coerce.number().positive().default(0.2),
  DATASET_DRIFT_SHARE: z.coerce.number().gt(0).max(1).default(0.5),
  MIN_WINDOW_EVENTS: integer(100, 1, 1_000_000_000),
  BASELINE_SAMPLE_MAX: integer(1_000_000, 1_000, 100_000_000),
  MAX_CATEGORIES: integer(1_000, 2, 100_000),
  // Segment baselines frozen per tag (the most frequent values), e.g. with segment_by=region.
  MAX_SEGMENTS: integer(20, 1, 1_000),
  METRICS_MAX_FEATURES: integer(200, 1, 10_000),
  // Shadow re-scoring (analyzers/shadow): share of events re-scored unless a registration says,
  // how often the live pass runs (0s: only before each window's report), rows per onnxruntime run.
  SHADOW_SAMPLE_SHARE: z.coerce.number().min(0).max(1).default(0.1),
  SHADOW_INTERVAL: duration('10s'),
  SHADOW_BATCH_ROWS: integer(1_024, 1, 1_000_000),
  SHADOW_THREADS: integer(1, 1, 64),
  // model_path registrations may only name files under this folder.
  SHADOW_MODEL_DIR: z.string().min(1).default('./models'),
  SHADOW_MAX_MODEL_BYTES: integer(64 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  SHADOW_MAX_PER_MODEL: integer(5, 1, 100),
  // A challenger's prediction drift is measured against at most this many baseline-period events.
  SHADOW_REFERENCE_MAX_ROWS: integer(50_000, 100, 100_000_000),
  // Alerting (alerts/): rules file (the shipped defaults without one), Alertmanager to post to,
  // how often firing alerts are re-posted, and per-rule webhook retries.
  ALERT_RULES_FILE: z.string().min(1).optional(),
  ALERTMANAGER_URL: z.url().optional(),
  ALERT_RESEND_INTERVAL: duration('1m'),
  ALERT_WEBHOOK_MAX_ATTEMPTS: integer(8, 1, 100),
  // Access (api/access.ts, docs/security.md): API keys with scopes (ingest,
  // read, admin) and model patterns, from a YAML or JSON file (API_KEYS holds
  // keys with every scope); and whether /metrics and /docs/json need a read
  // key for every model when keys are configured (read) or stay open (open).
  API_KEYS_FILE: z.string().min(1).optional(),
  METRICS_DOCS_ACCESS: z.enum(['read', 'open']).default('read'),
  // Durability and a full disk (docs/operations.md): writes are refused with 503, /readyz is not
  // ready and start-up stops while the disk of DATA_DIR (or the journal) has less than this free;
  // the embedded engine itself refuses inserts below half of it.
  DISK_MIN_FREE_BYTES: integer(512 * 1024 * 1024, 1024 * 1024, Number.MAX_SAFE_INTEGER),
  // How often the free space is measured (between measurements, bytes written are counted as used).
  DISK_CHECK_INTERVAL: duration('1s'),
  // Bounded queries and slow clients (docs/limits.md): analysis requests answered at once (more are
  // refused with 503 and Retry-After) and the engine time limit of one request's statements together;
  // how long a client may take to send its request headers, and its whole request (body included).
  ANALYSIS_MAX_CONCURRENT: integer(2, 1, 1_000),
  ANALYSIS_TIMEOUT: duration('30s'),
  HTTP_HEADERS_TIMEOUT: duration('10s'),
  HTTP_REQUEST_TIMEOUT: duration('60s'),
  // Import of past logs (import/, docs/import.md): the folder server-side paths must be under (unset:
  // the route refuses paths; uploads and URLs still work), credentials for s3:// URLs, rows judged and
  // stored per statement (the unit of progress and cancel), the largest upload, imports at once.
  IMPORT_DIR: z.string().min(1).optional(),
  IMPORT_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  IMPORT_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  IMPORT_CHUNK_ROWS: integer(1_000_000, 1_000, 100_000_000),
  IMPORT_MAX_UPLOAD_BYTES: integer(16 * 1024 * 1024 * 1024, 1024, Number.MAX_SAFE_INTEGER),
  IMPORT_MAX_RUNNING: integer(2, 1, 64),
  // Backfill and late events (analyzers/backfill.ts, docs/backfill.md): the most analysis windows
  // one backfill (POST /v1/models/{model}/analyze) may cover; how recently a window must have
  // closed for a backfill's alert transitions in it to be notified (unset: one ANALYSIS_WINDOW plus
  // ANALYSIS_GRACE); and the share of an analysed window's events that arrived after its analysis
  // for the scheduler to analyse it again, looking back this many windows (0: never).
  BACKFILL_MAX_WINDOWS: integer(10_000, 1, 1_000_000),
  ALERT_NOTIFY_MAX_AGE: z
    .string()
    .optional()
    .transform((text, ctx) => (text === undefined ? undefined : toMs(text, ctx))),
  LATE_REANALYZE_SHARE: z.coerce.number().gt(0).max(1).default(0.05),
  LATE_REANALYZE_WINDOWS: integer(12, 0, 10_000),
  // Data lifetime (docs/operations.md#data-lifetime): how long rows are kept, enforced by the
  // engine's TTL and applied at every start; unset keeps them forever. Events, labels and shadow
  // predictions by their timestamp; drift, performance and shadow results and alert history by
  // the end of their window.
  RETENTION_EVENTS: optionalDuration(),
  RETENTION_RESULTS: optionalDuration(),
  RETENTION_ALERTS: optionalDuration(),
  // Rolling baselines (docs/baselines.md): longest the refreeze scheduler sleeps between looks at the policies.
  ROLLING_POLL_INTERVAL: duration('30s'),
  // ClickHouse HTTP interface over the embedded store (clickhouse-http/, docs/grafana.md): off
  // unless a port is set (0: any free one); read-only, enforced by the engine. Host: HOST unless
  // set; a non-loopback host needs API keys. Limits of one statement (engine time, result rows
  // and bytes, memory, threads), read-only connections running statements at once, statements
  // waiting beyond those (more are refused), and the longest request body. NICE: the CPU priority
  // (os_thread_priority) of the threads running its statements, 0 (as ingest) to 19 (the lowest);
  // the engine applies it only with CAP_SYS_NICE, and start-up warns without it.
  CLICKHOUSE_HTTP_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  CLICKHOUSE_HTTP_HOST: z.string().min(1).optional(),
  CLICKHOUSE_HTTP_TIMEOUT: duration('30s'),
  CLICKHOUSE_HTTP_MAX_RESULT_ROWS: integer(1_000_000, 1, Number.MAX_SAFE_INTEGER),
  CLICKHOUSE_HTTP_MAX_RESULT_BYTES: integer(256 * 1024 * 1024, 1024, Number.MAX_SAFE_INTEGER),
  CLICKHOUSE_HTTP_MAX_MEMORY_BYTES: integer(1024 * 1024 * 1024, 16 * 1024 * 1024, Number.MAX_SAFE_INTEGER),
  CLICKHOUSE_HTTP_MAX_THREADS: integer(1, 1, 256),
  CLICKHOUSE_HTTP_CONNECTIONS: integer(1, 1, 16),
  CLICKHOUSE_HTTP_MAX_QUEUED: integer(32, 0, 10_000),
  CLICKHOUSE_HTTP_BODY_LIMIT_BYTES: integer(1024 * 1024, 1024, 64 * 1024 * 1024),
  CLICKHOUSE_HTTP_NICE: integer(19, 0, 19),
  // Failed predictions (issue 20, docs/sdk.md): events with status "error" count in each window's
  // error rate; drift, performance and baselines leave them out unless this is true.
  ANALYSIS_INCLUDE_FAILED: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  // Multivariate drift and data-quality verdicts (issue 19 items 2 and 4, docs/statistics.md): the
  // PCA frozen with a baseline is fitted on up to MULTIVARIATE_SAMPLE_MAX reference events over at
  // most MULTIVARIATE_MAX_FEATURES numeric features (the most often present), keeping the axes that
  // explain more than MULTIVARIATE_VARIANCE of the variance; a window's error is computed on up to
  // MULTIVARIATE_WINDOW_SAMPLE_MAX of its events and counts only beyond MULTIVARIATE_MIN_EFFECT (a
  // relative change of the reference error). A data-quality share counts as drifted only when it
  // exceeds the baseline's by at least QUALITY_MIN_EFFECT (absolute), besides being significant.
  MULTIVARIATE_SAMPLE_MAX: integer(20_000, 100, 1_000_000),
  MULTIVARIATE_MAX_FEATURES: integer(100, 2, 1_000),
  MULTIVARIATE_VARIANCE: z.coerce.number().gt(0).lt(1).default(0.65),
  MULTIVARIATE_WINDOW_SAMPLE_MAX: integer(50_000, 100, 100_000_000),
  MULTIVARIATE_MIN_EFFECT: z.coerce.number().min(0).max(10).default(0.02),
  QUALITY_MIN_EFFECT: z.coerce.number().min(0).max(1).default(0.01),
  // Drift impact (issue 19 item 3, docs/statistics.md#drift-impact): baseline events each
  // feature's impact is measured on, once per baseline (permutation through the reference ONNX
  // model, else association with the logged prediction); 0 turns impact off.
  IMPACT_SAMPLE_ROWS: integer(2000, 0, 1_000_000),
  // Analysis memory ceiling (issue 22, docs/limits.md): the engine's max_memory_usage for every
  // analysis statement (drift, baselines, history, the scheduler's windows); past it the statement
  // fails with DW_ANALYSIS_MEMORY (503) instead of the process being killed.
  ANALYSIS_MAX_MEMORY_BYTES: integer(4 * 1024 * 1024 * 1024, 1024 * 1024, Number.MAX_SAFE_INTEGER),
  // Pre-aggregates (issue 22, docs/preaggregates.md): per-minute and per-hour
  // bin counts the engine maintains at insert, read by the scheduler and
  // GET /drift/series. Off by default: with a registered baseline the engine's insert took about
  // 4x as long (busy machine, 200k x 20 features), a cost ingest should not pay unasked.
  PREAGGREGATES: z.enum(['on', 'off']).default('off'),
  PREAGG_BACKFILL: duration('30d'),
  SERIES_MAX_CELLS: integer(200_000, 1, 10_000_000),
  SERIES_RAW_MAX_STEPS: integer(48, 0, 100_000),
  KS_WINDOW_SAMPLE_MAX: integer(200_000, 1_000, 1_000_000_000),
  // Many models (issue 22 item 5, docs/preaggregates.md#many-models-and-overruns): the most one
  // model's analysis of one window may take, its statements together, before it fails alone and
  // the scheduler goes on with the next model (unset: one ANALYSIS_WINDOW, at least 5m).
  ANALYSIS_MODEL_TIMEOUT: z
    .string()
    .optional()
    .transform((text, ctx) => (text === undefined ? undefined : toMs(text, ctx))),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/**
 * INGEST_ACK's default depends on the store. With the embedded one the
 * journal sits in DATA_DIR beside the data, so answering from it adds no
 * disk that could be lost, and it is synced (fdatasync) where the engine's
 * parts are not: journaled is as durable, answers in half the time, and
 * stores 1.3-1.9x the events a second (docs/benchmarks.md). With a
 * ClickHouse server the service's own disk would become part of durability,
 * which a stateless deployment does not have: there it answers once stored.
 */
export function ingestAckFor(config: { INGEST_ACK?: 'stored' | 'journaled'; CLICKHOUSE_URL?: string }): 'stored' | 'journaled' {
  return config.INGEST_ACK ?? (config.CLICKHOUSE_URL ? 'stored' : 'journaled');
}

const ConfigSchema = ConfigFields.superRefine((fields, ctx) => {
  const problem = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });
  for (const key of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] as const) {
    if (fields[key] && !fields.KAFKA_SSL) problem(key, 'set KAFKA_SSL=true as well: it is only used for TLS');
  }
  if (Boolean(fields.KAFKA_SSL_CERT_FILE) !== Boolean(fields.KAFKA_SSL_KEY_FILE)) {
    problem(fields.KAFKA_SSL_CERT_FILE ? 'KAFKA_SSL_KEY_FILE' : 'KAFKA_SSL_CERT_FILE', 'a client certificate needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE');
  }
  const both = fields.KAFKA_EVENTS_TOPIC.filter((t) => fields.KAFKA_LABELS_TOPIC.includes(t) || t === fields.KAFKA_DLQ_TOPIC);
  if (both.length > 0) problem('KAFKA_EVENTS_TOPIC', `${both.join(', ')} also named as a labels or dead-letter topic`);
  if (fields.CLICKHOUSE_HTTP_PORT !== undefined && fields.CLICKHOUSE_URL) {
    problem('CLICKHOUSE_HTTP_PORT', 'serves the embedded store only: with CLICKHOUSE_URL, point clients at that server (its own HTTP interface)');
  }
  if (fields.HTTP_HEADERS_TIMEOUT > fields.HTTP_REQUEST_TIMEOUT) problem('HTTP_HEADERS_TIMEOUT', 'must not exceed HTTP_REQUEST_TIMEOUT: the headers are part of the request');
  if (fields.KAFKA_LABELS_TOPIC.includes(fields.KAFKA_DLQ_TOPIC)) problem('KAFKA_LABELS_TOPIC', `${fields.KAFKA_DLQ_TOPIC} is also the dead-letter topic`);
  if (fields.KAFKA_SASL_MECHANISM) {
    if (!fields.KAFKA_SASL_USERNAME) problem('KAFKA_SASL_USERNAME', `required with KAFKA_SASL_MECHANISM=${fields.KAFKA_SASL_MECHANISM}`);
    if (!fields.KAFKA_SASL_PASSWORD) problem('KAFKA_SASL_PASSWORD', `required with KAFKA_SASL_MECHANISM=${fields.KAFKA_SASL_MECHANISM}`);
  } else if (fields.KAFKA_SASL_USERNAME || fields.KAFKA_SASL_PASSWORD) {
    problem('KAFKA_SASL_MECHANISM', 'required when a SASL username or password is set: plain, scram-sha-256 or scram-sha-512');
  }
}).transform((fields) => ({
  ...fields,
  INGEST_ACK: ingestAckFor(fields),
  ALERT_NOTIFY_MAX_AGE: fields.ALERT_NOTIFY_MAX_AGE ?? fields.ANALYSIS_WINDOW + fields.ANALYSIS_GRACE,
  ANALYSIS_MODEL_TIMEOUT: fields.ANALYSIS_MODEL_TIMEOUT ?? Math.max(fields.ANALYSIS_WINDOW, 5 * 60_000),
}));

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = Partial<Record<keyof z.input<typeof ConfigFields>, string>>;
export const CONFIG_KEYS = Object.keys(ConfigFields.shape) as (keyof Config)[];
/** Each setting's schema, for `driftwatch config` to read defaults from (they live here only). */
export const CONFIG_FIELDS = ConfigFields.shape;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Builds the config from an environment-like record; throws ConfigError naming each bad key. */
export function parseConfig(source: Record<string, string | undefined>): Config {
  const picked: Record<string, string> = {};
  for (const key of CONFIG_KEYS) {
    const value = source[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const result = ConfigSchema.safeParse(picked);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return result.data;
}

/** Flag name for a config key: DATA_DIR -> --data-dir. */
export const flagFor = (key: string) => `--${key.toLowerCase().replace(/_/g, '-')}`;
