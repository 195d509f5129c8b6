import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeBaseline } from '../analyzers/baseline.ts';
import { computeDrift } from '../analyzers/drift.ts';
import { validateEvent, type EventRow } from '../core/event.ts';
import { featureInventory } from '../store/aggregates.ts';
import { getBaseline, activeBaseline } from '../store/baselines.ts';
import { countEvents, encodeEvents, EVENT_COLUMNS, insertEvents, insertLabels, listModels } from '../store/events.ts';
import { MIGRATIONS, migrate } from '../store/migrations.ts';
import type { Sql } from '../store/sql.ts';
import { backends, event, tempDir } from './helpers.ts';

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/stats-reference.json', import.meta.url), 'utf8'));
const NOW = Date.now();
const limits = { now: NOW, maxFeatures: 1000, maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 3_600_000 };

function row(overrides: Record<string, unknown>): EventRow {
  const checked = validateEvent(event(overrides), limits);
  if (!checked.ok) throw new Error(checked.reason);
  return checked.value;
}

for (const backend of backends()) {
  describe(`store: ${backend.name}`, () => {
    const dir = tempDir();
    let sql: Sql;
    beforeAll(async () => {
      sql = await backend.open(dir.path);
    });
    afterAll(async () => {
      await sql.close();
      dir.remove();
    });

    it('records every migration once and re-runs none', async () => {
      const versions = await sql.query<{ version: number }>('SELECT version FROM schema_migrations FINAL ORDER BY version');
      expect(versions.map((v) => Number(v.version))).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await migrate(sql)).toEqual([]);
    });

    it('stores an event sent twice once, in every query', async () => {
      const first = row({ model: 'dedupe', event_id: 'same', timestamp: NOW - 5000 });
      const other = row({ model: 'dedupe', event_id: 'other', timestamp: NOW - 4000 });
      await insertEvents(sql, [first, other]);
      await insertEvents(sql, [first]);
      await insertEvents(sql, [first, first]);
      expect(await countEvents(sql, 'dedupe', NOW - 60_000, NOW + 1)).toBe(2);
      const models = await listModels(sql);
      expect(models.find((m) => m.model === 'dedupe')?.events).toBe(2);
      const inventory = await featureInventory(sql, { model: 'dedupe', from: NOW - 60_000, to: NOW + 1 });
      expect(inventory.total).toBe(2);
      expect(inventory.features.find((f) => f.feature === 'amount')).toEqual({ feature: 'amount', kind: 'numeric', n: 2 });
    });

    it('stores RowBinary-encoded events and labels exactly as they were, whatever their strings and numbers', async () => {
      const long = 'ä'.repeat(200); // 400 bytes of UTF-8: a two-byte length prefix
      const odd: EventRow[] = [
        {
          model: 'binary', event_id: 'e-ünï-😀', model_version: '', ts: NOW - 3000,
          num: { tiny: 5e-324, big: 1.7976931348623157e308, neg: -0.1, int: 2 ** 53 },
          cat: { [long]: long, 'tab\tnew\nline': "quote' \"\\", empty: '' },
          missing: ['gone', 'ß'], prediction_num: null, prediction_cat: 'class ✓',
          scores: { 'class ✓': 0.75 }, latency_ms: null, tags: {},
        },
        {
          model: 'binary', event_id: 'x'.repeat(256), model_version: 'v2', ts: NOW - 2000,
          num: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}`, i / 7])), cat: {},
          missing: [], prediction_num: -1e-300, prediction_cat: null, scores: {}, latency_ms: 0, tags: { region: 'eu' },
        },
      ];
      await insertEvents(sql, odd);
      const back = await sql.query<Omit<EventRow, 'ts'> & { ms: number }>(
        `SELECT model, event_id, model_version, toUnixTimestamp64Milli(ts) AS ms, num, cat, missing,
                prediction_num, prediction_cat, scores, latency_ms, tags
         FROM events FINAL WHERE model = 'binary' ORDER BY ms`,
      );
      expect(back.map(({ ms, ...r }) => ({ ...r, ts: Number(ms) }))).toEqual(odd);
      await insertLabels(sql, [
        { model: 'binary', event_id: 'e-ünï-😀', label_num: null, label_cat: 'class ✓', ts: NOW - 1000 },
        { model: 'binary', event_id: 'x'.repeat(256), label_num: -2.5, label_cat: null, ts: NOW - 500 },
      ]);
      const labels = await sql.query<{ event_id: string; label_num: number | null; label_cat: string | null; ms: number }>(
        `SELECT event_id, label_num, label_cat, toUnixTimestamp64Milli(ts) AS ms FROM labels FINAL WHERE model = 'binary' ORDER BY ms`,
      );
      expect(labels.map((l) => ({ ...l, ms: Number(l.ms) }))).toEqual([
        { event_id: 'e-ünï-😀', label_num: null, label_cat: 'class ✓', ms: NOW - 1000 },
        { event_id: 'x'.repeat(256), label_num: -2.5, label_cat: null, ms: NOW - 500 },
      ]);
    });

    it('stores rows handed in as pieces as it stores them in one buffer, row boundaries anywhere, more pieces than one writev takes', async () => {
      const rows = Array.from({ length: 3000 }, (_, i) => row({ model: 'pieces', event_id: `p-${i}`, timestamp: NOW - 10_000 + i, features: { x: i / 3, c: `k${i % 7}` } }));
      const whole = Buffer.from(encodeEvents(rows));
      // Pieces that cut rows (and numbers) in the middle, some empty, 2,000+ of them: IOV_MAX is 1,024.
      const pieces: Uint8Array[] = [];
      for (let at = 0, n = 0; at < whole.length; n++) {
        const size = n % 5 === 0 ? 0 : 1 + ((n * 37) % 97);
        pieces.push(whole.subarray(at, at + size));
        at += size;
      }
      expect(pieces.length).toBeGreaterThan(2048);
      await sql.insertRowBinary('events', EVENT_COLUMNS, pieces);
      const back = await sql.query<{ event_id: string; x: number; c: string }>(`SELECT event_id, num['x'] AS x, cat['c'] AS c FROM events FINAL WHERE model = 'pieces'`);
      const byId = (list: { event_id: string; x: number; c: string }[]) => [...list].sort((p, q) => p.event_id.localeCompare(q.event_id));
      expect(byId(back)).toEqual(byId(rows.map((r) => ({ event_id: r.event_id, x: r.num.x, c: r.cat.c }))));
    });

    it('bins values against frozen edges exactly as documented, for any number of edges', async () => {
      // Edges of 2, 5, 11 and 17 values (strides 2, 8, 16, 32 in the flat array); values on, between, below and above them.
      const edgeSets: Record<string, number[]> = {
        e2: [0, 1],
        e5: [-2, -1, 0, 1, 2],
        e11: Array.from({ length: 11 }, (_, i) => i * 10),
        e17: Array.from({ length: 17 }, (_, i) => (i - 8) * 0.25),
      };
      const values = [-1000, -2, -1.5, -1, -0.25, 0, 0.1, 0.5, 1, 1.5, 2, 5, 10, 55, 95, 100, 1000];
      const rows = values.map((v, i) =>
        row({ model: 'bins', event_id: `b${i}`, timestamp: NOW - 2000 + i, features: Object.fromEntries(Object.keys(edgeSets).map((f) => [f, v])) }),
      );
      await insertEvents(sql, rows);
      const { numericHistograms } = await import('../store/aggregates.ts');
      const got = await numericHistograms(sql, { model: 'bins', from: NOW - 60_000, to: NOW + 1 }, new Map(Object.entries(edgeSets)));
      // The documented rule: 0 below e0; i for [e(i-1), e(i)); the last inner bin closed; k+1 above ek.
      const binOf = (e: number[], v: number) => (v > e.at(-1)! ? e.length : Math.min(e.filter((x) => x <= v).length, e.length - 1));
      for (const [feature, e] of Object.entries(edgeSets)) {
        const expected = new Array(e.length + 1).fill(0);
        for (const v of values) expected[binOf(e, v)]++;
        expect(got.get(feature), feature).toEqual(expected);
      }
    });

    it('keeps SQL metacharacters as data and binds every value', async () => {
      const nasty = "x'); DROP TABLE events; --";
      await insertEvents(sql, [
        row({ model: 'meta', event_id: nasty, timestamp: NOW - 3000, features: { [nasty]: 1.5, 'back\\slash': 'q"uote' }, tags: { [nasty]: nasty } }),
      ]);
      const rows = await sql.query<{ event_id: string; num: Record<string, number>; tags: Record<string, string>; cat: Record<string, string> }>(
        'SELECT event_id, num, cat, tags FROM events FINAL WHERE model = {model:String}',
        { model: 'meta' },
      );
      expect(rows).toEqual([{ event_id: nasty, num: { [nasty]: 1.5 }, cat: { 'back\\slash': 'q"uote' }, tags: { [nasty]: nasty } }]);
      expect(await countEvents(sql, "meta' OR 1=1 --", 0, NOW + 1)).toBe(0);
      expect(await countEvents(sql, 'meta', 0, NOW + 1)).toBe(1);
    });

    it('computes KS and Wasserstein in the database as scipy does', async () => {
      // Each fixture case becomes a model: reference values an hour ago, current values now.
      for (const [i, c] of fixtures.ks.entries()) {
        const model = `ks-${i}`;
        const refStart = NOW - 3_600_000;
        const curStart = NOW - 1_800_000;
        const rows = [
          ...c.reference.map((v: number, j: number) => row({ model, event_id: `r${j}`, timestamp: refStart + j, features: { x: v } })),
          ...c.current.map((v: number, j: number) => row({ model, event_id: `c${j}`, timestamp: curStart + j, features: { x: v } })),
        ];
        await insertEvents(sql, rows);
        const baseline = await freezeBaseline(sql, { model, from: refStart, to: curStart }, { bins: 10, maxCategories: 100, sampleMax: 1_000_000 });
        const report = await computeDrift(sql, baseline, { model, from: curStart, to: NOW }, { psiThreshold: 0.2, minWindowEvents: 1, maxCategories: 100 });
        const x = report.features.find((f) => f.feature === 'x')!;
        expect(x.n_reference).toBe(c.reference.length);
        expect(x.n_current).toBe(c.current.length);
        expect(Math.abs(x.metrics.ks_statistic - c.auto.statistic) / c.auto.statistic, c.name).toBeLessThan(1e-9);
        expect(Math.abs(x.metrics.wasserstein - c.wasserstein) / c.wasserstein, `${c.name} wasserstein`).toBeLessThan(1e-9);
        // Exact where scipy's method="auto" is exact, scipy's asymptotic (kstwo) elsewhere: same p-value.
        expect(Math.abs(x.metrics.ks_p_value - c.auto.p_value), c.name).toBeLessThan(1e-6);
      }
    });

    it('freezes a baseline that later events in its range do not change', async () => {
      const model = 'frozen';
      const from = NOW - 600_000;
      await insertEvents(sql, Array.from({ length: 500 }, (_, i) => row({ model, event_id: `a${i}`, timestamp: from + i, features: { v: i, c: i % 2 ? 'odd' : 'even' } })));
      const baseline = await freezeBaseline(sql, { model, from, to: from + 10_000 }, { bins: 4, maxCategories: 10, sampleMax: 1_000_000 });
      const v = baseline.features.find((f) => f.name === 'v');
      expect(v).toMatchObject({ kind: 'numeric', n: 500, min: 0, max: 499, sample_n: 500 });
      expect(v?.kind === 'numeric' && v.counts.reduce((a, b) => a + b, 0)).toBe(500);
      expect(v?.kind === 'numeric' && [v.counts[0], v.counts[v.counts.length - 1]]).toEqual([0, 0]);
      expect(baseline.features.find((f) => f.name === 'c')).toMatchObject({ kind: 'categorical', counts: { odd: 250, even: 250 }, other: 0 });
      // A late event inside the reference range arrives after freezing.
      await insertEvents(sql, [row({ model, event_id: 'late', timestamp: from + 5000, features: { v: 10_000, c: 'new' } })]);
      const again = await getBaseline(sql, model, baseline.baseline_id);
      expect(again).toEqual(baseline);
      expect((await activeBaseline(sql, model))?.baseline_id).toBe(baseline.baseline_id);
    });

    it('samples the frozen KS reference down to the cap', async () => {
      const model = 'capped';
      const from = NOW - 900_000;
      await insertEvents(sql, Array.from({ length: 20_000 }, (_, i) => row({ model, event_id: `s${i}`, timestamp: from + i, features: { v: i } })));
      const baseline = await freezeBaseline(sql, { model, from, to: from + 20_000 }, { bins: 10, maxCategories: 10, sampleMax: 2_000 });
      const v = baseline.features.find((f) => f.name === 'v');
      expect(v?.kind === 'numeric' && v.n).toBe(20_000);
      const sampled = v?.kind === 'numeric' ? v.sample_n : 0;
      expect(sampled).toBeGreaterThan(1_700);
      expect(sampled).toBeLessThan(2_300);
    });
  });
}

describe('store: embedded data survives a restart', () => {
  it('reopens the same folder with its rows and schema', async () => {
    const dir = tempDir();
    const [embedded] = backends();
    let sql = await embedded.open(dir.path);
    await insertEvents(sql, [row({ model: 'persist', event_id: 'p1', timestamp: NOW - 1000 })]);
    await sql.close();
    sql = await embedded.open(dir.path);
    try {
      expect(await countEvents(sql, 'persist', 0, NOW + 1)).toBe(1);
      expect(await migrate(sql)).toEqual([]);
    } finally {
      await sql.close();
      dir.remove();
    }
  });
});
