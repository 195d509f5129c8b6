import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriftReport } from '../analyzers/drift.ts';
import { AlertEngine } from '../alerts/engine.ts';
import { WebhookSender } from '../alerts/notify.ts';
import { parseRules } from '../alerts/rules.ts';
import { emptyResults } from '../alerts/signals.ts';
import { createMetrics } from '../core/metrics.ts';
import { alertHistory } from '../store/alerts.ts';
import { openStore } from '../store/open.ts';
import type { Sql } from '../store/sql.ts';
import { tempDir, testConfig } from './helpers.ts';
import { waitFor } from './kafka-helpers.ts';
import { startReceiver, type Receiver } from './prometheus-helpers.ts';

/** The alert engine on the real store: persistence across restarts, and webhooks that retry without blocking. */
const dir = tempDir();
let sql: Sql;
let receiver: Receiver;
beforeAll(async () => {
  sql = await openStore(testConfig({ DATA_DIR: dir.path }));
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
  await sql.close();
  dir.remove();
});

const W = 60_000;
const log = { error: () => undefined, warn: () => undefined };

function engine() {
  const metrics = createMetrics();
  const rules = parseRules(`
rules:
  - name: FeatureDrift
    metric: drift.psi
    threshold: 0.2
    resolve_threshold: 0.1
    for_windows: 2
    resolve_windows: 1
    webhook: {url: "${receiver.url}/hook"}
`);
  const webhooks = new WebhookSender({ metrics, log }, { maxQueue: 100, maxAttempts: 5, retry: { initialMs: 50, maxMs: 200 } });
  return { engine: new AlertEngine({ sql, metrics, log, alertmanager: null, webhooks }, rules), webhooks, metrics };
}

const window = (k: number) => ({ from: k * W, to: (k + 1) * W });
const results = (psi: Record<string, number>, model = 'm') => ({
  ...emptyResults(),
  drift: [{ model, features: Object.entries(psi).map(([feature, v]) => ({ feature, metrics: { psi: v }, status: 'ok' })) } as unknown as DriftReport],
});

describe('the alert engine', () => {
  it('survives a restart without losing a firing alert or firing it twice, and never evaluates a window twice', async () => {
    let { engine: e, webhooks } = engine();
    await e.start();
    await e.runWindow(window(1), results({ a: 0.5, b: 0.05 }));
    await e.runWindow(window(2), results({ a: 0.5, b: 0.05 }));
    expect(e.active().map((s) => [s.subject, s.status])).toEqual([['a', 'firing']]);
    await waitFor(async () => receiver.received.length === 1, 10_000, 'the firing webhook');
    await webhooks.close();

    // A new process: the state comes back from the store.
    ({ engine: e, webhooks } = engine());
    await e.start();
    expect(e.active().map((s) => [s.subject, s.status, s.fired_at])).toEqual([['a', 'firing', window(2).to]]);
    // The same window again (a crash between analysis and bookkeeping): nothing happens.
    expect(await e.runWindow(window(2), results({ a: 0.5 }))).toEqual([]);
    // Still bad: still firing, no second notice.
    expect(await e.runWindow(window(3), results({ a: 0.15 }))).toEqual([]);
    expect(e.active()[0].status).toBe('firing');
    // Good: resolved, told once.
    const events = await e.runWindow(window(4), results({ a: 0.05 }));
    expect(events.map((ev) => [ev.subject, ev.from_status, ev.to_status])).toEqual([['a', 'firing', 'resolved']]);
    await webhooks.idle();
    expect(receiver.received.map((r) => [r.body.status, r.body.labels.feature])).toEqual([
      ['firing', 'a'],
      ['resolved', 'a'],
    ]);
    const history = await alertHistory(sql, { from: 0, to: window(10).to, limit: 100 });
    expect(history.map((h) => h.to_status).reverse()).toEqual(['pending', 'firing', 'resolved']);
    await webhooks.close();
  });

  it('leaves alerts alone for a model its window has no results for', async () => {
    const { engine: e, webhooks } = engine();
    await e.start();
    await e.runWindow(window(20), results({ x: 0.5 }, 'other'));
    await e.runWindow(window(21), results({ x: 0.5 }, 'other'));
    // A window where model "other" was not analysed (its analysis failed): its alert stays firing.
    await e.runWindow(window(22), results({ y: 0.0 }, 'third'));
    expect(e.active().find((s) => s.model === 'other')?.status).toBe('firing');
    await webhooks.close();
  });

  it('retries a failing webhook with back-off, without holding up the analysis', async () => {
    receiver.received.length = 0;
    receiver.failNext(3);
    const { engine: e, webhooks, metrics } = engine();
    await e.start();
    const started = performance.now();
    await e.runWindow(window(30), results({ z: 0.9 }, 'hooked'));
    await e.runWindow(window(31), results({ z: 0.9 }, 'hooked'));
    expect(performance.now() - started).toBeLessThan(5_000);
    await webhooks.idle();
    expect(receiver.received.map((r) => [r.body.status, r.body.labels.model])).toEqual([['firing', 'hooked']]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/driftwatch_alert_notifications_total\{channel="webhook",outcome="retried"\} 3/);
    expect(text).toMatch(/driftwatch_alert_notifications_total\{channel="webhook",outcome="sent"\} 1/);
    await webhooks.close();
  });
});
