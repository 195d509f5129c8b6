import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { boundedSql, QueryCancelledError, QueryTimeoutError } from '../store/bounded.ts';
import type { QueryOptions, Sql } from '../store/sql.ts';
import { openStore } from '../store/open.ts';
import { backends, event, seeded, tempDir, testConfig } from './helpers.ts';

// One data folder for the file: chDB binds one per process.
const dir = tempDir();
afterAll(() => dir.remove());

// Minutes of work for the engine when nothing stops it (two cores: 1e11 hashes).
const ENDLESS = 'SELECT count() AS n FROM numbers(100000000000) WHERE sipHash64(number) % 7 = 3';

describe.each(backends())('a bounded store: $name', ({ open }) => {
  let sql: Sql;
  beforeAll(async () => {
    sql = await open(dir.path);
  });
  afterAll(async () => {
    await sql.close();
  });

  it('stops a statement in the engine at its time limit', async () => {
    const bounded = boundedSql(sql, { signal: new AbortController().signal, timeoutMs: 500 });
    const started = Date.now();
    const err = await bounded.query(ENDLESS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueryTimeoutError);
    // The engine said so (TIMEOUT_EXCEEDED), not a timer beside it.
    expect(String((err as Error).cause)).toMatch(/TIMEOUT_EXCEEDED|Timeout exceeded/);
    expect(Date.now() - started).toBeLessThan(20_000);
    // The store is free again: the statement is gone, not running on behind the answer.
    expect(await sql.query<{ x: number }>('SELECT 1 AS x')).toEqual([{ x: 1 }]);
  }, 60_000);

  it('adds the limit to a SETTINGS clause the statement already ends with', async () => {
    const bounded = boundedSql(sql, { signal: new AbortController().signal, timeoutMs: 500 });
    await expect(bounded.query(`${ENDLESS} SETTINGS max_threads = 1`)).rejects.toBeInstanceOf(QueryTimeoutError);
  }, 60_000);

  it('shares one deadline among the statements of a request', async () => {
    const bounded = boundedSql(sql, { signal: new AbortController().signal, timeoutMs: 1_500 });
    await expect(bounded.query('SELECT sleep(1) AS s')).resolves.toHaveLength(1);
    // 1.5 s in all: the second second is cut short.
    await expect(bounded.query('SELECT sleep(1) AS s')).rejects.toBeInstanceOf(QueryTimeoutError);
  }, 60_000);

  it('starts nothing once cancelled', async () => {
    const controller = new AbortController();
    const bounded = boundedSql(sql, { signal: controller.signal, timeoutMs: 10_000 });
    controller.abort();
    await expect(bounded.query('SELECT 1 AS x')).rejects.toBeInstanceOf(QueryCancelledError);
  });
});

describe('the embedded engine, one statement at a time', () => {
  let sql: Sql;
  beforeAll(async () => {
    sql = await openStore(testConfig({ DATA_DIR: dir.path }));
  });
  afterAll(async () => {
    await sql.close();
  });

  it('skips a statement cancelled while it waited behind a running one', async () => {
    await sql.command('CREATE TABLE IF NOT EXISTS gate_marks (x UInt8) ENGINE = MergeTree ORDER BY x');
    // Holds the engine for 2 s: the connection runs one statement at a time.
    const blocker = sql.query(`${ENDLESS} SETTINGS max_execution_time = 2`).catch(() => 'stopped');
    const controller = new AbortController();
    const queued = boundedSql(sql, { signal: controller.signal, timeoutMs: 30_000 }).command('INSERT INTO gate_marks SELECT 1');
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    await expect(queued).rejects.toBeInstanceOf(QueryCancelledError);
    expect(await blocker).toBe('stopped');
    // Had it run after the blocker, its row would be here.
    expect(await sql.query<{ n: number }>('SELECT count() AS n FROM gate_marks')).toEqual([{ n: 0 }]);
  }, 60_000);
});

/**
 * The real store under the gate, with a hand on the statements the gate
 * bounds (they carry a signal): held until released, or slowed, so that
 * slots stay taken and deadlines pass on cue.
 */
function handOnBounded() {
  const hand = {
    seen: [] as QueryOptions[],
    delayMs: 0,
    held: null as null | { promise: Promise<void>; release: () => void },
    hold() {
      let release!: () => void;
      const promise = new Promise<void>((r) => (release = r));
      hand.held = { promise, release: () => { hand.held = null; release(); } };
    },
  };
  const gate = async (options?: QueryOptions) => {
    if (!options?.signal) return;
    hand.seen.push(options);
    if (hand.held) await hand.held.promise;
    else if (hand.delayMs > 0) await new Promise((r) => setTimeout(r, hand.delayMs));
  };
  const wrap = (sql: Sql): Sql => ({
    backend: sql.backend,
    query: async (q, p, o) => (await gate(o), sql.query(q, p, o)),
    command: async (q, p, o) => (await gate(o), sql.command(q, p, o)),
    insertCompact: (t, c, r) => sql.insertCompact(t, c, r),
    insertRowBinary: (t, c, r) => sql.insertRowBinary(t, c, r),
    close: () => sql.close(),
  });
  return { hand, wrap };
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the analysis routes behind the gate', () => {
  const { hand, wrap } = handOnBounded();
  let service: Service;
  const drift = (init?: RequestInit, query = '') => fetch(`${service.url}/v1/models/gate/drift${query}`, init);
  const counted = async (outcome: string) => {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    return Number(new RegExp(`^driftwatch_query_gate_requests_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    service = await startService(
      testConfig({ DATA_DIR: dir.path, ANALYSIS_MAX_CONCURRENT: '2', ANALYSIS_TIMEOUT: '2s', MIN_WINDOW_EVENTS: '10' }),
      { logger: false, wrapSql: wrap },
    );
    const { normal } = seeded(3);
    const now = Date.now();
    const events = Array.from({ length: 400 }, (_, i) =>
      event({ model: 'gate', event_id: `g${i}`, timestamp: now - 240_000 + i * 500, features: { income: normal(50, 10), age: normal(40, 10) } }),
    );
    const sent = await fetch(`${service.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    expect(sent.status).toBe(200);
    const frozen = await fetch(`${service.url}/v1/models/gate/baselines`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: now - 300_000, to: now }),
    });
    expect(frozen.status).toBe(201);
    expect((await drift()).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    hand.held?.release();
    await service.close();
  });

  it('refuses requests beyond ANALYSIS_MAX_CONCURRENT at once with 503 and Retry-After, and ingest goes on', async () => {
    hand.seen.length = 0;
    hand.hold();
    // Three different requests: the same one would share the run in flight.
    const first = [drift(undefined, '?include=distributions'), drift(undefined, '?include=segment_tags')];
    await until(() => hand.seen.length === 2, 'two requests in their slots');
    const refused = await drift();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { code: string }).code).toBe('DW_BUSY');
    const ingest = await fetch(`${service.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([event({ model: 'other' })]) });
    expect(ingest.status).toBe(200);
    hand.held!.release();
    // Held past their deadline, they may end in DW_QUERY_TIMEOUT; they were admitted all the same.
    for (const response of await Promise.all(first)) expect(((await response.json()) as { code?: string }).code).not.toBe('DW_BUSY');
    expect((await drift()).status).toBe(200);
    expect(await counted('busy')).toBe(1);
  }, 60_000);

  it('answers 503 DW_QUERY_TIMEOUT once the statements of a request took ANALYSIS_TIMEOUT together', async () => {
    const before = await counted('timeout');
    hand.delayMs = 700; // each statement waits before it starts: a drift report runs several
    try {
      const response = await drift();
      expect(response.status).toBe(503);
      const body = (await response.json()) as { code: string; message: string };
      expect(body.code).toBe('DW_QUERY_TIMEOUT');
      expect(body.message).toContain('ANALYSIS_TIMEOUT');
    } finally {
      hand.delayMs = 0;
    }
    expect(await counted('timeout')).toBe(before + 1);
  }, 60_000);

  it('starts no further statement of a request whose client went away', async () => {
    hand.seen.length = 0;
    hand.hold();
    const client = new AbortController();
    const request = drift({ signal: client.signal }).catch(() => 'gone');
    await until(() => hand.seen.length === 1, 'the first statement of the request');
    client.abort();
    expect(await request).toBe('gone');
    await until(() => hand.seen[0].signal!.aborted, 'the request to be cancelled');
    hand.held!.release();
    await until(async () => (await counted('cancelled')) === 1, 'the request to end cancelled');
    // A drift report runs several statements; the one that was running was the last.
    expect(hand.seen).toHaveLength(1);
  }, 60_000);

  const post = (events: unknown[]) => fetch(`${service.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });

  it('answers identical requests in flight with one analysis, beyond the slots', async () => {
    hand.seen.length = 0;
    expect((await drift()).status).toBe(200);
    const statementsOfOne = hand.seen.length;
    expect(statementsOfOne).toBeGreaterThan(1);

    hand.seen.length = 0;
    const shared = await counted('shared');
    hand.hold();
    // Five pollers of one model and slots for two: without sharing, three would be refused.
    const polls = Array.from({ length: 5 }, () => drift());
    await until(async () => (await counted('shared')) === shared + 4, 'four requests to join the first');
    expect(hand.seen).toHaveLength(1);
    hand.held!.release();
    const answers = await Promise.all(polls);
    for (const a of answers) expect(a.status).toBe(200);
    expect(new Set(await Promise.all(answers.map((a) => a.text()))).size).toBe(1);
    // One analysis for the five.
    expect(hand.seen).toHaveLength(statementsOfOne);
  }, 60_000);

  it('does not share a run with a request that must see events acknowledged after the run began', async () => {
    const before = ((await (await drift()).json()) as { n_events: number }).n_events;
    hand.seen.length = 0;
    const shared = await counted('shared');
    hand.hold();
    const early = drift();
    await until(() => hand.seen.length === 1, 'the first request in its slot');
    // Acknowledged (journaled) after the first request arrived, inside the default window.
    expect((await post([event({ model: 'gate', event_id: 'late-1', timestamp: Date.now() - 1_000, features: { income: 50, age: 40 } })])).status).toBe(200);
    const late = drift();
    await until(() => hand.seen.length === 2, 'the later request in a run of its own');
    hand.held!.release();
    expect((await early).status).toBe(200);
    const answer = (await (await late).json()) as { n_events: number };
    expect(await counted('shared')).toBe(shared);
    expect(answer.n_events).toBe(before + 1);
  }, 60_000);

  it('cancels a shared run once the last of its clients has gone, not before', async () => {
    hand.seen.length = 0;
    const cancelled = await counted('cancelled');
    const shared = await counted('shared');
    hand.hold();
    const clients = [new AbortController(), new AbortController()];
    const requests = clients.map((c) => drift({ signal: c.signal }, '?include=segment_tags').catch(() => 'gone'));
    await until(async () => hand.seen.length === 1 && (await counted('shared')) === shared + 1, 'the second request to join the first');
    clients[0].abort();
    expect(await requests[0]).toBe('gone');
    // One client still waits: the run goes on.
    await new Promise((r) => setTimeout(r, 500));
    expect(hand.seen[0].signal!.aborted).toBe(false);
    clients[1].abort();
    expect(await requests[1]).toBe('gone');
    await until(() => hand.seen[0].signal!.aborted, 'the run to be cancelled');
    hand.held!.release();
    await until(async () => (await counted('cancelled')) === cancelled + 1, 'the run to end cancelled');
    expect(hand.seen).toHaveLength(1);
  }, 60_000);
});
