import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric driftwatch exports, declared once. Label values are bounded:
 * models are the ones with events, features are capped per model
 * (METRICS_MAX_FEATURES) and reasons come from a fixed list of codes.
 */
export function createMetrics(registry = new Registry()) {
  // Scheduler lag (issue 22 item 5): each running scheduler's lag, read at scrape time, so an
  // analysis stuck for an hour shows an hour even though it set nothing meanwhile.
  const analysisLagSources = new Set<() => number>();
  // prom-client's names already start with process_ or nodejs_: the prefix is driftwatch_ alone,
  // so they read driftwatch_process_cpu_seconds_total, not driftwatch_process_process_...
  collectDefaultMetrics({ register: registry, prefix: 'driftwatch_' });
  return {
    registry,
    ingestItems: new Counter({
      name: 'driftwatch_ingest_items_total',
      help: 'Events and labels received, by stream (events|labels), source (http|kafka|import) and outcome (accepted|rejected).',
      labelNames: ['stream', 'source', 'outcome'] as const,
      registers: [registry],
    }),
    ingestRejected: new Counter({
      name: 'driftwatch_ingest_rejected_total',
      help: 'Rejected events and labels by reason code.',
      labelNames: ['stream', 'reason'] as const,
      registers: [registry],
    }),
    ingestBatchSeconds: new Histogram({
      name: 'driftwatch_ingest_batch_duration_seconds',
      help: 'Time to validate and store one ingest batch.',
      labelNames: ['stream'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    storeInsertRows: new Histogram({
      name: 'driftwatch_store_insert_rows',
      help: 'Rows per insert into the store: group commit makes them grow with load (larger parts, fewer merges).',
      labelNames: ['table'] as const,
      buckets: [100, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 500_000],
      registers: [registry],
    }),
    storeInsertSeconds: new Histogram({
      name: 'driftwatch_store_insert_duration_seconds',
      help: 'Time of one insert into the store, as the service waits for it.',
      labelNames: ['table'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    driftScore: new Gauge({
      name: 'driftwatch_feature_drift_score',
      help: 'Drift score of a feature in the last analysed window, by method (psi, ks_statistic, chi2_statistic, ...).',
      labelNames: ['model', 'feature', 'method'] as const,
      registers: [registry],
    }),
    featureDrifted: new Gauge({
      name: 'driftwatch_feature_drifted',
      help: '1 when the feature drifted in the last analysed window, else 0.',
      labelNames: ['model', 'feature'] as const,
      registers: [registry],
    }),
    driftedFeatures: new Gauge({
      name: 'driftwatch_drifted_features',
      help: 'Number of drifted features in the last analysed window.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    featuresOverCap: new Gauge({
      name: 'driftwatch_features_over_metrics_cap',
      help: 'Features of a model left out of per-feature metrics by METRICS_MAX_FEATURES (the least drifted are left out).',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    windowEvents: new Gauge({
      name: 'driftwatch_analysis_window_events',
      help: 'Events in the last analysed window.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    lastWindowEnd: new Gauge({
      name: 'driftwatch_analysis_last_window_end_seconds',
      help: 'End of the last analysed window, Unix seconds.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    ingestUnstoredRows: new Gauge({
      name: 'driftwatch_ingest_unstored_rows',
      help: 'Rows acknowledged from the journal but not yet stored, by stream (INGEST_ACK=journaled).',
      labelNames: ['stream'] as const,
      registers: [registry],
    }),
    kafkaMessages: new Counter({
      name: 'driftwatch_kafka_messages_total',
      help: 'Kafka messages consumed, by topic.',
      labelNames: ['topic'] as const,
      registers: [registry],
    }),
    kafkaRows: new Counter({
      name: 'driftwatch_kafka_rows_inserted_total',
      help: 'Rows stored from Kafka, by topic.',
      labelNames: ['topic'] as const,
      registers: [registry],
    }),
    kafkaDeadLetters: new Counter({
      name: 'driftwatch_kafka_dead_letters_total',
      help: 'Messages (or array elements) sent to the dead-letter topic, by source topic and reason code.',
      labelNames: ['topic', 'reason'] as const,
      registers: [registry],
    }),
    kafkaInsertSeconds: new Histogram({
      name: 'driftwatch_kafka_batch_insert_duration_seconds',
      help: 'Time to store one flush of rows from Kafka (one insert of many partition batches), retries included.',
      labelNames: ['topic'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    kafkaRetries: new Counter({
      name: 'driftwatch_kafka_write_retries_total',
      help: 'Failed writes retried while a partition waits (what: store|dead_letter).',
      labelNames: ['what'] as const,
      registers: [registry],
    }),
    kafkaPaused: new Gauge({
      name: 'driftwatch_kafka_partition_paused',
      help: '1 while a partition waits for the store or the dead-letter topic.',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
    }),
    kafkaLag: new Gauge({
      name: 'driftwatch_kafka_consumer_lag_messages',
      help: 'Messages between the committed offset and the end of each partition.',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
    }),
    kafkaLastCommit: new Gauge({
      name: 'driftwatch_kafka_last_commit_timestamp_seconds',
      help: 'When offsets were last committed (Unix seconds); time since = time() - this.',
      registers: [registry],
    }),
    kafkaConsumerRestarts: new Counter({
      name: 'driftwatch_kafka_consumer_restarts_total',
      help: 'Times the consumer was restarted after a crash.',
      registers: [registry],
    }),
    performance: new Gauge({
      name: 'driftwatch_model_performance',
      help: 'Performance metric of the newest analysed window that has labels (accuracy, f1, roc_auc, log_loss, mae, rmse, ...).',
      labelNames: ['model', 'metric'] as const,
      registers: [registry],
    }),
    labelCoverage: new Gauge({
      name: 'driftwatch_label_coverage_ratio',
      help: 'Share of the newest analysed window with labels so far.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    analysisRuns: new Counter({
      name: 'driftwatch_analysis_runs_total',
      help: 'Scheduled analysis runs per model by outcome (ok|error).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    analysisSeconds: new Histogram({
      name: 'driftwatch_analysis_duration_seconds',
      help: 'Time to analyse one model window.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    featureMissing: new Gauge({
      name: 'driftwatch_feature_missing_ratio',
      help: 'Share of the last analysed window whose events lack the feature or sent null (same feature cap as drift scores).',
      labelNames: ['model', 'feature'] as const,
      registers: [registry],
    }),
    featureTypeViolation: new Gauge({
      name: 'driftwatch_feature_type_violation_ratio',
      help: 'Share of the last analysed window whose events carry the feature with the other kind of value than the baseline.',
      labelNames: ['model', 'feature'] as const,
      registers: [registry],
    }),
    driftedShare: new Gauge({
      name: 'driftwatch_drifted_features_ratio',
      help: 'Share of the judged features that drifted in the last analysed window.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    // Access (api/access.ts): refused requests, so a client with a wrong or
    // too narrow key, or someone guessing keys, shows on a dashboard.
    apiAuthRefused: new Counter({
      name: 'driftwatch_api_auth_refused_total',
      help: 'API requests refused by access control, by reason (unauthorized: no or unknown key; scope: the key lacks the route\'s scope; model: the key may not use the model).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    // One series per alert series that is pending or firing; rule names come from the rules file.
    alertState: new Gauge({
      name: 'driftwatch_alert_state',
      help: '1 while the alert series is in `state` (pending|firing), absent otherwise; subject is the feature or shadow model, or empty.',
      labelNames: ['rule', 'model', 'subject', 'severity', 'state'] as const,
      registers: [registry],
    }),
    alertTransitions: new Counter({
      name: 'driftwatch_alert_transitions_total',
      help: 'Alert series transitions by rule and the state entered (pending|firing|resolved|inactive).',
      labelNames: ['rule', 'to'] as const,
      registers: [registry],
    }),
    alertNotifications: new Counter({
      name: 'driftwatch_alert_notifications_total',
      help: 'Alert notifications by channel (alertmanager|webhook) and outcome (sent|retried|failed|dropped).',
      labelNames: ['channel', 'outcome'] as const,
      registers: [registry],
    }),
    // Shadow models per model are capped (SHADOW_MAX_PER_MODEL), which bounds the shadow label.
    shadowRows: new Counter({
      name: 'driftwatch_shadow_rows_total',
      help: 'Events re-scored by a shadow model, by outcome (ok, or the skip reason: missing_feature|type_mismatch|nan_output|run_error).',
      labelNames: ['model', 'shadow', 'outcome'] as const,
      registers: [registry],
    }),
    shadowBatchSeconds: new Histogram({
      name: 'driftwatch_shadow_batch_duration_seconds',
      help: 'Time to re-score one batch of events (encode and run; storing is per query of up to 65,536 events).',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    shadowFailures: new Counter({
      name: 'driftwatch_shadow_failures_total',
      help: 'Shadow scoring passes or reports that failed (stage: load|score|report); retried on the next pass.',
      labelNames: ['stage'] as const,
      registers: [registry],
    }),
    shadowMismatch: new Gauge({
      name: 'driftwatch_shadow_mismatch_ratio',
      help: 'Share of re-scored events of the last analysed window whose logged prediction differs from the shadow model beyond tolerance (or in class).',
      labelNames: ['model', 'shadow', 'role'] as const,
      registers: [registry],
    }),
    shadowAbsDiff: new Gauge({
      name: 'driftwatch_shadow_abs_diff',
      help: 'Absolute difference between logged and shadow scores in the last analysed window (stat: mean|max).',
      labelNames: ['model', 'shadow', 'stat'] as const,
      registers: [registry],
    }),
    shadowClassAgreement: new Gauge({
      name: 'driftwatch_shadow_class_agreement_ratio',
      help: 'Share of re-scored events of the last analysed window whose logged class equals the shadow model class.',
      labelNames: ['model', 'shadow'] as const,
      registers: [registry],
    }),
    shadowPredictionPsi: new Gauge({
      name: 'driftwatch_shadow_prediction_psi',
      help: "PSI of a challenger's predictions in the last analysed window against its predictions on the baseline period.",
      labelNames: ['model', 'shadow'] as const,
      registers: [registry],
    }),
    shadowPerformance: new Gauge({
      name: 'driftwatch_shadow_performance',
      help: 'Performance on labelled re-scored events of the last analysed window, of the logged prediction (who=champion) and of the shadow model (who=shadow).',
      labelNames: ['model', 'shadow', 'who', 'metric'] as const,
      registers: [registry],
    }),
    // Durability and a full disk (core/disk.ts, store/detached.ts).
    diskFreeBytes: new Gauge({
      name: 'driftwatch_disk_free_bytes',
      help: 'Free bytes on the filesystem of a watched folder (dir=data|journal), as the free-space guard last measured.',
      labelNames: ['dir'] as const,
      registers: [registry],
    }),
    ingestRefusedRequests: new Counter({
      name: 'driftwatch_ingest_refused_requests_total',
      help: 'Write requests refused with 503 before any row was acknowledged, by stream and reason (disk_full).',
      labelNames: ['stream', 'reason'] as const,
      registers: [registry],
    }),
    storeMergesPaused: new Gauge({
      name: 'driftwatch_store_merges_paused',
      help: "1 while the embedded engine's background merges are paused because the data folder's disk is under DISK_MIN_FREE_BYTES, else 0.",
      registers: [registry],
    }),
    storeDetachedParts: new Gauge({
      name: 'driftwatch_store_detached_parts',
      help: "Parts the engine set aside (detached) in the service's tables, by the engine's reason (broken-on-start, broken, unexpected, ...), as found at start.",
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    // Backfills and late events (analyzers/backfill.ts, docs/backfill.md).
    backfillWindows: new Counter({
      name: 'driftwatch_backfill_windows_total',
      help: 'Windows a backfill (POST /v1/models/{model}/analyze) analysed, by outcome (ok|failed).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    lateReanalyses: new Counter({
      name: 'driftwatch_late_reanalyses_total',
      help: 'Windows analysed again because more than LATE_REANALYZE_SHARE of their events arrived after their analysis.',
      registers: [registry],
    }),
    // Query gate (api/query-gate.ts): analysis requests bounded in number and time.
    queryGateInFlight: new Gauge({
      name: 'driftwatch_query_gate_in_flight_requests',
      help: 'Analysis requests holding a slot of ANALYSIS_MAX_CONCURRENT now.',
      registers: [registry],
    }),
    queryGateRequests: new Counter({
      name: 'driftwatch_query_gate_requests_total',
      help: 'Analysis requests by outcome: ok, error, busy (answered 503 with Retry-After), timeout (ANALYSIS_TIMEOUT), memory (ANALYSIS_MAX_MEMORY_BYTES), cancelled (every client gone or service stopping), shared (answered by the run of an identical request in flight).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    // Managed baselines (analyzers/rolling.ts) and data lifetime (store/deletion.ts).
    baselineRefreezes: new Counter({
      name: 'driftwatch_baseline_refreezes_total',
      help: 'Refreezes of rolling baselines by outcome (ok|failed: e.g. no events in the range; each is listed at GET /v1/models/{model}/baselines/rolling).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    deletedRows: new Counter({
      name: 'driftwatch_deleted_rows_total',
      help: 'Rows deleted on request (DELETE /v1/models/{model}, POST .../events:delete), by table.',
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    // ClickHouse HTTP interface (clickhouse-http/): statements clients sent, by outcome.
    chHttpQueries: new Counter({
      name: 'driftwatch_clickhouse_http_queries_total',
      help: 'Requests to the ClickHouse HTTP interface with a statement, by outcome: ok, error, refused (read-only or access), unauthenticated, busy (too many waiting), cancelled (the client went away before it started).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    // Drift impact (issue 19 item 3, analyzers/impact/): how much each feature moves the model's
    // output, and the share of it on the features that drifted. Features bounded like the drift
    // gauges (METRICS_MAX_FEATURES, the rest as feature="__overflow__", their impacts summed).
    featureDriftImpact: new Gauge({
      name: 'driftwatch_feature_drift_impact',
      help: "A feature's impact in the last analysed window: its share (0..1, summing to 1 over the model's features) of what moves the model's output (permutation through the reference ONNX model, else association with the logged prediction).",
      labelNames: ['model', 'feature'] as const,
      registers: [registry],
    }),
    driftedImpactRatio: new Gauge({
      name: 'driftwatch_drifted_impact_ratio',
      help: 'Share of the impact held by the features that drifted in the last analysed window (drift_impact.share); absent without impact.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    // Failed predictions (issue 20): events sent with status "error".
    predictionErrorRatio: new Gauge({
      name: 'driftwatch_prediction_error_ratio',
      help: 'Share of the last analysed window\'s events that were failed predictions (status "error"), per model.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    // Multivariate drift and data-quality verdicts (issue 19 items 2 and 4, docs/statistics.md). The
    // error is a distance in reference standard deviations (standardized units); check is one of
    // missing, type_violation, out_of_range; features share METRICS_MAX_FEATURES with drift scores.
    multivariateError: new Gauge({
      name: 'driftwatch_multivariate_reconstruction_error',
      help: 'Mean PCA reconstruction error of the numeric features in the last analysed window (standardized units).',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    multivariateThreshold: new Gauge({
      name: 'driftwatch_multivariate_reconstruction_error_threshold',
      help: 'The band a stationary window of the last analysed window\'s size keeps the reconstruction error in, by bound (lower|upper).',
      labelNames: ['model', 'bound'] as const,
      registers: [registry],
    }),
    multivariateChange: new Gauge({
      name: 'driftwatch_multivariate_reconstruction_error_change_ratio',
      help: 'Relative change of the last analysed window\'s reconstruction error against the baseline\'s.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    multivariateDrifted: new Gauge({
      name: 'driftwatch_multivariate_drifted',
      help: '1 when the reconstruction error of the last analysed window is outside its band, else 0.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    featureOutOfRange: new Gauge({
      name: 'driftwatch_feature_out_of_range_ratio',
      help: 'Share of the last analysed window\'s values of a numeric feature below the reference minimum or above its maximum.',
      labelNames: ['model', 'feature'] as const,
      registers: [registry],
    }),
    featureQualityDrifted: new Gauge({
      name: 'driftwatch_feature_quality_drifted',
      help: '1 when a data-quality share (check: missing, type_violation, out_of_range) of the last analysed window rose beyond noise and QUALITY_MIN_EFFECT over the baseline\'s, else 0.',
      labelNames: ['model', 'feature', 'check'] as const,
      registers: [registry],
    }),
    // Estimated performance (issue 19, analyzers/estimated/): CBPE before labels arrive.
    performanceEstimated: new Gauge({
      name: 'driftwatch_model_performance_estimated',
      help: 'Performance of the newest analysed window estimated from calibrated scores (CBPE), without labels: metric accuracy|precision|recall|f1|roc_auc; stat value, lower and upper (the band), drop (how far the band lies below the baseline, 0 when it reaches it).',
      labelNames: ['model', 'metric', 'stat'] as const,
      registers: [registry],
    }),
    // Pre-aggregates (issue 22, docs/preaggregates.md): which path read a window's binned counts.
    preaggregateReads: new Counter({
      name: 'driftwatch_preaggregate_reads_total',
      help: 'Analysed windows and series steps by where their binned counts came from: source preaggregates, or raw with the reason (disabled, segment, include_failed, unaligned, not_registered, mismatch, capped).',
      labelNames: ['source', 'reason'] as const,
      registers: [registry],
    }),
    preaggregateBackfillSeconds: new Histogram({
      name: 'driftwatch_preaggregate_backfill_duration_seconds',
      help: 'Time to fill one day of a newly active baseline\'s pre-aggregates from stored events.',
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    // Scheduler lag (issue 22 item 5, docs/preaggregates.md#many-models-and-overruns).
    analysisLag: new Gauge({
      name: 'driftwatch_analysis_lag_seconds',
      help: 'How far behind the analysis scheduler is: now minus the end of the newest window it analysed. Between ANALYSIS_GRACE and one ANALYSIS_WINDOW more when it keeps up; more means windows wait. 0 without a running scheduler.',
      registers: [registry],
      collect() {
        this.set(analysisLagSources.size > 0 ? Math.max(...[...analysisLagSources].map((lag) => lag())) : 0);
      },
    }),
    /** What the lag gauge reads: a running AnalysisScheduler adds its own. */
    analysisLagSources,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
