/**
 * GET /drift/series on a month (issue 22 item 3): 30 days x 1M events a day
 * x 100 features (80 numeric with 10 bins, 20 categorical with 6 values) at
 * a 1-hour step: 720 steps x 100 features, from the pre-aggregates, with
 * the exactness check against the stored events (FINAL) included.
 *
 *   npm run bench:drift -- series [days=30] [events_per_day=1000000] [numeric=80] [categorical=20] [rounds=3]
 *
 * 3 billion feature values are more than this machine should generate to
 * time one query, and the query never reads them: it reads the
 * pre-aggregates and the events' sorting key. So the events are stored
 * without feature values (their keys, times and status, by the engine from
 * numbers()), and the pre-aggregates are synthesised by the engine to match
 * them exactly: per minute the events' own count, spread over every bin and
 * category, inserted into the minute tables so the hourly views fill as
 * they do at ingest. That is the row count and shape the insert-time views
 * produce for such events, not their values.
 *
 * Then the same series through the service over HTTP, as the UI and Grafana
 * ask for it: the route (its gate, the journal wait, the response schema's
 * serialiser) and gzip, to the last byte of the body.
 */
import type { Baseline, FeatureReference } from '../analyzers/baseline.ts';
import { driftSeries } from '../analyzers/drift-series.ts';
import { Preaggregates } from '../analyzers/preaggregates.ts';
import { parseConfig } from '../core/config.ts';
import { createMetrics } from '../core/metrics.ts';
import { startService, type Service } from '../cli/service.ts';
import { saveBaseline } from '../store/baselines.ts';
import { saveBackfill } from '../store/preagg-backfills.ts';
import { openStore } from '../store/open.ts';
import { registerTarget } from '../store/preagg-edges.ts';
import { tempDir, testConfig } from '../test/helpers.ts';

const args = process.argv.slice(3).map(Number);
const [days = 30, perDay = 1_000_000, numeric = 80, categorical = 20, rounds = 3] = args;
const DAY = 86_400_000;
const HOUR = 3_600_000;
const config = parseConfig({});
const dir = tempDir('driftwatch-bench-series-');
const sql = await openStore(testConfig({ DATA_DIR: dir.path }));
let service: Service | null = null;
const seconds = (t0: number) => (performance.now() - t0) / 1000;
const to = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
const from = to - days * DAY;
const EDGES = Array.from({ length: 11 }, (_, j) => j - 5);
const CATEGORIES = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];

try {
  const features: FeatureReference[] = [
    ...Array.from({ length: numeric }, (_, i): FeatureReference => ({
      name: `num_${i}`, kind: 'numeric', n: 1000, min: -5, max: 5, mean: 0, std: 1, edges: EDGES, counts: [0, ...EDGES.slice(1).map(() => 100), 0], sample_n: 0,
    })),
    ...Array.from({ length: categorical }, (_, i): FeatureReference => ({
      name: `cat_${i}`, kind: 'categorical', n: 600, counts: Object.fromEntries(CATEGORIES.map((c) => [c, 100])), other: 0,
    })),
  ];
  const baseline: Baseline = { baseline_id: '00000000-0000-4000-8000-0000000000b1', model: 'bench', created_at: Date.now(), from: from - DAY, to: from, n_events: 1000, features, performance: null };
  await saveBaseline(sql, baseline);

  let t0 = performance.now();
  for (let d = 0; d < days; d++) {
    await sql.command(
      `INSERT INTO events (model, event_id, model_version, ts)
       SELECT 'bench', concat('d', toString({d:UInt32}), '-', toString(number)), 'v1',
              fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number * {day:UInt64}, {n:UInt64})), 'UTC')
       FROM numbers({n:UInt64})`,
      { d, start: from + d * DAY, day: DAY, n: perDay },
    );
  }
  const eventsSeconds = seconds(t0);
  t0 = performance.now();
  const minutes = `SELECT toStartOfMinute(ts) AS t, count() AS m FROM events WHERE model = 'bench' GROUP BY t`;
  const id = `toUUID({id:String})`;
  const p = { id: baseline.baseline_id, numeric, categorical };
  // Day by day: each statement's GROUP BY stays a day's minutes.
  for (let d = 0; d < days; d++) {
    const day = minutes.replace(
      "WHERE model = 'bench'",
      "WHERE model = 'bench' AND ts >= fromUnixTimestamp64Milli({at:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({at:Int64} + 86400000, 'UTC')",
    );
    const q = { ...p, at: from + d * DAY };
    await sql.command(
      `INSERT INTO preagg_presence_1m (model, baseline_id, t, kind, feature, n)
       SELECT 'bench', ${id}, t, k.1, k.2, m FROM (${day})
       ARRAY JOIN arrayConcat([('events', '')], arrayMap(i -> ('numeric', concat('num_', toString(i))), range({numeric:UInt32})),
                              arrayMap(i -> ('categorical', concat('cat_', toString(i))), range({categorical:UInt32}))) AS k`,
      q,
    );
    await sql.command(
      `INSERT INTO preagg_num_1m (model, baseline_id, t, feature, bin, n)
       SELECT 'bench', ${id}, t, concat('num_', toString(f)), toUInt16(b), intDiv(m * (b + 1), 12) - intDiv(m * b, 12) FROM (${day})
       ARRAY JOIN range({numeric:UInt32}) AS f ARRAY JOIN range(12) AS b`,
      q,
    );
    await sql.command(
      `INSERT INTO preagg_cat_1m (model, baseline_id, t, feature, value, n)
       SELECT 'bench', ${id}, t, concat('cat_', toString(f)), ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'][c + 1], intDiv(m * (c + 1), 6) - intDiv(m * c, 6)
       FROM (${day}) ARRAY JOIN range({categorical:UInt32}) AS f ARRAY JOIN range(6) AS c`,
      q,
    );
  }
  const [rows] = await sql.query<{ n: number }>("SELECT (SELECT count() FROM preagg_num_1h) + (SELECT count() FROM preagg_cat_1h) + (SELECT count() FROM preagg_presence_1h) AS n");
  console.log(
    `${days} days x ${perDay.toLocaleString('en-US')} events/day x ${numeric + categorical} features: events stored in ${eventsSeconds.toFixed(1)} s, ` +
      `pre-aggregates in ${seconds(t0).toFixed(1)} s (${Number(rows.n).toLocaleString('en-US')} hourly rows)`,
  );

  const pre = new Preaggregates({ sql, metrics: createMetrics(), log: { info: () => {}, error: () => {} } }, { enabled: true, backfillMs: config.PREAGG_BACKFILL, maxCategories: config.MAX_CATEGORIES });
  // Registered only now: the views would otherwise have counted the events above as well.
  await registerTarget(sql, { model: 'bench', baselineId: baseline.baseline_id, numeric: features.filter((f) => f.kind === 'numeric').map((f) => ({ feature: f.name, edges: EDGES })), categorical: features.filter((f) => f.kind === 'categorical').map((f) => f.name) }, Date.now());
  const times: string[] = [];
  for (let r = 0; r < rounds; r++) {
    t0 = performance.now();
    const series = await driftSeries(sql, pre, baseline, { from, to, stepMs: HOUR, features: null }, { psiThreshold: 0.2, minWindowEvents: config.MIN_WINDOW_EVENTS, maxCategories: config.MAX_CATEGORIES, rawMaxSteps: 0 });
    const body = JSON.stringify(series);
    times.push(`${seconds(t0).toFixed(2)} s`);
    const sources = new Set(series.steps.map((s) => s.source));
    if (sources.size !== 1 || !sources.has('preaggregates')) throw new Error(`steps not all from the pre-aggregates: ${[...sources].join(', ')}`);
    if (r === 0) console.log(`${series.steps.length} steps x ${series.features.length} features, ${(body.length / 2 ** 20).toFixed(1)} MiB of JSON`);
  }
  console.log(`GET /drift/series at step 1h, computed and serialised: ${times.join(', ')}`);

  // Filled already: the route must not start a backfill over the events above.
  await saveBackfill(sql, { model: 'bench', baselineId: baseline.baseline_id, from, to, state: 'done', jobId: '', reason: '' }, Date.now());
  await sql.close();
  service = await startService(testConfig({ DATA_DIR: dir.path, PREAGGREGATES: 'on' }), { logger: false });
  const url = `${service.url}/v1/models/bench/drift/series?from=${from}&to=${to}&step=1h&baseline_id=${baseline.baseline_id}`;
  for (const encoding of ['gzip', 'identity']) {
    const http: string[] = [];
    for (let r = 0; r < rounds; r++) {
      t0 = performance.now();
      const response = await fetch(url, { headers: { 'accept-encoding': encoding } });
      const body = await response.arrayBuffer();
      http.push(`${seconds(t0).toFixed(2)} s`);
      if (response.status !== 200) throw new Error(`GET /drift/series answered ${response.status}: ${Buffer.from(body).toString().slice(0, 300)}`);
      const answer = JSON.parse(Buffer.from(body).toString()) as { steps: { source: string }[]; features: unknown[] };
      const sources = new Set(answer.steps.map((step) => step.source));
      if (answer.steps.length !== days * 24 || answer.features.length !== numeric + categorical || sources.size !== 1 || !sources.has('preaggregates')) {
        throw new Error(`GET /drift/series answered ${answer.steps.length} steps x ${answer.features.length} features from ${[...sources].join(', ')}`);
      }
    }
    console.log(`GET /drift/series over HTTP, accept-encoding ${encoding}, to the last byte: ${http.join(', ')}`);
  }
} finally {
  if (service) await service.close();
  else await sql.close();
  dir.remove();
}
