import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { AlertEngine } from '../alerts/engine.ts';
import { AlertmanagerClient, WebhookSender } from '../alerts/notify.ts';
import { loadRules } from '../alerts/rules.ts';
import { loadKeys } from '../api/keys.ts';
import { AnalysisScheduler } from '../analyzers/scheduler.ts';
import { Backfill } from '../analyzers/backfill.ts';
import { RollingBaselines } from '../analyzers/rolling.ts';
import { ShadowAnalyzer } from '../analyzers/shadow/analyze.ts';
import { ShadowScorer } from '../analyzers/shadow/scorer.ts';
import { buildApp } from '../api/app.ts';
import { exposureProblem, startChHttp, type ChHttp } from '../clickhouse-http/index.ts';
import { QueryGate } from '../api/query-gate.ts';
import type { Config } from '../core/config.ts';
import { DiskGuard, diskShortage, isDiskFull, type WatchedDir } from '../core/disk.ts';
import { tuneHeapForIngest } from '../core/heap.ts';
import { createMetrics, type Metrics } from '../core/metrics.ts';
import { settleWithin } from '../core/within.ts';
import { startKafkaIngest, type KafkaIngest, type KafkaIngestOptions } from '../ingest/kafka/kafkajs.ts';
import { kafkaSecurity } from '../ingest/kafka/security.ts';
import { createPreparer } from '../ingest/preparer.ts';
import { guardWriters } from '../ingest/guarded.ts';
import { openJournaled, type JournaledWriters } from '../ingest/journaled.ts';
import { createWriters, flushWriters } from '../ingest/writers.ts';
import { reportDetachedParts } from '../store/detached.ts';
import { mergeSwitch } from '../store/merges.ts';
import { StoreOpenError } from '../store/errors.ts';
import { Jobs } from '../jobs/registry.ts';
import { Preaggregates } from '../analyzers/preaggregates.ts';
import { Importer } from '../import/run.ts';
import { EVENT_COLUMN_LAYOUTS } from '../store/events.ts';
import { withMemoryCeiling } from '../store/memory-ceiling.ts';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';

export interface Service {
  app: FastifyInstance;
  sql: Sql;
  metrics: Metrics;
  scheduler: AnalysisScheduler;
  /** Refreezes rolling baselines (docs/baselines.md). */
  rolling: RollingBaselines;
  shadow: { scorer: ShadowScorer; analyzer: ShadowAnalyzer };
  alerts: AlertEngine;
  /** Imports and backfills started over the API. */
  jobs: Jobs;
  /** The insert-time pre-aggregates the scheduler and GET /drift/series read (docs/preaggregates.md). */
  preaggregates: Preaggregates;
  kafka: KafkaIngest | null;
  /** The read-only ClickHouse HTTP interface (CLICKHOUSE_HTTP_PORT), or null when off. */
  clickhouseHttp: ChHttp | null;
  /** Base URL the API listens on, e.g. http://127.0.0.1:8080. */
  url: string;
  close(): Promise<void>;
}

/** A part of the service that could not start for a reason outside it (a broker refusing its credentials): said in one line, no stack. */
export class StartError extends Error {
  override name = 'StartError';
}

/** The composition root: opens the store, builds the API and the scheduler from config, and starts them. */
export interface ServiceOptions {
  logger?: boolean | object;
  /** Wraps the store, e.g. to inject faults in tests. */
  wrapSql?: (sql: Sql) => Sql;
  /** Opens the Kafka client's connections, e.g. to inject faults in tests. */
  kafkaSocketFactory?: KafkaIngestOptions['socketFactory'];
}

/** Longest a read (a model route, an analysed window) waits for acknowledged rows to be stored. */
const READ_SETTLE_MS = 5_000;

/**
 * Longest stopping waits for requests in flight to be answered; then their
 * connections are closed. Under polling load a few responses to clients that
 * had given up stayed unfinished on half-closed connections, and the stop
 * waited on them until the 10 s exit timer.
 */
const STOP_GRACE_MS = 2_000;

export async function startService(config: Config, options: ServiceOptions = {}): Promise<Service> {
  tuneHeapForIngest();
  // Rules, API keys and Kafka's certificate files first: a bad one stops start-up
  // (as a config error) before anything is opened.
  const rules = loadRules(config.ALERT_RULES_FILE);
  const keys = loadKeys(config);
  const kafkaAccess = config.KAFKA_BROKERS.length > 0 ? kafkaSecurity(config) : null;
  const chHttpExposed = config.CLICKHOUSE_HTTP_PORT !== undefined ? exposureProblem(config.CLICKHOUSE_HTTP_HOST ?? config.HOST, keys) : null;
  if (chHttpExposed) throw new StartError(`cannot start: ${chHttpExposed}`);
  // Durability and a full disk (docs/operations.md): the folders this process writes, watched for free space.
  const journalDir = config.INGEST_JOURNAL_DIR || join(config.DATA_DIR, 'journal');
  const watched: WatchedDir[] = [
    ...(config.CLICKHOUSE_URL ? [] : [{ name: 'data' as const, path: config.DATA_DIR }]),
    ...(config.INGEST_ACK === 'journaled' ? [{ name: 'journal' as const, path: journalDir }] : []),
  ];
  for (const dir of watched) mkdirSync(dir.path, { recursive: true });
  const fullDisk = (why: string) =>
    new StartError(`cannot start: ${why}. Free space there (or lower DISK_MIN_FREE_BYTES) and start again; what the journal in ${journalDir} holds is kept and stored then`);
  // The disk filling while the store opens or the journal is replayed: the same one line.
  const startFailure = (err: unknown) => (isDiskFull(err) ? fullDisk(`the disk is full (${(err as Error).message.split('\n')[0].slice(0, 200)})`) : err);
  const short = await diskShortage(watched, config.DISK_MIN_FREE_BYTES);
  if (short) throw fullDisk(short);
  const opened = await openStore(config).catch((err: unknown) => {
    if (err instanceof StoreOpenError) throw new StartError(err.message, { cause: err });
    throw startFailure(err);
  });
  const sql = options.wrapSql ? options.wrapSql(opened) : opened;
  const metrics = createMetrics();
  const driftOptions = {
    psiThreshold: config.PSI_THRESHOLD,
    thresholdMode: config.DRIFT_THRESHOLD_MODE,
    driftAlpha: config.DRIFT_ALPHA,
    psiMinEffect: config.PSI_MIN_EFFECT,
    datasetDriftShare: config.DATASET_DRIFT_SHARE,
    minWindowEvents: config.MIN_WINDOW_EVENTS,
    maxCategories: config.MAX_CATEGORIES,
    includeFailed: config.ANALYSIS_INCLUDE_FAILED,
    multivariateMinEffect: config.MULTIVARIATE_MIN_EFFECT,
    multivariateWindowSampleMax: config.MULTIVARIATE_WINDOW_SAMPLE_MAX,
    qualityMinEffect: config.QUALITY_MIN_EFFECT,
    impactSampleRows: config.IMPACT_SAMPLE_ROWS,
  };
  const writers = createWriters(sql, { maxBatchRows: config.INGEST_MAX_BATCH_ROWS, maxPendingRows: config.INGEST_MAX_PENDING_ROWS }, metrics);
  // Logs go through the app's logger once it exists (nothing logs before it does).
  const log = { warn: (o: object, m: string) => app.log.warn(o, m), error: (o: object, m: string) => app.log.error(o, m) };
  let journaled: JournaledWriters | null = null;
  if (config.INGEST_ACK === 'journaled') {
    try {
      // What a crash left in the journal is stored before the service listens.
      journaled = await openJournaled(
        writers,
        {
          dir: journalDir,
          segmentBytes: 64 * 1024 * 1024,
          flushRows: config.INGEST_FLUSH_ROWS,
          flushIntervalMs: config.INGEST_FLUSH_INTERVAL,
          retry: { initialMs: 200, maxMs: 5_000 },
          maxUnstoredRows: config.INGEST_MAX_PENDING_ROWS,
          async storeOlderLayout(stream, layout, bytes) {
            const columns = stream === 'events' ? EVENT_COLUMN_LAYOUTS[layout] : undefined;
            if (!columns) throw new Error(`the journal holds ${stream} rows in layout ${layout}, which this version cannot store; start the version that wrote them once`);
            await sql.insertRowBinary(stream, columns, bytes);
          },
        },
        { metrics, log },
      );
    } catch (err) {
      await sql.close();
      throw startFailure(err);
    }
  }
  const guardLog = { warn: log.warn, info: (o: object, m: string) => app.log.info(o, m) };
  // The embedded engine's merges pause while its data folder's disk is short (store/merges.ts); a server's disk is its operator's.
  const merges = sql.backend === 'embedded' ? mergeSwitch(sql, { metrics, log: guardLog }) : null;
  const guard =
    watched.length > 0
      ? new DiskGuard(watched, config.DISK_MIN_FREE_BYTES, {
          metrics,
          log: guardLog,
          measured: async (short) => {
            await merges?.set(short.has('data')).catch((err) => log.warn({ err }, 'could not pause or resume merges'));
          },
        })
      : null;
  // What reads of acknowledged rows wait for (model routes, each analysed
  // window). Bounded: with the store away a read fails on its own rather
  // than hanging.
  const journalStored = journaled?.settled;
  const settled = journalStored && (() => settleWithin(journalStored(), READ_SETTLE_MS));
  const preparer = createPreparer(config.INGEST_WORKERS);
  let kafka: KafkaIngest | null = null;
  const limits = () => ({
    now: Date.now(),
    maxFeatures: config.MAX_FEATURES_PER_EVENT,
    // An event older than its retention would be acknowledged and then expired at the next merge: refused instead.
    maxAgeMs: Math.min(config.MAX_EVENT_AGE, config.RETENTION_EVENTS ?? Number.POSITIVE_INFINITY),
    maxFutureSkewMs: config.MAX_FUTURE_SKEW,
  });
  const scorer = new ShadowScorer(
    { sql, metrics, log },
    {
      defaultSampleShare: config.SHADOW_SAMPLE_SHARE,
      batchRows: config.SHADOW_BATCH_ROWS,
      intervalMs: config.SHADOW_INTERVAL,
      overlapMs: config.ANALYSIS_GRACE,
      lookbackMs: config.ANALYSIS_WINDOW + config.ANALYSIS_GRACE,
      futureMs: config.MAX_FUTURE_SKEW,
      threads: config.SHADOW_THREADS,
    },
  );
  const shadowAnalyzer = new ShadowAnalyzer(
    { sql, metrics, scorer, log },
    { defaultSampleShare: config.SHADOW_SAMPLE_SHARE, referenceMaxRows: config.SHADOW_REFERENCE_MAX_ROWS },
  );
  const retry = { initialMs: 500, maxMs: 30_000 };
  const webhooks = new WebhookSender({ metrics, log }, { maxQueue: 1_000, maxAttempts: config.ALERT_WEBHOOK_MAX_ATTEMPTS, retry });
  let alertmanager: AlertmanagerClient | null = null;
  const alerts = new AlertEngine({ sql, metrics, log, webhooks, notifyMaxAgeMs: config.ALERT_NOTIFY_MAX_AGE, get alertmanager() { return alertmanager; } }, rules);
  const kafkaLag = async () => {
    if (!kafka) return null;
    const { values } = await metrics.kafkaLag.get();
    return values.reduce((sum, v) => sum + v.value, 0);
  };
  const jobs = new Jobs({ onFailure: (job, err) => log.error({ err, job: job.id, kind: job.kind, model: job.model }, 'job failed') });
  // The scheduler is built once the app (its logger) is: the backfill reaches it when a job starts.
  const backfill = new Backfill(
    { jobs, metrics, get scheduler() { return scheduler; } },
    { windowMs: config.ANALYSIS_WINDOW, graceMs: config.ANALYSIS_GRACE, maxWindows: config.BACKFILL_MAX_WINDOWS },
  );
  const preaggregates = new Preaggregates(
    { sql, metrics, jobs, log: { info: (o, m) => app.log.info(o, m), error: (o, m) => app.log.error(o, m) } },
    { enabled: config.PREAGGREGATES === 'on', backfillMs: config.PREAGG_BACKFILL, maxCategories: config.MAX_CATEGORIES },
  );
  const gate = new QueryGate({ sql, metrics }, { maxConcurrent: config.ANALYSIS_MAX_CONCURRENT, timeoutMs: config.ANALYSIS_TIMEOUT, maxMemoryBytes: config.ANALYSIS_MAX_MEMORY_BYTES });
  // Analysis outside the API (the scheduler's windows, rolling baselines) under the same memory ceiling.
  const analysisSql = withMemoryCeiling(sql, config.ANALYSIS_MAX_MEMORY_BYTES);
  const baselineOptions = { bins: config.PSI_BINS, maxCategories: config.MAX_CATEGORIES, sampleMax: config.BASELINE_SAMPLE_MAX, includeFailed: config.ANALYSIS_INCLUDE_FAILED,
    multivariate: { sampleMax: config.MULTIVARIATE_SAMPLE_MAX, maxFeatures: config.MULTIVARIATE_MAX_FEATURES, varianceShare: config.MULTIVARIATE_VARIANCE },
  };
  const rolling = new RollingBaselines(
    { sql: analysisSql, metrics, settled, log: { info: (o, m) => app.log.info(o, m), error: (o, m) => app.log.error(o, m) } },
    { baseline: baselineOptions, maxSegments: config.MAX_SEGMENTS, pollMs: config.ROLLING_POLL_INTERVAL },
  );
  const app = await buildApp({
    sql,
    metrics,
    gate,
    http: { headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT, requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT },
    writers: guard ? guardWriters(journaled?.writers ?? writers, guard) : (journaled?.writers ?? writers),
    settled,
    readMark: journaled ? () => journaled.submitted() : undefined,
    preparer,
    apiKeys: keys,
    metricsDocsAccess: config.METRICS_DOCS_ACCESS,
    bodyLimit: config.BODY_LIMIT_BYTES,
    windowMs: config.ANALYSIS_WINDOW,
    limits,
    readiness: [
      async () => (kafka && kafka.state() !== 'running' ? `kafka consumer ${kafka.state()}` : null),
      async () => guard?.problem() ?? null,
      async () => journaled?.problem() ?? null,
    ],
    baseline: baselineOptions,
    drift: driftOptions,
    maxSegments: config.MAX_SEGMENTS,
    shadow: {
      scorer,
      analyzer: shadowAnalyzer,
      modelDir: config.SHADOW_MODEL_DIR,
      maxModelBytes: config.SHADOW_MAX_MODEL_BYTES,
      maxPerModel: config.SHADOW_MAX_PER_MODEL,
      defaultSampleShare: config.SHADOW_SAMPLE_SHARE,
    },
    alerts,
    jobs,
    import: {
      // Staged parts and uploads live in DATA_DIR, which a server-backed service does not have.
      importer: sql.backend === 'embedded' ? new Importer({ sql, metrics, limits, writesRefused: () => guard?.problem() ?? null }, { dir: join(config.DATA_DIR, 'import'), chunkRows: config.IMPORT_CHUNK_ROWS }) : null,
      importDir: config.IMPORT_DIR,
      s3: { accessKeyId: config.IMPORT_S3_ACCESS_KEY_ID, secretAccessKey: config.IMPORT_S3_SECRET_ACCESS_KEY },
      maxUploadBytes: config.IMPORT_MAX_UPLOAD_BYTES,
      maxRunning: config.IMPORT_MAX_RUNNING,
      unavailable: sql.backend === 'server' ? 'import needs the embedded store for now: with CLICKHOUSE_URL, load files with the server itself (INSERT ... SELECT FROM s3()/url())' : null,
      writesRefused: () => guard?.problem() ?? null,
    },
    backfill,
    rolling,
    preaggregates,
    series: { maxCells: config.SERIES_MAX_CELLS, rawMaxSteps: config.SERIES_RAW_MAX_STEPS },
    logger: options.logger ?? { level: config.LOG_LEVEL },
  });
  // Measured before the service listens, then every DISK_CHECK_INTERVAL; and parts the engine set aside at start are said loudly.
  await guard?.check();
  guard?.start(config.DISK_CHECK_INTERVAL);
  await reportDetachedParts(sql, { metrics, log }).catch((err) => log.warn({ err }, 'could not list detached parts'));
  const scheduler = new AnalysisScheduler(
    {
      sql: analysisSql,
      metrics,
      log: app.log,
      settled,
      preaggregates,
      windowJobs: [shadowAnalyzer, { runWindow: async (w, results, run) => alerts.runWindow(w, { ...results, kafkaLag: run.reason === 'live' ? await kafkaLag() : null }, run) }],
    },
    {
      ...driftOptions,
      windowMs: config.ANALYSIS_WINDOW,
      graceMs: config.ANALYSIS_GRACE,
      metricsMaxFeatures: config.METRICS_MAX_FEATURES,
      performanceRecomputeWindows: config.PERFORMANCE_RECOMPUTE_WINDOWS,
      lateReanalyzeShare: config.LATE_REANALYZE_SHARE,
      lateReanalyzeWindows: config.LATE_REANALYZE_WINDOWS,
      ksSampleMax: config.KS_WINDOW_SAMPLE_MAX,
      modelTimeoutMs: config.ANALYSIS_MODEL_TIMEOUT,
    },
  );
  let url: string;
  try {
    url = await app.listen({ port: config.PORT, host: config.HOST }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        throw new StartError(`port ${config.PORT} on ${config.HOST} is in use by another process: stop it, or pick another port with --port (PORT)`, { cause: err });
      }
      if (err.code === 'EADDRNOTAVAIL') throw new StartError(`cannot listen on ${config.HOST}: no such address on this machine; check --host (HOST)`, { cause: err });
      throw err;
    });
    if (config.ALERTMANAGER_URL) {
      alertmanager = new AlertmanagerClient(config.ALERTMANAGER_URL, { metrics, log }, { resendMs: config.ALERT_RESEND_INTERVAL, generatorUrl: url, retry });
    }
    await alerts.start();
  } catch (err) {
    guard?.stop();
    await app.close();
    await alertmanager?.close();
    await journaled?.close();
    await preparer.close();
    await sql.close();
    throw err;
  }
  if (kafkaAccess) {
    try {
      kafka = await startKafkaIngest(
        {
          brokers: config.KAFKA_BROKERS,
          clientId: config.KAFKA_CLIENT_ID,
          groupId: config.KAFKA_GROUP_ID,
          eventsTopics: config.KAFKA_EVENTS_TOPIC,
          labelsTopics: config.KAFKA_LABELS_TOPIC,
          dlqTopic: config.KAFKA_DLQ_TOPIC,
          partitionsConsumedConcurrently: config.KAFKA_PARTITIONS_CONCURRENTLY,
          maxBytesPerPartition: config.KAFKA_MAX_BYTES_PER_PARTITION,
          topicPartitions: config.KAFKA_TOPIC_PARTITIONS,
          sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT,
          flushRows: config.KAFKA_FLUSH_ROWS,
          flushIntervalMs: config.KAFKA_FLUSH_INTERVAL,
          security: kafkaAccess,
          socketFactory: options.kafkaSocketFactory,
        },
        {
          writers,
          preparer,
          metrics,
          limits,
          maxMessageBytes: config.KAFKA_MAX_MESSAGE_BYTES,
          retry: { initialMs: 200, maxMs: 5_000 },
          log: app.log,
        },
      );
    } catch (err) {
      guard?.stop();
      await app.close();
      await journaled?.close();
      await preparer.close();
      await sql.close();
      throw new StartError(`cannot start Kafka ingest from ${config.KAFKA_BROKERS.join(',')}: ${(err as Error).message}`, { cause: err });
    }
  }
  let clickhouseHttp: ChHttp | null = null;
  if (config.CLICKHOUSE_HTTP_PORT !== undefined) {
    try {
      clickhouseHttp = await startChHttp(config, { keys, metrics });
      app.log.info({ url: clickhouseHttp.url }, 'ClickHouse HTTP interface (read-only) listening');
      if (!clickhouseHttp.lowPriority) app.log.warn('CLICKHOUSE_HTTP_NICE is not applied without CAP_SYS_NICE: the interface\'s statements compete with ingest at its priority (docs/grafana.md)');
    } catch (err) {
      await kafka?.stop();
      guard?.stop();
      await app.close();
      await journaled?.close();
      await preparer.close();
      await sql.close();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new StartError(`port ${config.CLICKHOUSE_HTTP_PORT} is in use by another process: pick another with CLICKHOUSE_HTTP_PORT`, { cause: err });
      throw err;
    }
  }
  if (config.ANALYSIS_ENABLED) {
    scheduler.start();
    scorer.start();
    rolling.start();
  }

  let closing: Promise<void> | null = null;
  return {
    app,
    sql,
    metrics,
    scheduler,
    rolling,
    shadow: { scorer, analyzer: shadowAnalyzer },
    alerts,
    jobs,
    preaggregates,
    kafka,
    clickhouseHttp,
    url,
    close() {
      closing ??= (async () => {
        // First: analysis requests in flight start no further statement,
        // so stopping waits at most for the one each has running.
        gate.close();
        guard?.stop();
        await jobs.close();
        await scheduler.stop();
        await rolling.stop();
        await scorer.stop();
        await webhooks.close();
        await alertmanager?.close();
        await kafka?.stop();
        await clickhouseHttp?.close();
        const appClosed = app.close();
        await settleWithin(appClosed, STOP_GRACE_MS);
        app.server.closeAllConnections();
        await appClosed;
        await journaled?.close();
        await flushWriters(writers);
        await preparer.close();
        await sql.close();
      })();
      return closing;
    },
  };
}
