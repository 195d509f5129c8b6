import type { FeatureRow } from '../shadow/encode.ts';
import type { RowResult } from '../shadow/model.ts';
import { mulberry32 } from '../../core/random.ts';

/**
 * Permutation importance of a model's inputs on a sample of events: shuffle
 * one feature's values across the sample (its absence travels with it), run
 * the model again, and measure how far the output moves from the unshuffled
 * one. For a score, the mean absolute change; for a class, the share of
 * events whose class changes. A feature the model does not read moves
 * nothing and gets 0. Pure apart from `predict`: the seeded shuffles make the
 * same sample give the same importances every time.
 */
export type PermutationOutput = 'score' | 'class';

export interface PermutationResult {
  /** Per feature, the mean output change (score) or disagreement share (class), averaged over the repeats. */
  raw: Record<string, number>;
  /** Events of the sample the model scored unshuffled. */
  n: number;
  output: PermutationOutput;
}

/** Shuffles per feature, averaged: one more run of the sample each; three keeps a 2,000-event estimate steady. */
export const PERMUTATION_REPEATS = 3;

/** FNV-1a of the name: each feature's shuffles depend on its name only, not on where it is listed. */
function seedOf(name: string, repeat: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h ^ Math.imul(repeat + 1, 0x9e3779b1)) >>> 0;
}

function shuffled(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** The rows with `feature` taken from row order[i] (or absent where that row lacks it). */
function permute(rows: readonly FeatureRow[], feature: string, order: readonly number[]): FeatureRow[] {
  return rows.map((row, i) => {
    const from = rows[order[i]];
    const num = { ...row.num };
    const cat = { ...row.cat };
    delete num[feature];
    delete cat[feature];
    if (Object.hasOwn(from.num, feature)) num[feature] = from.num[feature];
    if (Object.hasOwn(from.cat, feature)) cat[feature] = from.cat[feature];
    return { num, cat };
  });
}

const change = (output: PermutationOutput, a: RowResult, b: RowResult): number | null => {
  if (!a.ok || !b.ok) return null;
  if (output === 'class') return a.prediction.cls === b.prediction.cls ? 0 : 1;
  return Math.abs((a.prediction.score ?? 0) - (b.prediction.score ?? 0));
};

export async function permutationImportance(
  sample: readonly FeatureRow[],
  features: readonly string[],
  output: PermutationOutput,
  predict: (rows: readonly FeatureRow[]) => Promise<RowResult[]>,
  repeats = PERMUTATION_REPEATS,
): Promise<PermutationResult> {
  const base = await predict(sample);
  // Only events the model scored unshuffled: a skipped one has nothing to move from.
  const rows = sample.filter((_, i) => base[i].ok);
  const reference = base.filter((r) => r.ok);
  const raw: Record<string, number> = {};
  for (const feature of features) {
    let sum = 0;
    let n = 0;
    if (!rows.some((r) => Object.hasOwn(r.num, feature) || Object.hasOwn(r.cat, feature))) {
      raw[feature] = 0;
      continue;
    }
    for (let k = 0; k < repeats; k++) {
      const moved = await predict(permute(rows, feature, shuffled(rows.length, mulberry32(seedOf(feature, k)))));
      for (let i = 0; i < rows.length; i++) {
        const d = change(output, reference[i], moved[i]);
        if (d === null) continue;
        sum += d;
        n += 1;
      }
    }
    raw[feature] = n > 0 ? sum / n : 0;
  }
  return { raw, n: rows.length, output };
}
