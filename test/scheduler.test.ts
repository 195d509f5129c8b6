import { describe, expect, it } from 'vitest';
import { startService } from '../cli/service.ts';
import { event, tempDir, testConfig } from './helpers.ts';

describe('the scheduler on its own clock', () => {
  it('analyses each closed window without being asked', async () => {
    const local = tempDir();
    const svc = await startService(testConfig({ DATA_DIR: local.path, ANALYSIS_ENABLED: 'true', ANALYSIS_WINDOW: '1s', ANALYSIS_GRACE: '200ms' }), { logger: false });
    try {
      const now = Date.now();
      const events = Array.from({ length: 300 }, (_, i) => event({ model: 'tick', event_id: `t${i}`, timestamp: now - 60_000 + i, features: { x: i } }));
      const response = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
      expect(response.status).toBe(200);
      const created = await fetch(`${svc.url}/v1/models/tick/baselines`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: now - 60_000, to: now - 59_000 }),
      });
      expect(created.status).toBe(201);
      const seen: number[] = [];
      svc.scheduler.onReport((r) => seen.push(r.to));
      const deadline = Date.now() + 10_000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen[1] - seen[0]).toBe(1000);
      const history = await (await fetch(`${svc.url}/v1/models/tick/drift/history`)).json();
      expect(history.windows.length).toBeGreaterThanOrEqual(2);
    } finally {
      await svc.close();
      local.remove();
    }
  });
});
