import { describe, expect, it } from 'vitest';
import { sumBinnedCounts } from '../../analyzers/binned-counts.ts';
import type { BinnedCounts } from '../../analyzers/drift.ts';

const part = (total: number, bins: number[], categories: [string, string, number][]): BinnedCounts => ({
  inventory: { total, features: [{ feature: 'x', kind: 'numeric', n: total }, { feature: 'c', kind: 'categorical', n: total }] },
  histograms: new Map([['x', bins]]),
  categories: categories.map(([feature, value, n]) => ({ feature, value, n })),
});

describe('sumBinnedCounts', () => {
  it('adds the parts: events, presence, bins, categories', () => {
    const sum = sumBinnedCounts([part(3, [1, 2, 0], [['c', 'a', 2], ['c', 'b', 1]]), part(4, [0, 1, 3], [['c', 'b', 3], ['c', 'z', 1]])], 3)!;
    expect(sum.inventory.total).toBe(7);
    expect(sum.inventory.features).toEqual([{ feature: 'c', kind: 'categorical', n: 7 }, { feature: 'x', kind: 'numeric', n: 7 }]);
    expect(sum.histograms.get('x')).toEqual([1, 3, 3]);
    expect(sum.categories).toEqual([{ feature: 'c', value: 'b', n: 4 }, { feature: 'c', value: 'a', n: 2 }, { feature: 'c', value: 'z', n: 1 }]);
  });

  it('keeps the cap after summing, ties broken by value in the bytes order the engine sorts by', () => {
    // U+FF5E sorts before U+1F600 as UTF-8 bytes, after it as UTF-16 code units.
    const sum = sumBinnedCounts([part(2, [2], [['c', '\u{1F600}', 1], ['c', 'a', 1]]), part(2, [2], [['c', '\uFF5E', 1], ['c', 'b', 1]])], 3)!;
    expect(sum.categories.map((c) => c.value)).toEqual(['a', 'b', '\uFF5E']);
  });

  it('answers null where a part lists as many categories of a feature as the cap: it may have left some out', () => {
    expect(sumBinnedCounts([part(3, [3], [['c', 'a', 2], ['c', 'b', 1]]), part(1, [1], [['c', 'q', 1]])], 2)).toBeNull();
    expect(sumBinnedCounts([part(3, [3], [['c', 'a', 2], ['c', 'b', 1]]), part(1, [1], [['c', 'q', 1]])], 3)).not.toBeNull();
  });

  it('refuses histograms of different bins', () => {
    expect(() => sumBinnedCounts([part(1, [1, 0], []), part(1, [1], [])], 5)).toThrow(/2 and 1 bins/);
  });
});
