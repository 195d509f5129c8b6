import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prometheusRules } from '../alerts/prometheus.ts';
import { loadRules } from '../alerts/rules.ts';
import { startService, type Service } from '../cli/service.ts';
import { seeded, tempDir, testConfig } from './helpers.ts';
import { waitFor } from './kafka-helpers.ts';
import { ensurePrometheusTools, promQuery, startAlertmanager, startPrometheus, startReceiver, type Receiver, type Server } from './prometheus-helpers.ts';

/**
 * Alerts end to end with the real things: driftwatch analyses 2-second
 * windows; Prometheus scrapes it and evaluates the rules `driftwatch rules`
 * generated; driftwatch also evaluates them itself and posts to the same
 * Alertmanager, and to a per-rule webhook. Drift is injected, then stopped:
 * the alert must arrive at the receiver through Alertmanager from both
 * paths, and resolve.
 */
const dir = tempDir('driftwatch-alerts-e2e-');
const WINDOW = 2_000;
let service: Service;
let receiver: Receiver;
let alertmanager: Server;
let prometheus: Server;
let traffic: NodeJS.Timeout | null = null;
let shifted = false;

beforeAll(async () => {
  ensurePrometheusTools();
  receiver = await startReceiver();
  alertmanager = await startAlertmanager(dir.path, `${receiver.url}/alertmanager`);
  const rulesFile = join(dir.path, 'rules.yaml');
  writeFileSync(
    rulesFile,
    `rules:
  - name: FeatureDrift
    metric: drift.psi
    threshold: 0.2
    resolve_threshold: 0.1
    for_windows: 2
    resolve_windows: 2
    models: [e2e]
    annotations: {summary: "{{feature}} of {{model}} drifted"}
    webhook: {url: "${receiver.url}/hook"}
`,
  );
  service = await startService(
    testConfig({
      DATA_DIR: join(dir.path, 'data'),
      ANALYSIS_ENABLED: 'true',
      ANALYSIS_WINDOW: '2s',
      ANALYSIS_GRACE: '300ms',
      MIN_WINDOW_EVENTS: '50',
      ALERT_RULES_FILE: rulesFile,
      ALERTMANAGER_URL: alertmanager.url,
      ALERT_RESEND_INTERVAL: '2s',
    }),
    { logger: false },
  );
  writeFileSync(join(dir.path, 'prometheus-rules.yml'), prometheusRules(loadRules(rulesFile), WINDOW));
  prometheus = await startPrometheus(dir.path, { target: service.url, rulesFile: join(dir.path, 'prometheus-rules.yml'), alertmanager: alertmanager.url });
}, 120_000);

afterAll(async () => {
  if (traffic) clearInterval(traffic);
  await prometheus?.stop();
  await service?.close();
  await alertmanager?.stop();
  await receiver?.close();
  dir.remove();
});

const { normal } = seeded(11);
let sequence = 0;
const batch = (ts: number, n: number, shift: number) =>
  Array.from({ length: n }, (_, i) => ({
    event_id: `e${sequence++}`,
    model: 'e2e',
    timestamp: ts + i,
    features: { income: normal(50, 10) + shift, age: normal(40, 10) },
    prediction: 0.5,
  }));

async function post(path: string, body: unknown) {
  const r = await fetch(`${service.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(r.status).toBeLessThan(300);
  return r.json();
}

/** Alertmanager webhook deliveries for the income alert, by where the alert came from and its status. */
const deliveries = (source: 'prometheus' | 'driftwatch', status: 'firing' | 'resolved') =>
  receiver.received.filter(
    (r) =>
      r.path === '/alertmanager' &&
      r.body.alerts.some(
        (a: { status: string; labels: Record<string, string> }) =>
          a.status === status && a.labels.alertname === 'FeatureDrift' && a.labels.feature === 'income' && (a.labels.source === 'prometheus') === (source === 'prometheus'),
      ),
  );

describe('drift alerts through Prometheus and Alertmanager', () => {
  it('fire while drift lasts and resolve after it stops, on both paths, and reach the rule webhook', async () => {
    const reference = Date.now() - 10 * 60_000;
    await post('/v1/events', batch(reference, 3000, 0));
    await post('/v1/models/e2e/baselines', { from: reference, to: reference + 3000 });
    traffic = setInterval(() => void post('/v1/events', batch(Date.now(), 60, shifted ? 25 : 0)).catch(() => undefined), 100);

    // Calm first: a few windows without alerts.
    await new Promise((r) => setTimeout(r, 3 * WINDOW));
    expect((await promQuery(prometheus.url, 'ALERTS{alertname="FeatureDrift"}')).length).toBe(0);
    expect(receiver.received.filter((r) => r.path === '/hook')).toEqual([]);

    shifted = true;
    await waitFor(async () => deliveries('prometheus', 'firing').length > 0 && deliveries('driftwatch', 'firing').length > 0, 60_000, 'firing alerts from both paths');
    const hook = receiver.received.find((r) => r.path === '/hook' && r.body.status === 'firing');
    expect(hook?.body).toMatchObject({ rule: 'FeatureDrift', labels: { alertname: 'FeatureDrift', model: 'e2e', feature: 'income' }, annotations: { summary: 'income of e2e drifted' } });
    // The calm feature never fired.
    expect(receiver.received.some((r) => JSON.stringify(r.body).includes('"feature":"age"'))).toBe(false);
    const active = (await (await fetch(`${service.url}/v1/alerts`)).json()) as { active: { rule: string; subject: string; status: string }[] };
    expect(active.active).toEqual([expect.objectContaining({ rule: 'FeatureDrift', subject: 'income', status: 'firing' })]);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/driftwatch_alert_state\{rule="FeatureDrift",model="e2e",subject="income",severity="warning",state="firing"\} 1/);

    shifted = false;
    await waitFor(async () => deliveries('prometheus', 'resolved').length > 0 && deliveries('driftwatch', 'resolved').length > 0, 60_000, 'resolved alerts from both paths');
    expect(receiver.received.some((r) => r.path === '/hook' && r.body.status === 'resolved')).toBe(true);

    const history = (await (await fetch(`${service.url}/v1/alerts?model=e2e`)).json()) as { active: unknown[]; history: { subject: string; to_status: string }[] };
    const path = history.history.filter((h) => h.subject === 'income').map((h) => h.to_status).reverse();
    expect(path.slice(0, 3)).toEqual(['pending', 'firing', 'resolved']);
    expect(history.active).toEqual([]);
    // Exactly one firing and one resolved notice reached the rule webhook.
    expect(receiver.received.filter((r) => r.path === '/hook').map((r) => r.body.status)).toEqual(['firing', 'resolved']);
  }, 150_000);
});
