import type { Sql } from './sql.ts';
import { keptByHash, sampledEventsOf, WINDOW_SQL, windowParams, type Window } from './window.ts';

/**
 * The in-database side of multivariate drift (analyzers/multivariate/):
 * joint rows of numeric features sampled from a range, and a window's mean
 * reconstruction error against a frozen PCA, both computed where the events
 * are.
 *
 * Rows are sampled by a hash of the event id, as the KS reference sample is,
 * so the same stored events always give the same rows. A feature's value is
 * read by its position in the bound feature list (`F[i]`): the SQL text holds
 * only positions, never names, and a map subscript with a constant key is a
 * plain scan of the row's own entries, where a lambda over the feature list
 * would copy the row's map once per feature.
 */
const keepFor = (total: number, max: number) => (total <= max ? 1_000_000 : Math.max(1, Math.floor((max / total) * 1_000_000)));

const SAMPLED = keptByHash('keep');

/**
 * Up to `max` events of the range as rows of the listed numeric features, in
 * list order; null where an event lacks the feature (or sent it as a string).
 * `total` is the range's event count (the inventory has it): it sets the
 * sampled share.
 */
export async function sampleRows(sql: Sql, w: Window, features: readonly string[], total: number, max: number): Promise<(number | null)[][]> {
  if (features.length === 0 || total === 0) return [];
  const values = features.map((_, i) => `if(mapContains(num, F[${i + 1}]), num[F[${i + 1}]], NULL)`).join(', ');
  const keep = keepFor(total, max);
  const rows = await sql.query<{ x: (number | null)[] }>(
    `WITH {features:Array(String)} AS F
     SELECT [${values}] AS x FROM ${sampledEventsOf(w, keep)}
     WHERE ${WINDOW_SQL} AND ${SAMPLED}
     ORDER BY cityHash64(event_id) LIMIT {max:UInt64}`,
    { ...windowParams(w), features, keep, max },
  );
  return rows.map((r) => r.x);
}

/** What the engine needs of a frozen PCA: per feature its mean and std, and the kept components (unit rows of length features). */
export interface Projection {
  features: readonly string[];
  mean: readonly number[];
  std: readonly number[];
  components: readonly (readonly number[])[];
}

export interface WindowError {
  /** Rows the error was averaged over (the window's events, sampled down to `max`). */
  n: number;
  /** Mean reconstruction error over them; null without rows, or when it overflowed (NaN). */
  mean: number | null;
}

/**
 * The mean reconstruction error of a window's events (sampled down to about
 * `max`): each event standardized with the frozen means and stds (a missing
 * value imputed with the mean, so 0), projected on the frozen components, and
 * its Euclidean distance to that projection averaged. The components are
 * orthonormal, so the distance is sqrt(|x|^2 - sum_j (x . c_j)^2) and the
 * reconstruction itself is never formed.
 */
export async function windowReconstructionError(sql: Sql, w: Window, p: Projection, total: number, max: number): Promise<WindowError> {
  if (total === 0 || p.features.length === 0) return { n: 0, mean: null };
  const x = p.features.map((_, i) => `if(mapContains(num, F[${i + 1}]), (num[F[${i + 1}]] - M[${i + 1}]) / S[${i + 1}], 0)`).join(', ');
  const projected = p.components.map((_, j) => `pow(dotProduct(x, C[${j + 1}]), 2)`).join(' + ');
  const keep = keepFor(total, max);
  const [row] = await sql.query<{ n: number; mean: number | null }>(
    `WITH {features:Array(String)} AS F, {mean:Array(Float64)} AS M, {std:Array(Float64)} AS S, {components:Array(Array(Float64))} AS C
     SELECT count() AS n, if(n = 0, NULL, avg(error)) AS mean FROM (
       SELECT [${x}] AS x, sqrt(greatest(0, L2SquaredNorm(x) - (${projected || '0'}))) AS error
       FROM ${sampledEventsOf(w, keep)}
       WHERE ${WINDOW_SQL} AND ${SAMPLED})`,
    { ...windowParams(w), features: p.features, mean: p.mean, std: p.std, components: p.components, keep },
  );
  return { n: Number(row?.n ?? 0), mean: row?.mean ?? null };
}
