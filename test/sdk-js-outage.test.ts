import { describe, expect, it } from 'vitest';
import { DriftwatchClient, type Drop } from '../clients/js/src/index.ts';
import { openStore } from '../store/open.ts';
import { tempDir, testConfig } from './helpers.ts';
import { freePort, spawnService, waitFor } from './kafka-helpers.ts';

// Issue 20 item 3: 100,000 events sent while the service is stopped for 10 s
// and started again arrive exactly once by event_id, or are counted as
// dropped by the overflow policy; never lost silently.

const TOTAL = 100_000;
const PER_TICK = 500;
const TICK_MS = 100; // 5,000 events a second per client: 20 s of sending

describe('the TypeScript client across a stop and restart of the service', () => {
  it('delivers 100,000 events exactly once, or counts each one it dropped', async () => {
    const dir = tempDir();
    const env = { DATA_DIR: dir.path, PORT: String(await freePort()) };
    let service = await spawnService(env);
    const url = service.url;
    // One client holds everything the outage piles up; the other may hold 5,000 and drops the oldest.
    const keeps = new DriftwatchClient({ url, maxQueueItems: TOTAL });
    const drops: Drop[] = [];
    const dropping = new DriftwatchClient({ url, maxQueueItems: 5_000, overflow: 'drop_oldest', onDropped: (d) => drops.push(d) });
    const now = Date.now();
    let sent = 0;
    const sending = (async () => {
      while (sent < TOTAL) {
        for (let i = sent; i < sent + PER_TICK; i++) {
          const event = { model: '', timestamp: now + (i % 60_000), features: { x: i % 97, c: i % 2 ? 'a' : 'b' }, prediction: i % 2 };
          keeps.log({ ...event, event_id: `k${i}`, model: 'js-outage-keep' });
          dropping.log({ ...event, event_id: `d${i}`, model: 'js-outage-drop' });
        }
        sent += PER_TICK;
        await new Promise((r) => setTimeout(r, TICK_MS));
      }
    })();
    try {
      await waitFor(async () => sent >= 15_000, 60_000, 'the first 15,000 events');
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
      const stoppedAt = sent;
      await new Promise((r) => setTimeout(r, 10_000));
      expect(sent).toBeGreaterThan(stoppedAt); // the clients took events all through the outage
      expect(keeps.stats().retries).toBeGreaterThan(0);
      service = await spawnService(env);
      await sending;
      expect(await keeps.flush(240_000)).toBe(true);
      expect(await dropping.flush(240_000)).toBe(true);
      const kept = keeps.stats().events;
      expect(kept).toMatchObject({ sent: TOTAL, rejected: 0, dropped: { queue_full: 0, close_timeout: 0 } });
      const dropped = drops.flatMap((d) => d.ids);
      const left = dropping.stats().events;
      expect(dropped.length).toBeGreaterThan(0);
      expect(left.dropped.queue_full).toBe(dropped.length);
      expect(left.sent + dropped.length).toBe(TOTAL);
      await keeps.close();
      await dropping.close();
      service.child.kill('SIGTERM');
      expect(await service.exited).toBe(0);
    } finally {
      service.child.kill('SIGKILL');
      await sending;
    }

    // What the store holds, read from the data folder once the service is gone.
    const sql = await openStore(testConfig({ DATA_DIR: dir.path }));
    try {
      const count = async (model: string) => {
        const [row] = await sql.query<{ rows: number; ids: number }>('SELECT count() AS rows, uniqExact(event_id) AS ids FROM events FINAL WHERE model = {m:String}', { m: model });
        return { rows: Number(row.rows), ids: Number(row.ids) };
      };
      expect(await count('js-outage-keep')).toEqual({ rows: TOTAL, ids: TOTAL });
      const ids = new Set((await sql.query<{ event_id: string }>("SELECT event_id FROM events FINAL WHERE model = 'js-outage-drop'")).map((r) => r.event_id));
      const droppedIds = new Set(drops.flatMap((d) => d.ids));
      // Every event is either stored or reported dropped, and never both.
      expect(ids.size + droppedIds.size).toBe(TOTAL);
      const both = [...droppedIds].filter((id) => ids.has(id));
      expect(both).toEqual([]);
    } finally {
      await sql.close();
      dir.remove();
    }
  }, 600_000);
});
