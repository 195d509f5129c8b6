import type { Sql } from './sql.ts';
import { eventsOf, keptByHash, keptOrAll, SAMPLE_PER_MILLION, sampledEventsOf, WINDOW_SQL, windowParams, windowSql, type Window } from './window.ts';

/**
 * The in-database side of drift analysis: every function here aggregates a
 * window of events inside ClickHouse and returns a few rows per feature, so
 * no event is ever pulled into JavaScript.
 */
export type { Window } from './window.ts';

const WINDOW = WINDOW_SQL;

const events = eventsOf;

/**
 * The window, marked `unique` when reading it without FINAL gives the same
 * rows as with it, so that every read of it can skip FINAL.
 *
 * FINAL merges the sorted parts of the range row by row to keep the newest
 * version of each (model, hour, event_id): on events ingested over HTTP
 * (many small parts whose event ids interleave) it made a scan of a window's
 * feature maps 2-3x as slow as the same scan without it (300k events, 7
 * parts: 1.8-2.4 s against 0.6-1.0 s), and a drift report scans its window
 * several times. Resent events are rare, so the question is asked once, by
 * counting the window's rows with FINAL and without (the filter's columns
 * only: 0.6 s there). Per event key, the rows read without FINAL are its
 * versions that pass the window's filter, with FINAL its newest version if
 * that one passes: never fewer. Equal totals therefore mean that every key
 * has no version in the window, or exactly one, its newest: the same rows
 * either way, whatever a read then computes from them.
 *   Events that arrive between the check and a later read of the same report
 * may be counted twice in it; the scheduler analyses a window once it has
 * closed, and a report is not one snapshot anyway (its statements run one
 * after another).
 */
export async function withoutDuplicates(sql: Sql, w: Window): Promise<Window> {
  // The same counts of events_sample, and of the events it should hold,
  // tell whether it holds them all (window.ts, SAMPLE_PER_MILLION): equal
  // deduplicated counts of a subset chosen by event id. Rows put into events
  // behind the insert (a partition attached by hand) make them differ, and
  // samples are then drawn from events as before.
  const [row] = await sql.query<{ stored: number; kept: number; kept_sampled: number; sample_stored: number; sample_kept: number }>(
    `WITH (SELECT tuple(count(), countIf(${SAMPLED_EVENTS})) FROM events FINAL WHERE ${WINDOW}) AS k
     SELECT (SELECT count() FROM events WHERE ${WINDOW}) AS stored, k.1 AS kept, k.2 AS kept_sampled,
            (SELECT count() FROM events_sample WHERE ${WINDOW}) AS sample_stored,
            (SELECT count() FROM events_sample FINAL WHERE ${WINDOW}) AS sample_kept`,
    { ...windowParams(w), sample_per_million: SAMPLE_PER_MILLION },
  );
  const sample = Number(row.sample_kept) !== Number(row.kept_sampled) ? undefined : Number(row.sample_stored) === Number(row.sample_kept) ? 'unique' : 'final';
  return { ...w, unique: Number(row.stored) === Number(row.kept), storedEvents: Number(row.kept), sample };
}

/** The events events_sample holds (bound with sample_per_million: SAMPLE_PER_MILLION). */
const SAMPLED_EVENTS = keptByHash('sample_per_million');

/**
 * Membership in the requested features and a feature's position among them,
 * both by hash: `has`/`indexOf` on the array would scan it for every
 * exploded map entry, which makes wide models quadratic in their width.
 */
const IN_FEATURES = (column: string) => `${column} IN (SELECT arrayJoin({features:Array(String)}))`;
const FEATURE_POSITION = (column: string) =>
  `transform(${column}, {features:Array(String)}, arrayEnumerate({features:Array(String)}), 0)`;

/**
 * The model's own output joins the features as one more drift target, named
 * PREDICTION: a numeric prediction (a score, a regression value) with the
 * numeric features, a string one (a predicted class) with the categorical.
 * Everything downstream then treats it like any feature.
 */
export const PREDICTION = '@prediction';
const NUM_KEYS = `arrayConcat(mapKeys(num), if(prediction_num IS NULL, [], ['${PREDICTION}']))`;
const NUM_VALUES = `arrayConcat(mapValues(num), if(prediction_num IS NULL, [], [assumeNotNull(prediction_num)]))`;
const CAT_KEYS = `arrayConcat(mapKeys(cat), if(prediction_cat IS NULL, [], ['${PREDICTION}']))`;
const CAT_VALUES = `arrayConcat(mapValues(cat), if(prediction_cat IS NULL, [], [assumeNotNull(prediction_cat)]))`;

/** Numeric values of one window as (feature, value) rows; restricted to the listed features. */
const numericValues = (w: Window) => `
  SELECT f AS feature, v AS value
  FROM ${events(w)}
  ARRAY JOIN ${NUM_KEYS} AS f, ${NUM_VALUES} AS v
  WHERE ${WINDOW} AND ${IN_FEATURES('f')}`;

/**
 * Bin index of `value` against a feature's frozen edges e0 < ... < ek:
 * 0 below e0, 1..k for [e0,e1) ... [e(k-1),ek] (the last inner bin closed),
 * k+1 above ek. The same expression bins the reference and every window.
 *
 * The edges of all features travel as one flat constant array, each feature's
 * padded to a power-of-two stride by repeating its last edge (harmless: the
 * count is capped at k, and values above the last edge take the first
 * branch). The count of edges <= value is a branch-free binary search of
 * log2(stride) steps, each a scalar lookup `F[base + c + step]`: indexing a
 * constant array by a row's position yields a scalar, where indexing a nested
 * array (one array of edges per feature) would copy that feature's edges into
 * every exploded row. At 100 features x 1M events: nested arrays 6.2 s,
 * eleven scalar comparisons 2.5 s, the binary search 1.6 s; same counts.
 */
const strideFor = (width: number) => 2 ** Math.ceil(Math.log2(Math.max(2, width)));

/** SELECT items ending in `bin`; they need `value`, `pos` and `base` (the feature's offset in F) in scope. */
const binColumns = (stride: number) => {
  // bin_ci = bin_c(i-1) + step when the entry `step` further on is still <= value; the last counts the entries <= value.
  const items: string[] = [];
  let count = '0';
  for (let step = stride / 2, i = 0; step >= 1; step /= 2, i++) {
    const name = `bin_c${i}`;
    items.push(`${count} + if(F[base + ${count} + ${step}] <= value, ${step}, 0) AS ${name}`);
    count = name;
  }
  items.push(`toUInt32(if(value > LAST[pos], K[pos] + 1, least(toUInt32(${count}), K[pos]))) AS bin`);
  return items.join(',\n              ');
};

/** Parameters for binColumns: flat padded edges, each feature's last edge and inner-bin count. */
function flatEdges(features: readonly string[], edges: Map<string, number[]>) {
  const stride = strideFor(Math.max(1, ...features.map((f) => edges.get(f)!.length)));
  const flat: number[] = [];
  for (const f of features) {
    const e = edges.get(f)!;
    for (let j = 0; j < stride; j++) flat.push(e[Math.min(j, e.length - 1)] ?? 0);
  }
  return {
    stride,
    params: {
      flat,
      last: features.map((f) => edges.get(f)!.at(-1) ?? 0),
      inner: features.map((f) => Math.max(0, edges.get(f)!.length - 1)),
    },
  };
}

export interface FeatureCount {
  feature: string;
  kind: 'numeric' | 'categorical' | 'missing';
  n: number;
}

/** Which features a window holds, of which kind, and how often each was present or null. */
export async function featureInventory(sql: Sql, w: Window): Promise<{ total: number; features: FeatureCount[] }> {
  // Three plain ARRAY JOIN counts and the event count, as branches of one
  // statement that the engine runs side by side: several times faster than
  // one query joining tagged tuples of all three, and the embedded store
  // runs statements one at a time, so four statements paid four starts.
  const count = (kind: FeatureCount['kind'], keys: string) =>
    `SELECT '${kind}' AS kind, f AS feature, count() AS n FROM ${events(w)} ARRAY JOIN ${keys} AS f WHERE ${WINDOW} GROUP BY f`;
  const rows = await sql.query<{ kind: FeatureCount['kind'] | 'events'; feature: string; n: number }>(
    `${count('numeric', NUM_KEYS)}
     UNION ALL ${count('categorical', CAT_KEYS)}
     UNION ALL ${count('missing', 'missing')}
     UNION ALL SELECT 'events' AS kind, '' AS feature, count() AS n FROM ${events(w)} WHERE ${WINDOW}`,
    windowParams(w),
  );
  let total = 0;
  const features: FeatureCount[] = [];
  for (const r of rows) {
    if (r.kind === 'events') total = Number(r.n);
    else features.push({ feature: r.feature, kind: r.kind, n: Number(r.n) });
  }
  features.sort(byFeatureThenKind);
  return { total, features };
}

/** The order of an inventory's features: by name, then kind. */
export const byFeatureThenKind = (a: FeatureCount, b: FeatureCount) =>
  a.feature < b.feature ? -1 : a.feature > b.feature ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0;

export interface NumericSummary {
  feature: string;
  n: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  quantiles: number[];
}

/** Exact quantiles (for bin edges) and moments per numeric feature. */
export async function numericSummaries(
  sql: Sql,
  w: Window,
  features: string[],
  bins: number,
): Promise<NumericSummary[]> {
  if (features.length === 0) return [];
  // Aggregate-function parameters must be literals; these levels come from an
  // integer the config schema bounded, never from a request.
  const levels = Array.from({ length: bins - 1 }, (_, i) => ((i + 1) / bins).toFixed(6)).join(', ');
  const rows = await sql.query<NumericSummary>(
    `SELECT feature, count() AS n, min(value) AS min, max(value) AS max, avg(value) AS mean,
            stddevPop(value) AS std, quantilesExact(${levels})(value) AS quantiles
     FROM (${numericValues(w)}) GROUP BY feature ORDER BY feature`,
    { ...windowParams(w), features },
  );
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/** Counts per frozen bin (see binColumns) for each numeric feature in a window. */
export async function numericHistograms(
  sql: Sql,
  w: Window,
  edges: Map<string, number[]>,
): Promise<Map<string, number[]>> {
  const features = [...edges.keys()];
  const out = new Map<string, number[]>();
  for (const [feature, e] of edges) out.set(feature, new Array(e.length + 1).fill(0));
  if (features.length === 0) return out;
  const { stride, params } = flatEdges(features, edges);
  // Features travel as their position in the list: the position both filters
  // (0 = not asked for) and groups, one hash lookup per exploded value
  // instead of a set lookup plus a string GROUP BY key (3.3 -> 2.4 s at 100
  // features x 1M events). The stride comes from a frozen baseline's edge
  // count (bounded by PSI_BINS), not from request input.
  const rows = await sql.query<{ pos: number; bin: number; n: number }>(
    `WITH {flat:Array(Float64)} AS F, {last:Array(Float64)} AS LAST, {inner:Array(UInt32)} AS K
     SELECT pos, bin, count() AS n FROM (
       SELECT ${FEATURE_POSITION('f')} AS pos, (pos - 1) * ${stride} AS base, v AS value,
              ${binColumns(stride)}
       FROM ${events(w)}
       ARRAY JOIN ${NUM_KEYS} AS f, ${NUM_VALUES} AS v
       WHERE ${WINDOW} AND pos > 0)
     GROUP BY pos, bin`,
    { ...windowParams(w), features, ...params },
  );
  for (const row of rows) out.get(features[Number(row.pos) - 1])![Number(row.bin)] = Number(row.n);
  return out;
}

export interface CategoryCount {
  feature: string;
  value: string;
  n: number;
}

/** The most frequent categories per categorical feature (at most `cap` each) in a window. */
export async function categoryCounts(sql: Sql, w: Window, features: string[], cap: number): Promise<CategoryCount[]> {
  if (features.length === 0) return [];
  const rows = await sql.query<CategoryCount>(
    `SELECT f AS feature, v AS value, count() AS n
     FROM ${events(w)}
     ARRAY JOIN ${CAT_KEYS} AS f, ${CAT_VALUES} AS v
     WHERE ${WINDOW} AND ${IN_FEATURES('f')}
     GROUP BY feature, value
     ORDER BY feature, n DESC, value
     LIMIT {cap:UInt64} BY feature`,
    { ...windowParams(w), features, cap },
  );
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

export interface KsRow {
  feature: string;
  d_statistic: number;
  /** The engine's exact p-value (method "exact"); null for "asymp", whose finite-n p-value the caller computes from D. */
  p_value: number | null;
  /** Wasserstein-1 distance between the same two samples (from the same sorted pass). */
  wasserstein: number;
  n_reference: number;
  n_current: number;
}

/**
 * Two-sample Kolmogorov-Smirnov statistic D and the exact Wasserstein-1
 * distance between a baseline's frozen sample and a window, per feature,
 * both from one sort of all values of both sides; for method "exact" also
 * the exact p-value of ClickHouse's kolmogorovSmirnovTest.
 */
export async function ksTests(
  sql: Sql,
  reference: ReferenceSample,
  w: Window,
  features: string[],
  method: 'exact' | 'asymp',
  /** Window values kept per million events, by a hash of the event id (1,000,000: all). */
  keepPerMillion = 1_000_000,
  /** Per feature, keep every k-th order statistic of a frozen sample (absent or 1: every value); see thinnedSample. */
  referenceEvery?: Map<string, number>,
): Promise<KsRow[]> {
  if (features.length === 0) return [];
  const thin = referenceEvery !== undefined && 'baselineId' in reference && features.some((f) => (referenceEvery.get(f) ?? 1) > 1);
  const ref = thin ? thinnedSample(reference.baselineId, features, referenceEvery) : referenceSource(reference);
  // One sort of the merged values gives both. The side a value comes from
  // rides in its float's lowest mantissa bit (cleared for the reference, set
  // for the window), so a plain Float64 sort merges both sides: 1.6x faster
  // than sorting (value, side) tuples. Running along it, one integer sum of
  // +m per reference value and -n per window value is n·m·(F - G), exact
  // (below 2^63 up to 3e9 values a side) where two running shares would round
  // at every step. Then
  // - W1 = the integral of |F - G|: the sum of |F - G| times the gap to the
  //   next value (the side bit moves a value by at most one ulp, W1 by at
  //   most one ulp of the largest value);
  // - D = max |F - G| over the points where the value (side bit cleared)
  //   changes, i.e. after all copies of a tied value, as scipy counts ties.
  // Both read the sum at the previous value as the sum here minus this
  // value's step, and the gap and the change as arrayDifference gives them
  // (0 at the first value), so no array is copied shifted by one.
  //   Values that differ only in their lowest mantissa bit count as tied
  //   (never the case for integers or float32 or decimal-rounded values).
  // kolmogorovSmirnovTest sorts both samples again, so it runs only where
  // its exact p-value is wanted (both samples at most 10,000 values).
  // Every value takes part: an earlier estimate from a subset chosen by
  // hashing the value kept or dropped all copies of a value together, and
  // came out 1,000x too large on discrete features. -0.0 becomes 0.0 first,
  // so the two zeros tie as they compare. (Arrays go into arrayMap side by
  // side: a lambda that captured one would copy it once per element.)
  // Features travel as their position in the list, as in numericHistograms.
  const exact = method === 'exact';
  const rows = await sql.query<{ pos: number; ks: { p_value: number } | null; n_reference: number; n_current: number; d_statistic: number; wasserstein: number }>(
    `SELECT pos, ks, n_reference, n_current, d_statistic, wasserstein FROM (
       SELECT pos, ${exact ? "kolmogorovSmirnovTest('two-sided', 'exact')(value, sample)" : 'NULL'} AS ks,
              countIf(sample = 0) AS n_reference, countIf(sample = 1) AS n_current,
              arraySort(groupArray(reinterpretAsFloat64(bitOr(bitAnd(reinterpretAsUInt64(if(value = 0, 0., value)), bitNot(toUInt64(1))), toUInt64(sample))))) AS v,
              arrayMap(x -> if(bitAnd(reinterpretAsUInt64(x), toUInt64(1)) = 0, toInt64(n_current), -toInt64(n_reference)), v) AS step,
              arrayCumSum(step) AS nm_f_minus_g,
              arrayDifference(arrayMap(x -> bitAnd(reinterpretAsUInt64(x), bitNot(toUInt64(1))), v)) AS value_changed,
              arrayMax(arrayMap((d, s, changed) -> if(changed != 0, abs(d - s), 0), nm_f_minus_g, step, value_changed))
                / (n_reference * n_current) AS d_statistic,
              arraySum(arrayMap((d, s, gap) -> abs(d - s) * gap, nm_f_minus_g, step, arrayDifference(v)))
                / (n_reference * n_current) AS wasserstein
       FROM (
         SELECT ${FEATURE_POSITION('feature')} AS pos, value, 0 AS sample FROM (${ref.sql})
         WHERE pos > 0
         UNION ALL
         SELECT ${FEATURE_POSITION('f')} AS pos, v AS value, 1 AS sample
         FROM ${sampledEventsOf(w, keepPerMillion)} ARRAY JOIN ${NUM_KEYS} AS f, ${NUM_VALUES} AS v
         -- Every version of an event has its id, so sampling before FINAL merges keeps or drops them together.
         PREWHERE ${keptOrAll('keep')}
         WHERE ${WINDOW} AND pos > 0
       )
       GROUP BY pos
       HAVING n_reference > 0 AND n_current > 0)`,
    { ...windowParams(w), features, ...ref.params, keep: keepPerMillion },
  );
  return rows.map((r) => ({
    feature: features[Number(r.pos) - 1],
    d_statistic: r.d_statistic,
    p_value: r.ks?.p_value ?? null,
    wasserstein: r.wasserstein,
    n_reference: Number(r.n_reference),
    n_current: Number(r.n_current),
  }));
}

/**
 * Where a baseline's KS reference values come from: the sample frozen into
 * baseline_sample_chunks (baseline_samples for baselines frozen before
 * schema version 10), or, for a baseline built in memory to compare two ranges
 * (never stored), the same sample drawn from the reference range's events
 * each time it is read. The draw is by a hash of the event id, so both give
 * the same values for the same stored events.
 */
export type ReferenceSample = { baselineId: string } | { window: Window; features: string[]; keepPerMillion: number };

/**
 * A range's sampled numeric values as (feature, value) rows, its parameters
 * named with `prefix`. The events are kept or dropped before their maps are
 * exploded, and not hashed at all when every one is kept: hashing each
 * exploded value's event id took about a fifth of a freeze (1M events x 16
 * features).
 */
const sampledValues = (prefix: string, w: Window) => `
  SELECT f AS feature, v AS value
  FROM ${events(w)}
  ARRAY JOIN ${NUM_KEYS} AS f, ${NUM_VALUES} AS v
  PREWHERE ${keptOrAll(`${prefix}keep`)}
  WHERE ${windowSql(prefix)} AND f IN (SELECT arrayJoin({${prefix}features:Array(String)}))`;

/** A baseline's sample frozen as one row per value, before schema version 10: (feature, value) rows, none for a newer baseline. */
const LEGACY_SAMPLE = 'SELECT feature, value FROM baseline_samples WHERE baseline_id = {baseline:UUID}';

/** A frozen baseline's sample as (feature, value) rows: its chunks, or its rows from before the chunks (never both). */
const FROZEN_SAMPLE = `
  SELECT feature, arrayJoin(values) AS value FROM baseline_sample_chunks WHERE baseline_id = {baseline:UUID}
  UNION ALL ${LEGACY_SAMPLE}`;

/**
 * A frozen sample thinned to every k-th order statistic per feature (k from
 * `every`, 1 where absent): the scheduler's bound on the reference side of
 * KS and Wasserstein (KS_WINDOW_SAMPLE_MAX), which would otherwise sort a
 * whole BASELINE_SAMPLE_MAX sample every window, however small the window.
 * Chunks are sorted, so the kept values are evenly spaced quantiles of the
 * sample: the thinned ECDF is within k/m (1 / the kept count) of the full
 * one at every point, so D moves by at most that, where a random subset of
 * the same size would move it by about 1/sqrt(kept). Baselines frozen as one
 * row per value (before schema version 10) carry no order and are read whole.
 */
function thinnedSample(baselineId: string, features: string[], every: Map<string, number>) {
  return {
    sql: `
      SELECT feature, arrayJoin(arrayFilter((x, i) -> ((chunk - 1) * {chunk_size:UInt64} + i) % k = 0, values, arrayEnumerate(values))) AS value
      FROM (SELECT feature, chunk, values, transform(feature, {every_features:Array(String)}, {every_k:Array(UInt64)}, toUInt64(1)) AS k
            FROM baseline_sample_chunks WHERE baseline_id = {baseline:UUID})
      UNION ALL ${LEGACY_SAMPLE}`,
    params: {
      baseline: baselineId,
      chunk_size: SAMPLE_CHUNK,
      every_features: features,
      every_k: features.map((f) => Math.max(1, Math.floor(every.get(f) ?? 1))),
    },
  };
}

/** Values a sample chunk holds at most: a few MB a row, whatever BASELINE_SAMPLE_MAX allows. */
const SAMPLE_CHUNK = 1_048_576;

function referenceSource(reference: ReferenceSample): { sql: string; params: Record<string, unknown> } {
  if ('baselineId' in reference) return { sql: FROZEN_SAMPLE, params: { baseline: reference.baselineId } };
  return {
    sql: sampledValues('ref_', reference.window),
    params: { ...windowParams(reference.window, 'ref_'), ref_features: reference.features, ref_keep: reference.keepPerMillion },
  };
}

/**
 * Copies a sample of the reference range's numeric values into
 * baseline_sample_chunks, sorted per feature and cut into chunks: a few
 * rows, where one row per value made the engine sort and write millions
 * (4.1 of a 7-9 s freeze at 1M events x 15 features). The sort is the
 * arrays' own (arraySort), in memory: the sample is held once, as the KS
 * reads of it hold it anyway.
 */
export async function freezeSample(
  sql: Sql,
  baselineId: string,
  w: Window,
  features: string[],
  keepPerMillion: number,
  /** Values per chunk row; smaller only in tests. */
  chunk = SAMPLE_CHUNK,
): Promise<void> {
  if (features.length === 0) return;
  const source = referenceSource({ window: w, features, keepPerMillion });
  await sql.command(
    `INSERT INTO baseline_sample_chunks (baseline_id, feature, chunk, values)
     SELECT {baseline:UUID}, feature, chunk, values FROM (
       SELECT feature, arrayMap(c -> arraySlice(sorted, c * {chunk:UInt32} + 1, {chunk:UInt32}), range(intDiv(length(sorted) + {chunk:UInt32} - 1, {chunk:UInt32}))) AS chunks
       FROM (SELECT feature, arraySort(groupArray(value)) AS sorted FROM (${source.sql}) GROUP BY feature))
     ARRAY JOIN chunks AS values, arrayEnumerate(chunks) AS chunk`,
    { ...source.params, baseline: baselineId, chunk },
  );
}

/** How many values each feature's reference sample holds. */
export async function sampleCounts(sql: Sql, reference: ReferenceSample): Promise<Map<string, number>> {
  if (!('baselineId' in reference) && reference.features.length === 0) return new Map();
  // A frozen sample's chunks are counted by their lengths, not unrolled.
  let source: { sql: string; params: Record<string, unknown> };
  if ('baselineId' in reference) {
    source = {
      sql: `SELECT feature, length(values) AS n FROM baseline_sample_chunks WHERE baseline_id = {baseline:UUID}
            UNION ALL SELECT feature, 1 AS n FROM (${LEGACY_SAMPLE})`,
      params: { baseline: reference.baselineId },
    };
  } else {
    const drawn = referenceSource(reference);
    source = { sql: `SELECT feature, 1 AS n FROM (${drawn.sql})`, params: drawn.params };
  }
  const rows = await sql.query<{ feature: string; n: number }>(`SELECT feature, sum(n) AS n FROM (${source.sql}) GROUP BY feature`, source.params);
  return new Map(rows.map((r) => [r.feature, Number(r.n)]));
}

/** The most frequent values of a tag in a window: the segments worth analysing. */
export async function topTagValues(sql: Sql, w: Window, tag: string, cap: number): Promise<{ value: string; n: number }[]> {
  const rows = await sql.query<{ value: string; n: number }>(
    `SELECT tags[{tag:String}] AS value, count() AS n FROM ${events(w)}
     WHERE ${WINDOW} AND mapContains(tags, {tag:String})
     GROUP BY value ORDER BY n DESC, value LIMIT {cap:UInt32}`,
    { ...windowParams(w), tag, cap },
  );
  return rows.map((r) => ({ value: r.value, n: Number(r.n) }));
}
