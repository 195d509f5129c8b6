import { byFeatureThenKind, type CategoryCount, type FeatureCount } from '../store/aggregates.ts';
import type { BinnedCounts } from './drift.ts';

/** Strings in the engine's order (bytes, as memcmp compares them), which UTF-16 comparison is not past the BMP. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * The counts of a window made of disjoint parts (its whole minutes from the
 * pre-aggregates, the seconds at its ends from raw events), as one read of
 * the whole window would give them; null when that cannot be known exactly.
 *
 * Each part lists at most `cap` categories per feature, so a part listing
 * exactly `cap` may have left some out: a category outside every part's
 * list can still be among the whole window's top `cap`. Such a window is
 * read whole instead. Below the cap a part lists all of its categories, and
 * the sum is exact; the result is then cut to `cap` per feature and ordered
 * as store/aggregates.ts categoryCounts orders it (feature, count
 * descending, value), which the drift report's lists follow.
 */
export function sumBinnedCounts(parts: readonly BinnedCounts[], cap: number): BinnedCounts | null {
  const listed = new Map<string, number>();
  for (const part of parts) {
    listed.clear();
    for (const c of part.categories) listed.set(c.feature, (listed.get(c.feature) ?? 0) + 1);
    for (const n of listed.values()) if (n >= cap) return null;
  }
  const presence = new Map<string, FeatureCount>();
  const histograms = new Map<string, number[]>();
  const categories = new Map<string, CategoryCount>();
  let total = 0;
  for (const part of parts) {
    total += part.inventory.total;
    for (const f of part.inventory.features) {
      const key = `${f.kind}\u0000${f.feature}`;
      const seen = presence.get(key);
      if (seen) seen.n += f.n;
      else presence.set(key, { ...f });
    }
    for (const [feature, counts] of part.histograms) {
      const sum = histograms.get(feature);
      if (!sum) histograms.set(feature, [...counts]);
      else if (sum.length !== counts.length) throw new Error(`histograms of ${feature} have ${sum.length} and ${counts.length} bins`);
      else for (let i = 0; i < counts.length; i++) sum[i] += counts[i];
    }
    for (const c of part.categories) {
      const key = `${c.feature}\u0000${c.value}`;
      const seen = categories.get(key);
      if (seen) seen.n += c.n;
      else categories.set(key, { ...c });
    }
  }
  const sorted = [...categories.values()].sort((a, b) => byBytes(a.feature, b.feature) || b.n - a.n || byBytes(a.value, b.value));
  const kept: CategoryCount[] = [];
  for (let i = 0, run = 0; i < sorted.length; i++) {
    run = i > 0 && sorted[i - 1].feature === sorted[i].feature ? run + 1 : 0;
    if (run < cap) kept.push(sorted[i]);
  }
  const features = [...presence.values()].sort(byFeatureThenKind);
  return { inventory: { total, features }, histograms, categories: kept };
}
