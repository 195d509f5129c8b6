import type { Dashboard, DataSourceRef, Panel } from '@grafana/schema';
import { stringify } from 'yaml';

/**
 * driftwatch's Grafana dashboards as code: an overview of every model and a
 * per-model dashboard (a `model` variable, so one dashboard serves each
 * model). Panels read Prometheus (what driftwatch exports at /metrics) and
 * the ClickHouse store itself (history: drift per window, performance,
 * shadow reports, events) through grafana-clickhouse-datasource.
 *
 * Every query is listed with the columns it must return (`columns`), and
 * test/grafana.test.ts runs each SQL one against the real engine with
 * Grafana's macros filled in, and each PromQL one against a real Prometheus.
 */
export const PROMETHEUS: DataSourceRef = { type: 'prometheus', uid: 'driftwatch-prometheus' };
export const CLICKHOUSE: DataSourceRef = { type: 'grafana-clickhouse-datasource', uid: 'driftwatch-clickhouse' };

export interface SqlQuery {
  kind: 'sql';
  sql: string;
  /** Columns the query returns, in order. */
  columns: string[];
  format: 'time_series' | 'table';
}
export interface PromQuery {
  kind: 'promql';
  expr: string;
  legend?: string;
}
export type Query = SqlQuery | PromQuery;

interface PanelSpec {
  title: string;
  type: 'timeseries' | 'table' | 'stat' | 'bargauge';
  queries: Query[];
  description?: string;
  unit?: string;
  w?: number;
  h?: number;
}

// grafana-clickhouse-datasource's format numbers: 0 time series, 1 table.
const FORMAT = { time_series: 0, table: 1 } as const;

function target(q: Query, i: number): Record<string, unknown> {
  const refId = String.fromCharCode(65 + i);
  if (q.kind === 'promql') return { refId, datasource: PROMETHEUS, expr: q.expr, legendFormat: q.legend ?? '__auto', range: true };
  return { refId, datasource: CLICKHOUSE, editorType: 'sql', rawSql: q.sql.replace(/\s+/g, ' ').trim(), format: FORMAT[q.format], queryType: q.format === 'table' ? 'table' : 'timeseries' };
}

function layout(specs: PanelSpec[]): Panel[] {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  return specs.map((spec, id) => {
    const w = spec.w ?? 12;
    const h = spec.h ?? 8;
    if (x + w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const panel: Panel = {
      id: id + 1,
      type: spec.type,
      title: spec.title,
      description: spec.description,
      gridPos: { x, y, w, h },
      datasource: spec.queries.every((q) => q.kind === 'promql') ? PROMETHEUS : CLICKHOUSE,
      targets: spec.queries.map(target),
      fieldConfig: { defaults: spec.unit ? { unit: spec.unit } : {}, overrides: [] },
      options: {},
    };
    x += w;
    rowHeight = Math.max(rowHeight, h);
    return panel;
  });
}

function dashboard(uid: string, title: string, specs: PanelSpec[], variables: NonNullable<Dashboard['templating']>['list'] = []): Dashboard {
  return {
    uid,
    title,
    tags: ['driftwatch'],
    editable: true,
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    refresh: '1m',
    timezone: 'utc',
    templating: { list: variables },
    panels: layout(specs),
  } as Dashboard;
}

const sql = (text: string, columns: string[], format: SqlQuery['format'] = 'time_series'): SqlQuery => ({ kind: 'sql', sql: text, columns, format });
const prom = (expr: string, legend?: string): PromQuery => ({ kind: 'promql', expr, legend });

// Grafana quotes and escapes the variable itself: ${model:sqlstring}.
const MODEL = '${model:sqlstring}';

export const overviewPanels: PanelSpec[] = [
  {
    title: 'Drifted features per model (last window)',
    type: 'bargauge',
    queries: [prom('driftwatch_drifted_features', '{{model}}')],
  },
  {
    title: 'Firing alerts',
    type: 'table',
    queries: [prom('sum by (rule, model, subject, severity) (driftwatch_alert_state{state="firing"})')],
  },
  {
    title: 'Ingest rate (events/s accepted)',
    type: 'timeseries',
    unit: 'ops',
    queries: [prom('sum by (stream, source) (rate(driftwatch_ingest_items_total{outcome="accepted"}[$__rate_interval]))', '{{stream}} via {{source}}')],
  },
  {
    title: 'Rejected items (per second, by reason)',
    type: 'timeseries',
    unit: 'ops',
    queries: [prom('sum by (stream, reason) (rate(driftwatch_ingest_rejected_total[$__rate_interval]))', '{{stream}}: {{reason}}')],
  },
  {
    title: 'Models: events in range',
    type: 'table',
    queries: [
      sql(
        `SELECT model, count() AS events, uniqExact(model_version) AS versions, max(ts) AS last_event
         FROM events WHERE $__timeFilter(ts) GROUP BY model ORDER BY model`,
        ['model', 'events', 'versions', 'last_event'],
        'table',
      ),
    ],
  },
  {
    title: 'Alert transitions',
    type: 'table',
    queries: [
      sql(
        `SELECT at, rule, model, subject, from_status, to_status, value, severity
         FROM alert_events FINAL WHERE $__timeFilter(window_end) ORDER BY at DESC LIMIT 200`,
        ['at', 'rule', 'model', 'subject', 'from_status', 'to_status', 'value', 'severity'],
        'table',
      ),
    ],
  },
];

// Every hour the range touches: an hour's row is stamped with its start, which may lie before the range's.
const HOURS = 't >= toStartOfHour($__fromTime) AND t <= $__toTime';
// The baseline the model's pre-aggregates are binned on now: counts of an earlier one would be counted twice.
const REGISTERED = `SELECT argMax(baseline_id, registered_at) FROM preagg_edges WHERE model = ${MODEL} AND kind = 'model'`;

export const modelPanels: PanelSpec[] = [
  {
    title: 'Drift score per feature, per window',
    type: 'timeseries',
    description: 'The score of the method that decides each feature (PSI by default), window by window.',
    queries: [
      sql(
        `SELECT window_start AS time, feature, score FROM drift_results FINAL
         WHERE model = ${MODEL} AND feature != '@prediction' AND $__timeFilter(window_start) ORDER BY time`,
        ['time', 'feature', 'score'],
      ),
    ],
    w: 24,
  },
  {
    title: 'Top drifting features (last window)',
    type: 'bargauge',
    queries: [prom('topk(10, driftwatch_feature_drift_score{model="$model", method="psi", feature!="@prediction"})', '{{feature}}')],
  },
  {
    title: 'Impact of the drifted features (last window)',
    type: 'bargauge',
    description: "Each drifted feature's share of what moves the model's output (permutation through the reference ONNX model, else association with the logged prediction): the drift that matters first.",
    queries: [prom('topk(10, driftwatch_feature_drift_impact{model="$model"} and on(model, feature) (driftwatch_feature_drifted{model="$model"} == 1))', '{{feature}}')],
  },
  {
    title: 'Share of the impact on drifted features',
    type: 'timeseries',
    unit: 'percentunit',
    queries: [prom('driftwatch_drifted_impact_ratio{model="$model"}', 'drifted share of impact')],
  },
  {
    title: 'Prediction drift (PSI)',
    type: 'timeseries',
    queries: [
      sql(
        `SELECT window_start AS time, score AS prediction_psi FROM drift_results FINAL
         WHERE model = ${MODEL} AND feature = '@prediction' AND $__timeFilter(window_start) ORDER BY time`,
        ['time', 'prediction_psi'],
      ),
    ],
  },
  {
    title: 'Drifted share of features per segment',
    type: 'timeseries',
    unit: 'percentunit',
    description: 'Segments of a baseline frozen with segment_by, each against its own segment baseline, window by window.',
    queries: [
      sql(
        `SELECT window_start AS time, concat(segment_tag, '=', segment_value) AS segment,
                JSONExtractFloat(report, 'drifted_share') AS drifted_share
         FROM drift_windows FINAL
         WHERE model = ${MODEL} AND segment_tag != '' AND $__timeFilter(window_start) ORDER BY time`,
        ['time', 'segment', 'drifted_share'],
      ),
    ],
  },
  {
    title: 'Missing values (share of events)',
    type: 'timeseries',
    unit: 'percentunit',
    queries: [prom('driftwatch_feature_missing_ratio{model="$model"}', '{{feature}}')],
  },
  {
    title: 'Missing values per hour (pre-aggregates)',
    type: 'timeseries',
    unit: 'percentunit',
    description:
      'Share of events per hour without each feature (null or absent), from the counts the engine keeps at insert with PREAGGREGATES=on (docs/preaggregates.md): any range, back to PREAGG_BACKFILL, without reading events; empty while it is off.',
    queries: [
      sql(
        `SELECT p.t AS time, p.feature AS feature, 1 - p.n / e.n AS missing_share
         FROM (SELECT t, feature, sum(n) AS n FROM preagg_presence_1h
               WHERE model = ${MODEL} AND baseline_id = (${REGISTERED}) AND kind IN ('numeric', 'categorical') AND feature != '@prediction'
                 AND ${HOURS} GROUP BY t, feature) AS p
         INNER JOIN (SELECT t, sum(n) AS n FROM preagg_presence_1h
                     WHERE model = ${MODEL} AND baseline_id = (${REGISTERED}) AND kind = 'events' AND ${HOURS} GROUP BY t) AS e
         ON p.t = e.t
         ORDER BY time`,
        ['time', 'feature', 'missing_share'],
      ),
    ],
  },
  {
    title: 'Type violations (share of events)',
    type: 'timeseries',
    unit: 'percentunit',
    queries: [prom('driftwatch_feature_type_violation_ratio{model="$model"}', '{{feature}}')],
  },
  {
    title: 'Multivariate drift (PCA reconstruction error and its band)',
    type: 'timeseries',
    description:
      "The window's mean reconstruction error of the numeric features against the baseline's PCA, and the band a stationary window of its size stays in: outside it, the joint distribution drifted (docs/statistics.md).",
    queries: [
      sql(
        `SELECT window_start AS time,
                JSONExtractFloat(report, 'multivariate', 'reconstruction_error') AS reconstruction_error,
                JSONExtractFloat(report, 'multivariate', 'lower_threshold') AS lower,
                JSONExtractFloat(report, 'multivariate', 'upper_threshold') AS upper
         FROM drift_windows FINAL
         WHERE model = ${MODEL} AND segment_tag = '' AND JSONHas(report, 'multivariate', 'reconstruction_error')
           AND $__timeFilter(window_start) ORDER BY time`,
        ['time', 'reconstruction_error', 'lower', 'upper'],
      ),
    ],
  },
  {
    title: 'Data-quality verdicts (features flagged, by check)',
    type: 'timeseries',
    description: 'Features whose missing, type-violation or out-of-range share rose beyond noise and QUALITY_MIN_EFFECT over the baseline\'s, last analysed window.',
    queries: [prom('sum by (check) (driftwatch_feature_quality_drifted{model="$model"})', '{{check}}')],
  },
  {
    title: 'Performance per window (labels so far)',
    type: 'timeseries',
    queries: [
      sql(
        `SELECT window_start AS time, metric, metrics[metric] AS value FROM performance_results FINAL
         ARRAY JOIN mapKeys(metrics) AS metric
         WHERE model = ${MODEL} AND $__timeFilter(window_start) ORDER BY time`,
        ['time', 'metric', 'value'],
      ),
    ],
  },
  {
    title: 'Label coverage and delay',
    type: 'timeseries',
    queries: [
      sql(
        `SELECT window_start AS time, if(n_events > 0, n_labelled / n_events, 0) AS label_coverage, label_delay_p50_s, label_delay_p90_s
         FROM performance_results FINAL WHERE model = ${MODEL} AND $__timeFilter(window_start) ORDER BY time`,
        ['time', 'label_coverage', 'label_delay_p50_s', 'label_delay_p90_s'],
      ),
    ],
  },
  {
    title: 'Estimated performance before labels (CBPE), with its band and the realized value',
    type: 'timeseries',
    description:
      "Accuracy, F1 and ROC AUC estimated from calibrated scores for every window (docs/statistics.md), lower and upper the 3-sigma band at the window's size; realized appears as labels arrive.",
    queries: [
      sql(
        `SELECT window_start AS time, metric,
                JSONExtractFloat(report, 'estimated_performance', 'metrics', metric, 'value') AS estimated,
                JSONExtract(report, 'estimated_performance', 'metrics', metric, 'lower', 'Nullable(Float64)') AS lower,
                JSONExtract(report, 'estimated_performance', 'metrics', metric, 'upper', 'Nullable(Float64)') AS upper,
                JSONExtract(report, 'estimated_performance', 'metrics', metric, 'realized', 'Nullable(Float64)') AS realized
         FROM drift_windows FINAL ARRAY JOIN ['accuracy', 'f1', 'roc_auc'] AS metric
         WHERE model = ${MODEL} AND segment_tag = '' AND JSONHas(report, 'estimated_performance', 'metrics', metric)
           AND $__timeFilter(window_start) ORDER BY time`,
        ['time', 'metric', 'estimated', 'lower', 'upper', 'realized'],
      ),
    ],
    w: 24,
  },
  {
    title: 'Shadow parity (share of re-scored events that disagree)',
    type: 'timeseries',
    unit: 'percentunit',
    queries: [
      sql(
        `SELECT window_start AS time, shadow, JSONExtractFloat(report, 'comparison', 'mismatch_share') AS mismatch_share
         FROM shadow_results FINAL WHERE model = ${MODEL} AND $__timeFilter(window_start) ORDER BY time`,
        ['time', 'shadow', 'mismatch_share'],
      ),
    ],
  },
  {
    title: 'Latency from events (ms)',
    type: 'timeseries',
    unit: 'ms',
    queries: [
      sql(
        // One quantiles() state, not three quantile() ones: the same rows (the
        // same sample), a third less engine time on a single thread, which a
        // refreshing dashboard takes from ingest (docs/grafana.md).
        `SELECT time, q[1] AS p50, q[2] AS p95, q[3] AS p99 FROM (
           SELECT $__timeInterval(ts) AS time, quantiles(0.5, 0.95, 0.99)(latency_ms) AS q
           FROM events WHERE model = ${MODEL} AND $__timeFilter(ts) GROUP BY time
         ) ORDER BY time`,
        ['time', 'p50', 'p95', 'p99'],
      ),
    ],
  },
  {
    title: 'Prediction error rate (failed predictions)',
    type: 'timeseries',
    unit: 'percentunit',
    description: 'Share of the events sent with status "error" (the model call failed), from the events, and per analysed window as driftwatch publishes it.',
    queries: [
      sql(
        `SELECT $__timeInterval(ts) AS time, countIf(status = 'error') / count() AS error_rate
         FROM events WHERE model = ${MODEL} AND $__timeFilter(ts) GROUP BY time ORDER BY time`,
        ['time', 'error_rate'],
      ),
      prom('driftwatch_prediction_error_ratio{model="$model"}', 'per analysed window'),
    ],
  },
  {
    title: 'Events per minute and rejected share',
    type: 'timeseries',
    w: 24,
    queries: [
      sql(
        `SELECT toStartOfMinute(ts) AS time, count() AS events FROM events
         WHERE model = ${MODEL} AND $__timeFilter(ts) GROUP BY time ORDER BY time`,
        ['time', 'events'],
      ),
      prom(
        'sum(rate(driftwatch_ingest_items_total{stream="events", outcome="rejected"}[$__rate_interval])) / sum(rate(driftwatch_ingest_items_total{stream="events"}[$__rate_interval]))',
        'rejected share (all models)',
      ),
    ],
  },
  // Triton beside driftwatch (docs/sdk.md): Triton's own metrics, keyed by the same model name.
  ...tritonPanels(),
];

/** Triton Inference Server's per-model metrics (nv_inference_*), when Prometheus scrapes Triton too. */
function tritonPanels(): PanelSpec[] {
  const rate = (metric: string) => `sum(rate(${metric}{model="$model"}[$__rate_interval]))`;
  const perRequest = (metric: string) => `${rate(metric)} / ${rate('nv_inference_request_success')}`;
  return [
    {
      title: 'Triton: requests per second',
      type: 'timeseries',
      unit: 'reqps',
      w: 8,
      queries: [prom(rate('nv_inference_request_success'), 'success'), prom(rate('nv_inference_request_failure'), 'failure')],
    },
    {
      title: 'Triton: failed share of requests',
      type: 'timeseries',
      unit: 'percentunit',
      w: 8,
      queries: [prom(`${rate('nv_inference_request_failure')} / (${rate('nv_inference_request_success')} + ${rate('nv_inference_request_failure')})`, 'failed share')],
    },
    {
      title: 'Triton: queue and compute time per request (µs)',
      type: 'timeseries',
      unit: 'µs',
      w: 8,
      queries: [prom(perRequest('nv_inference_queue_duration_us'), 'queue'), prom(perRequest('nv_inference_compute_infer_duration_us'), 'compute')],
    },
  ];
}

const modelVariable = {
  name: 'model',
  label: 'Model',
  type: 'query',
  datasource: CLICKHOUSE,
  query: 'SELECT DISTINCT model FROM events ORDER BY model',
  refresh: 2,
  includeAll: false,
  multi: false,
};

export const DASHBOARDS = {
  'driftwatch-overview': () => dashboard('driftwatch-overview', 'driftwatch: overview', overviewPanels),
  'driftwatch-model': () => dashboard('driftwatch-model', 'driftwatch: model', modelPanels, [modelVariable as never]),
};

/** Every query of every dashboard, with where it is. */
export function allQueries(): { dashboard: string; panel: string; query: Query }[] {
  const out: { dashboard: string; panel: string; query: Query }[] = [];
  for (const [name, specs] of [['driftwatch-overview', overviewPanels], ['driftwatch-model', modelPanels]] as const) {
    for (const spec of specs) for (const query of spec.queries) out.push({ dashboard: name, panel: spec.title, query });
  }
  out.push({ dashboard: 'driftwatch-model', panel: 'variable model', query: sql(modelVariable.query, ['model'], 'table') });
  return out;
}

/** Where Grafana's ClickHouse data source connects, as its provisioning says. */
export interface ClickHouseTarget {
  host: string;
  port: number;
  protocol: 'http' | 'native';
  tls: boolean;
  database: string;
  username: string;
}

/**
 * The defaults: on the embedded store, driftwatch's own ClickHouse HTTP
 * interface (clickhouse-http/, CLICKHOUSE_HTTP_PORT, 8123 if unset); with
 * CLICKHOUSE_URL, that server's HTTP interface. `given` (the command's
 * flags) wins over each.
 */
export function clickhouseTarget(
  config: { CLICKHOUSE_URL?: string; CLICKHOUSE_USER: string; CLICKHOUSE_DATABASE: string; CLICKHOUSE_HTTP_PORT?: number; CLICKHOUSE_HTTP_HOST?: string; HOST: string },
  given: Partial<ClickHouseTarget> = {},
): ClickHouseTarget {
  const loopback = (host: string) => (host === '127.0.0.1' || host === '::1' || host === '0.0.0.0' ? 'localhost' : host);
  let defaults: ClickHouseTarget;
  if (config.CLICKHOUSE_URL) {
    const url = new URL(config.CLICKHOUSE_URL);
    const tls = url.protocol === 'https:';
    defaults = { host: url.hostname, port: Number(url.port) || (tls ? 8443 : 8123), protocol: 'http', tls, database: config.CLICKHOUSE_DATABASE, username: config.CLICKHOUSE_USER };
  } else {
    // The embedded store keeps its tables in the engine's default database.
    defaults = { host: loopback(config.CLICKHOUSE_HTTP_HOST ?? config.HOST), port: config.CLICKHOUSE_HTTP_PORT || 8123, protocol: 'http', tls: false, database: 'default', username: 'default' };
  }
  const target = { ...defaults, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
  // A port given alone for the native protocol would still be the HTTP default otherwise.
  if (given.protocol === 'native' && given.port === undefined) target.port = target.tls ? 9440 : 9000;
  return target;
}

/** Grafana provisioning: the two data sources and a file provider for the dashboards folder. */
export function provisioning(options: { prometheusUrl: string; clickhouse: ClickHouseTarget }) {
  const ch = options.clickhouse;
  return {
    'provisioning/datasources/driftwatch.yaml': stringify({
      apiVersion: 1,
      datasources: [
        { name: 'driftwatch Prometheus', uid: PROMETHEUS.uid, type: 'prometheus', access: 'proxy', url: options.prometheusUrl },
        {
          name: 'driftwatch ClickHouse',
          uid: CLICKHOUSE.uid,
          type: 'grafana-clickhouse-datasource',
          jsonData: { host: ch.host, port: ch.port, protocol: ch.protocol, secure: ch.tls, defaultDatabase: ch.database, username: ch.username },
          // Grafana fills this in from its environment: a driftwatch key with
          // the read scope (or the server's password); empty without keys.
          secureJsonData: { password: '$DRIFTWATCH_CLICKHOUSE_PASSWORD' },
        },
      ],
    }),
    'provisioning/dashboards/driftwatch.yaml': stringify({
      apiVersion: 1,
      providers: [{ name: 'driftwatch', folder: 'driftwatch', type: 'file', options: { path: '/var/lib/grafana/dashboards/driftwatch' } }],
    }),
  };
}

/** The defaults of an embedded store with no settings: what is committed under grafana/. */
const EMBEDDED_DEFAULT = clickhouseTarget({ CLICKHOUSE_USER: 'default', CLICKHOUSE_DATABASE: 'driftwatch', HOST: '127.0.0.1' });

/** Files `driftwatch dashboards` writes, relative to its output folder. */
export function dashboardFiles(clickhouse: ClickHouseTarget = EMBEDDED_DEFAULT, prometheusUrl = 'http://localhost:9090'): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, build] of Object.entries(DASHBOARDS)) files[`dashboards/${name}.json`] = JSON.stringify(build(), null, 2) + '\n';
  Object.assign(files, provisioning({ prometheusUrl, clickhouse }));
  return files;
}
