import { StoreOpenError } from './errors.ts';
import type { Sql } from './sql.ts';

/**
 * Versioned schema. A migration, once released, is never edited: a change is
 * a new entry. Each statement must be safe to re-run (IF NOT EXISTS), because
 * a crash between a statement and its bookkeeping row re-runs it at next start.
 */
export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'events, labels, baselines, drift results',
    statements: [
      // Idempotency by (model, event_id): a resend of the same event has the
      // same timestamp, so it lands on the same sorting key and every read
      // (FINAL) sees one row. The hour in the key lets window scans use the
      // primary index instead of reading every event of a model.
      // No LowCardinality here: its per-part dictionaries cost about a quarter
      // of insert throughput (measured with bench/ingest.ts), while the sort
      // order already makes model and version runs compress to nearly nothing.
      `CREATE TABLE IF NOT EXISTS events (
        model String,
        event_id String,
        model_version String,
        ts DateTime64(3, 'UTC'),
        num Map(String, Float64),
        cat Map(String, String),
        missing Array(String),
        prediction_num Nullable(Float64),
        prediction_cat Nullable(String),
        scores Map(String, Float64),
        latency_ms Nullable(Float64),
        tags Map(String, String),
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
      ) ENGINE = ReplacingMergeTree(ingested_at)
      PARTITION BY toYYYYMM(ts)
      ORDER BY (model, toStartOfHour(ts), event_id)`,
      // Labels are keyed by the event they belong to; a corrected label replaces the earlier one.
      `CREATE TABLE IF NOT EXISTS labels (
        model LowCardinality(String),
        event_id String,
        label_num Nullable(Float64),
        label_cat Nullable(String),
        ts DateTime64(3, 'UTC'),
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
      ) ENGINE = ReplacingMergeTree(ingested_at)
      ORDER BY (model, event_id)`,
      `CREATE TABLE IF NOT EXISTS baselines (
        baseline_id UUID,
        model LowCardinality(String),
        created_at DateTime64(3, 'UTC'),
        from_ts DateTime64(3, 'UTC'),
        to_ts DateTime64(3, 'UTC'),
        n_events UInt64,
        spec String
      ) ENGINE = ReplacingMergeTree(created_at)
      ORDER BY (model, baseline_id)`,
      // The frozen reference sample KS needs, copied so later deletes or late
      // events in the reference range cannot change a baseline.
      `CREATE TABLE IF NOT EXISTS baseline_samples (
        baseline_id UUID,
        feature LowCardinality(String),
        value Float64
      ) ENGINE = MergeTree
      ORDER BY (baseline_id, feature, value)`,
      `CREATE TABLE IF NOT EXISTS drift_results (
        model LowCardinality(String),
        baseline_id UUID,
        window_start DateTime64(3, 'UTC'),
        window_end DateTime64(3, 'UTC'),
        computed_at DateTime64(3, 'UTC'),
        feature String,
        kind LowCardinality(String),
        method LowCardinality(String),
        score Nullable(Float64),
        threshold Float64,
        drifted UInt8,
        status LowCardinality(String),
        n_reference UInt64,
        n_current UInt64,
        window_events UInt64,
        metrics Map(LowCardinality(String), Float64)
      ) ENGINE = ReplacingMergeTree(computed_at)
      PARTITION BY toYYYYMM(window_start)
      ORDER BY (model, window_start, window_end, feature)`,
    ],
  },
  {
    version: 2,
    name: 'performance per window, recomputed as labels arrive',
    statements: [
      `CREATE TABLE IF NOT EXISTS performance_results (
        model String,
        window_start DateTime64(3, 'UTC'),
        window_end DateTime64(3, 'UTC'),
        computed_at DateTime64(3, 'UTC'),
        task LowCardinality(String),
        n_events UInt64,
        n_labelled UInt64,
        label_delay_p50_s Nullable(Float64),
        label_delay_p90_s Nullable(Float64),
        metrics Map(String, Float64),
        baseline_metrics Map(String, Float64)
      ) ENGINE = ReplacingMergeTree(computed_at)
      PARTITION BY toYYYYMM(window_start)
      ORDER BY (model, window_start, window_end)`,
    ],
  },
  {
    version: 3,
    name: 'baselines per segment',
    statements: [
      // A segment baseline belongs to the model-wide one frozen with it (parent_id).
      `ALTER TABLE baselines ADD COLUMN IF NOT EXISTS segment_tag String DEFAULT ''`,
      `ALTER TABLE baselines ADD COLUMN IF NOT EXISTS segment_value String DEFAULT ''`,
      `ALTER TABLE baselines ADD COLUMN IF NOT EXISTS parent_id String DEFAULT ''`,
    ],
  },
  {
    version: 4,
    name: 'shadow models, their predictions and per-window results',
    statements: [
      // A registration is replaced by registering the same name again (latest
      // registered_at wins) and removed by a row with deleted = 1. The model
      // bytes live here, base64, so the store alone restores every shadow.
      `CREATE TABLE IF NOT EXISTS shadow_models (
        model String,
        name String,
        revision String,
        registered_at DateTime64(3, 'UTC'),
        role LowCardinality(String),
        spec String,
        onnx_base64 String,
        source String,
        deleted UInt8 DEFAULT 0
      ) ENGINE = ReplacingMergeTree(registered_at)
      ORDER BY (model, name)`,
      // One row per (shadow revision, event): a skip is stored too, with its
      // reason, so it is counted once and never retried forever.
      `CREATE TABLE IF NOT EXISTS shadow_predictions (
        model String,
        shadow String,
        revision String,
        event_id String,
        ts DateTime64(3, 'UTC'),
        status LowCardinality(String),
        score Nullable(Float64),
        class Nullable(String),
        scored_at DateTime64(3, 'UTC') DEFAULT now64(3)
      ) ENGINE = ReplacingMergeTree(scored_at)
      PARTITION BY toYYYYMM(ts)
      ORDER BY (model, shadow, revision, toStartOfHour(ts), event_id)`,
      `CREATE TABLE IF NOT EXISTS shadow_results (
        model String,
        shadow String,
        revision String,
        role LowCardinality(String),
        window_start DateTime64(3, 'UTC'),
        window_end DateTime64(3, 'UTC'),
        computed_at DateTime64(3, 'UTC'),
        report String
      ) ENGINE = ReplacingMergeTree(computed_at)
      PARTITION BY toYYYYMM(window_start)
      ORDER BY (model, shadow, window_start, window_end)`,
    ],
  },
  {
    version: 5,
    name: 'alert states and their transitions',
    statements: [
      // The current state of every alert series; the newest row wins. Read at
      // start, so a restart neither forgets a firing alert nor fires it again.
      `CREATE TABLE IF NOT EXISTS alert_states (
        rule String,
        model String,
        subject String,
        status LowCardinality(String),
        breaches UInt32,
        clears UInt32,
        value Nullable(Float64),
        active_since Nullable(DateTime64(3, 'UTC')),
        fired_at Nullable(DateTime64(3, 'UTC')),
        resolved_at Nullable(DateTime64(3, 'UTC')),
        window_end DateTime64(3, 'UTC'),
        severity LowCardinality(String),
        updated_at DateTime64(3, 'UTC')
      ) ENGINE = ReplacingMergeTree(updated_at)
      ORDER BY (rule, model, subject)`,
      `CREATE TABLE IF NOT EXISTS alert_events (
        at DateTime64(3, 'UTC'),
        rule String,
        model String,
        subject String,
        from_status LowCardinality(String),
        to_status LowCardinality(String),
        value Nullable(Float64),
        threshold Float64,
        severity LowCardinality(String),
        window_start DateTime64(3, 'UTC'),
        window_end DateTime64(3, 'UTC')
      ) ENGINE = ReplacingMergeTree
      ORDER BY (window_end, rule, model, subject, to_status)`,
    ],
  },
  {
    version: 6,
    name: 'whole drift reports per window and segment',
    statements: [
      // drift_results keeps one row per feature of the model-wide report, for
      // SQL and Grafana; this table keeps every report whole (data quality,
      // new category names, performance at the time), per segment too, which
      // is what /drift/history serves. Segment first in the key: one
      // segment's history is one range read.
      `CREATE TABLE IF NOT EXISTS drift_windows (
        model String,
        segment_tag String,
        segment_value String,
        window_start DateTime64(3, 'UTC'),
        window_end DateTime64(3, 'UTC'),
        computed_at DateTime64(3, 'UTC'),
        baseline_id UUID,
        report String CODEC(ZSTD(3))
      ) ENGINE = ReplacingMergeTree(computed_at)
      PARTITION BY toYYYYMM(window_start)
      ORDER BY (model, segment_tag, segment_value, window_start, window_end)`,
    ],
  },
  {
    version: 7,
    name: 'managed baselines: names, the active choice, rolling policies and their refreezes',
    statements: [
      // rolled: frozen by a rolling policy (analyzers/rolling.ts), which may
      // delete it again once it is older than the policy keeps.
      `ALTER TABLE baselines ADD COLUMN IF NOT EXISTS name String DEFAULT ''`,
      `ALTER TABLE baselines ADD COLUMN IF NOT EXISTS rolled UInt8 DEFAULT 0`,
      // The baseline chosen as a model's active one; the newest choice wins.
      // Without a row the newest model-wide baseline is active.
      `CREATE TABLE IF NOT EXISTS baseline_active (
        model String,
        baseline_id UUID,
        chosen_at DateTime64(3, 'UTC')
      ) ENGINE = ReplacingMergeTree(chosen_at)
      ORDER BY model`,
      `CREATE TABLE IF NOT EXISTS baseline_rolling (
        model String,
        every_ms UInt64,
        lookback_ms UInt64,
        segment_by String,
        keep UInt32,
        name String,
        updated_at DateTime64(3, 'UTC')
      ) ENGINE = ReplacingMergeTree(updated_at)
      ORDER BY model`,
      // One row per refreeze a rolling policy ran, failed ones too (with their reason).
      `CREATE TABLE IF NOT EXISTS baseline_refreezes (
        model String,
        at DateTime64(3, 'UTC'),
        outcome LowCardinality(String),
        baseline_id String,
        from_ts DateTime64(3, 'UTC'),
        to_ts DateTime64(3, 'UTC'),
        n_events UInt64,
        reason String
      ) ENGINE = MergeTree
      ORDER BY (model, at)`,
    ],
  },
  {
    version: 8,
    name: 'failed predictions: status and error_type of events',
    statements: [
      // Issue 20: a failed prediction is an event too. Existing rows read as
      // 'ok'; a window's error rate is the share of 'error', and analysis
      // leaves those out unless ANALYSIS_INCLUDE_FAILED.
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS status LowCardinality(String) DEFAULT 'ok'`,
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS error_type LowCardinality(String) DEFAULT ''`,
    ],
  },
  {
    version: 9,
    name: 'pre-aggregates: per-minute and per-hour bin counts, categories and presence, maintained at insert',
    statements: [
      // Issue 22 (docs/preaggregates.md). Which baseline each model's values
      // are binned on, one row per (model, kind, feature); the newest
      // registration wins, and a feature the new baseline lacks gets a row
      // with active = 0. kind 'model' (feature '') marks the model itself:
      // the presence counts join on it. Small: read whole at every insert.
      `CREATE TABLE IF NOT EXISTS preagg_edges (
        model String,
        kind LowCardinality(String),
        feature String,
        baseline_id UUID,
        edges Array(Float64),
        active UInt8,
        registered_at DateTime64(3, 'UTC')
      ) ENGINE = ReplacingMergeTree(registered_at)
      ORDER BY (model, kind, feature)`,
      // How far back a baseline's pre-aggregates were filled from stored events.
      `CREATE TABLE IF NOT EXISTS preagg_backfills (
        model String,
        baseline_id UUID,
        from_ts DateTime64(3, 'UTC'),
        to_ts DateTime64(3, 'UTC'),
        state LowCardinality(String),
        job_id String,
        reason String,
        updated_at DateTime64(3, 'UTC')
      ) ENGINE = ReplacingMergeTree(updated_at)
      ORDER BY (model, baseline_id)`,
      ...(['1m', '1h'] as const).flatMap((g) => [
        `CREATE TABLE IF NOT EXISTS preagg_num_${g} (
          model String, baseline_id UUID, t DateTime('UTC'), feature String, bin UInt16, n UInt64
        ) ENGINE = SummingMergeTree(n) PARTITION BY toYYYYMM(t) ORDER BY (model, baseline_id, t, feature, bin)`,
        `CREATE TABLE IF NOT EXISTS preagg_cat_${g} (
          model String, baseline_id UUID, t DateTime('UTC'), feature String, value String, n UInt64
        ) ENGINE = SummingMergeTree(n) PARTITION BY toYYYYMM(t) ORDER BY (model, baseline_id, t, feature, value)`,
        // kind: 'events' (feature ''): the events themselves; 'numeric',
        // 'categorical', 'missing': a feature present with that kind of value.
        `CREATE TABLE IF NOT EXISTS preagg_presence_${g} (
          model String, baseline_id UUID, t DateTime('UTC'), kind LowCardinality(String), feature String, n UInt64
        ) ENGINE = SummingMergeTree(n) PARTITION BY toYYYYMM(t) ORDER BY (model, baseline_id, t, kind, feature)`,
      ]),
      // At insert: every value of an event that did not fail, binned on its
      // model's registered edges exactly as store/aggregates.ts bins a window
      // (0 below e0, 1..k inside with the last bin closed, k+1 above ek).
      // The key and value expressions are written out, not shared: a
      // migration is frozen text.
      `CREATE MATERIALIZED VIEW IF NOT EXISTS preagg_num_1m_mv TO preagg_num_1m AS
       SELECT e.model AS model, r.baseline_id AS baseline_id, toStartOfMinute(e.ts) AS t, e.f AS feature,
              toUInt16(if(e.v > r.last, r.k + 1, least(arrayCount(x -> x <= e.v, r.edges), r.k))) AS bin, count() AS n
       FROM (SELECT model, ts, f, v FROM events
             ARRAY JOIN arrayConcat(mapKeys(num), if(prediction_num IS NULL, [], ['@prediction'])) AS f, arrayConcat(mapValues(num), if(prediction_num IS NULL, [], [assumeNotNull(prediction_num)])) AS v
             WHERE status != 'error') AS e
       INNER JOIN (SELECT model, feature, baseline_id, edges, toUInt32(greatest(length(edges), 1) - 1) AS k,
                          if(empty(edges), 0., edges[-1]) AS last
                   FROM preagg_edges FINAL WHERE active = 1 AND kind = 'numeric') AS r
       ON e.model = r.model AND e.f = r.feature
       GROUP BY model, baseline_id, t, feature, bin`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS preagg_cat_1m_mv TO preagg_cat_1m AS
       SELECT e.model AS model, r.baseline_id AS baseline_id, toStartOfMinute(e.ts) AS t, e.f AS feature, e.v AS value, count() AS n
       FROM (SELECT model, ts, f, v FROM events
             ARRAY JOIN arrayConcat(mapKeys(cat), if(prediction_cat IS NULL, [], ['@prediction'])) AS f, arrayConcat(mapValues(cat), if(prediction_cat IS NULL, [], [assumeNotNull(prediction_cat)])) AS v
             WHERE status != 'error') AS e
       INNER JOIN (SELECT model, feature, baseline_id FROM preagg_edges FINAL WHERE active = 1 AND kind = 'categorical') AS r
       ON e.model = r.model AND e.f = r.feature
       GROUP BY model, baseline_id, t, feature, value`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS preagg_presence_1m_mv TO preagg_presence_1m AS
       SELECT e.model AS model, r.baseline_id AS baseline_id, toStartOfMinute(e.ts) AS t, e.kind AS kind, e.f AS feature, count() AS n
       FROM (SELECT model, ts, p.1 AS kind, p.2 AS f FROM events
             ARRAY JOIN arrayConcat([('events', '')],
                                    arrayMap(x -> ('numeric', x), arrayConcat(mapKeys(num), if(prediction_num IS NULL, [], ['@prediction']))),
                                    arrayMap(x -> ('categorical', x), arrayConcat(mapKeys(cat), if(prediction_cat IS NULL, [], ['@prediction']))),
                                    arrayMap(x -> ('missing', x), missing)) AS p
             WHERE status != 'error') AS e
       INNER JOIN (SELECT model, baseline_id FROM preagg_edges FINAL WHERE active = 1 AND kind = 'model') AS r
       ON e.model = r.model
       GROUP BY model, baseline_id, t, kind, feature`,
      // The hourly tables are fed from the minute tables, so a backfill into
      // a minute table reaches its hour too.
      `CREATE MATERIALIZED VIEW IF NOT EXISTS preagg_num_1h_mv TO preagg_num_1h AS
       SELECT model, baseline_id, h AS t, feature, bin, sum(n) AS n
       FROM (SELECT model, baseline_id, toStartOfHour(t) AS h, feature, bin, n FROM preagg_num_1m)
       GROUP BY model, baseline_id, h, feature, bin`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS preagg_cat_1h_mv TO preagg_cat_1h AS
       SELECT model, baseline_id, h AS t, feature, value, sum(n) AS n
       FROM (SELECT model, baseline_id, toStartOfHour(t) AS h, feature, value, n FROM preagg_cat_1m)
       GROUP BY model, baseline_id, h, feature, value`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS preagg_presence_1h_mv TO preagg_presence_1h AS
       SELECT model, baseline_id, h AS t, kind, feature, sum(n) AS n
       FROM (SELECT model, baseline_id, toStartOfHour(t) AS h, kind, feature, n FROM preagg_presence_1m)
       GROUP BY model, baseline_id, h, kind, feature`,
    ],
  },
  {
    version: 10,
    name: 'baseline samples as sorted chunks: one row per feature and million values',
    statements: [
      // Issue 22: freezing copied every sampled value as a row of
      // baseline_samples, sorted by (baseline, feature, value) as the engine
      // wrote the part: at 1M events x 15 features that copy was 4.1 of a
      // 7-9 s freeze. A sorted array per feature and chunk (at most
      // 1,048,576 values each, so no row outgrows a few MB) is written as a
      // handful of rows. Baselines frozen before keep their rows in
      // baseline_samples, which reads still consult: nothing is converted,
      // so the migration holds no sample in memory.
      `CREATE TABLE IF NOT EXISTS baseline_sample_chunks (
        baseline_id UUID,
        feature LowCardinality(String),
        chunk UInt32,
        values Array(Float64)
      ) ENGINE = MergeTree
      ORDER BY (baseline_id, feature, chunk)`,
    ],
  },
  {
    version: 11,
    name: 'events_sample: the events whose id hashes into the lowest sixteenth, copied at insert',
    statements: [
      // Issue 22 item 4: the scheduler's KS/Wasserstein and multivariate
      // samples keep events by cityHash64(event_id), and kept rows sit in
      // every granule of events, so a 10M-event window read all its feature
      // maps for a 2% sample (the multivariate error: 4.1 s at 10M, 0.45 s at
      // 1M). Reads keeping at most 62,500 per million find the same rows here
      // (store/window.ts SAMPLE_PER_MILLION, the same number). Same columns,
      // engine and key as events; a later migration that changes events'
      // columns changes this table's too.
      `CREATE TABLE IF NOT EXISTS events_sample AS events`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS events_sample_mv TO events_sample AS
       SELECT * FROM events WHERE cityHash64(event_id) % 1000000 < 62500`,
      // What was stored before: nothing is ingested while migrations run.
      `INSERT INTO events_sample SELECT * FROM events WHERE cityHash64(event_id) % 1000000 < 62500`,
    ],
  },
];

/** Applies every migration newer than the store's version, in order; returns those applied. */
export async function migrate(sql: Sql, migrations: Migration[] = MIGRATIONS): Promise<number[]> {
  await sql.command(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
      version UInt32,
      name String,
      applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = ReplacingMergeTree ORDER BY version`,
  );
  const done = await sql.query<{ version: number }>('SELECT DISTINCT version FROM schema_migrations');
  const applied = new Set(done.map((r) => Number(r.version)));
  // A store a newer driftwatch migrated has tables this code does not know
  // the shape of: refuse rather than write into them (a downgrade is not supported).
  const known = Math.max(0, ...migrations.map((m) => m.version));
  const newest = Math.max(0, ...applied);
  if (newest > known) {
    throw new StoreOpenError(
      `the store was written by a newer driftwatch (schema version ${newest}; this one knows up to ${known}): ` +
        'run the newer version, or point this one at another --data-dir (DATA_DIR) or CLICKHOUSE_DATABASE',
    );
  }
  const ran: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    for (const statement of migration.statements) await sql.command(statement);
    await sql.command('INSERT INTO schema_migrations (version, name) VALUES ({version:UInt32}, {name:String})', {
      version: migration.version,
      name: migration.name,
    });
    ran.push(migration.version);
  }
  return ran;
}
