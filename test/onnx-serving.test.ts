import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runExample } from '../examples/onnx-serving/run.ts';
import { tempDir } from './helpers.ts';
import { waitFor } from './kafka-helpers.ts';
import { ensurePrometheusTools, promQuery, startPrometheus, type Server } from './prometheus-helpers.ts';

// Issue 20 item 4: examples/onnx-serving, shortened: an ONNX model served
// over HTTP logs every prediction through the SDK, its inputs drift, and
// driftwatch's drift alert fires; a Prometheus scrapes both servers.

it('serves the ONNX model, logs every call, and driftwatch raises the drift alert', async () => {
  ensurePrometheusTools();
  const dir = tempDir('driftwatch-onnx-example-');
  let prometheus: Server | undefined;
  let scraped: Promise<{ modelServerErrors: number; driftwatchUp: boolean }> | undefined;
  try {
    const result = await runExample(
      {
        windowMs: 4_000,
        maxWindows: 12,
        rate: 200,
        onStarted: async ({ service, modelServer }) => {
          prometheus = await startPrometheus(dir.path, {
            target: service.url,
            rulesFile: join(dir.path, 'none.yml'),
            alertmanager: 'http://127.0.0.1:9',
            alsoScrape: { model_server: `${modelServer.url}/metrics` },
          });
          const prom = prometheus;
          scraped = (async () => {
            const errors = async () => Number((await promQuery(prom.url, 'sum(model_server_requests_total{outcome="error"})'))[0]?.value[1] ?? 0);
            await waitFor(async () => (await errors()) > 0, 60_000, 'the model server scraped with a failed request');
            // Scraped at least once: a scrape of 1 s can time out now and then on a busy machine, so not "up at this instant".
            const upOnce = async () => (await promQuery(prom.url, 'max_over_time(up{job="driftwatch"}[5m])')).some((r) => r.value[1] === '1');
            await waitFor(upOnce, 60_000, 'driftwatch scraped by Prometheus').catch(() => {});
            return { modelServerErrors: await errors(), driftwatchUp: await upOnce() };
          })();
        },
      },
      join(dir.path, 'data'),
    );
    expect(result.alert).toMatchObject({ rule: 'FeatureDrift', subject: 'debt_ratio' });
    // Every request became an event (failed ones too), and the latency quantiles are the events' own.
    expect(result.latency.events).toBe(result.predictions);
    expect(result.latency.p50).toBeGreaterThan(0);
    expect(result.latency.p50).toBeLessThanOrEqual(result.latency.p95);
    expect(result.latency.p95).toBeLessThanOrEqual(result.latency.p99);
    expect(result.failed).toBeGreaterThan(0);
    expect(result.errorRate).toBeGreaterThan(0);
    expect(await scraped).toMatchObject({ driftwatchUp: true, modelServerErrors: expect.any(Number) });
  } finally {
    await prometheus?.stop();
    dir.remove();
  }
}, 300_000);
