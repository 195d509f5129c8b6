import { readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { allQueries, type PromQuery } from '../grafana/dashboards.ts';
import { tempDir, testConfig } from './helpers.ts';
import { waitFor } from './kafka-helpers.ts';
import { ensurePrometheusTools, promQuery, startPrometheus, type Server } from './prometheus-helpers.ts';

// Issue 20 item 6: the model dashboard's Triton row, keyed by model name,
// against a real Prometheus scraping a recorded Triton exposition (the
// fixture test/fixtures/triton/metrics.prom, see its README) beside
// driftwatch.

const FIXTURE = readFileSync(new URL('./fixtures/triton/metrics.prom', import.meta.url), 'utf8');

/** The fixture with every counter multiplied by `k`: a Triton whose traffic goes on at the recorded mix. */
function exposition(k: number): string {
  const counters = new Set([...FIXTURE.matchAll(/^# TYPE (\S+) counter$/gm)].map((m) => m[1]));
  return FIXTURE.replace(/^(\w+)(\{[^}]*\})? (\S+)$/gm, (line, name: string, labels: string | undefined, value: string) =>
    counters.has(name) ? `${name}${labels ?? ''} ${Number(value) * k}` : line,
  );
}

const dir = tempDir('driftwatch-triton-');
let service: Service;
let prometheus: Server;
let triton: HttpServer;
let scrapes = 0;

beforeAll(async () => {
  ensurePrometheusTools();
  service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data') }), { logger: false });
  triton = createServer((req, res) => {
    if (req.url !== '/metrics') return res.writeHead(404).end();
    scrapes++;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(exposition(scrapes));
  });
  await new Promise<void>((resolve) => triton.listen(0, '127.0.0.1', resolve));
  const tritonUrl = `http://127.0.0.1:${(triton.address() as { port: number }).port}/metrics`;
  prometheus = await startPrometheus(dir.path, { target: service.url, rulesFile: join(dir.path, 'none.yml'), alertmanager: 'http://127.0.0.1:9', alsoScrape: { triton: tritonUrl } });
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  triton?.close();
  await service?.close();
  dir.remove();
});

const tritonQueries = (panel: string) =>
  allQueries().filter((q): q is typeof q & { query: PromQuery } => q.panel === panel && q.query.kind === 'promql').map((q) => q.query);

/** The query's one series for the model, once Prometheus has enough scrapes for a rate. */
async function value(expr: string, model: string): Promise<number> {
  const filled = expr.replace(/\$__rate_interval/g, '1m').replace(/\$model/g, model);
  let result: Awaited<ReturnType<typeof promQuery>> = [];
  await waitFor(async () => (result = await promQuery(prometheus.url, filled)).length === 1 && Number.isFinite(Number(result[0].value[1])), 60_000, filled);
  return Number(result[0].value[1]);
}

describe('the Triton row of the model dashboard', () => {
  it('has request rate, failures, queue and compute time, each selecting the model by name', () => {
    const panels = allQueries().filter((q) => q.dashboard === 'driftwatch-model' && q.panel.startsWith('Triton:'));
    expect(new Set(panels.map((p) => p.panel))).toEqual(new Set(['Triton: requests per second', 'Triton: failed share of requests', 'Triton: queue and compute time per request (µs)']));
    for (const { query } of panels) {
      const names = (query as PromQuery).expr.match(/nv_inference_\w+\{[^}]*\}/g) ?? [];
      expect(names.length).toBeGreaterThan(0);
      for (const selector of names) expect(selector).toContain('model="$model"');
    }
  });

  it('gives the recorded mix of the chosen model from a Prometheus scraping Triton beside driftwatch', async () => {
    await waitFor(async () => (await promQuery(prometheus.url, 'up{job="triton"}')).some((r) => r.value[1] === '1') && scrapes >= 3, 60_000, 'three Triton scrapes');
    const [success, failure] = tritonQueries('Triton: requests per second');
    // Counters grow by the fixture's values each scrape (about 1 s apart): rates of the chosen
    // model, not the other's. Two queries are two instants, so their ratio holds to the scrape jitter;
    // within one query (the share, the times per request) it is exact.
    const near = (actual: number, expected: number) => expect(Math.abs(actual / expected - 1)).toBeLessThan(0.1);
    const successRate = await value(success.expr, 'credit');
    expect(successRate).toBeGreaterThan(0);
    near((await value(success.expr, 'my_model')) / successRate, 4000 / 161);
    near((await value(failure.expr, 'credit')) / successRate, 7 / 161);
    const [share] = tritonQueries('Triton: failed share of requests');
    expect(await value(share.expr, 'credit')).toBeCloseTo(7 / 168, 9);
    expect(await value(share.expr, 'my_model')).toBe(0);
    const [queue, compute] = tritonQueries('Triton: queue and compute time per request (µs)');
    expect(await value(queue.expr, 'credit')).toBeCloseTo(11110 / 161, 6);
    expect(await value(compute.expr, 'credit')).toBeCloseTo(40250 / 161, 6);
    expect(await value(queue.expr, 'my_model')).toBeCloseTo(250, 6);
  });

  it('the error rate beside latency reads driftwatch_prediction_error_ratio, which driftwatch exports', async () => {
    const [, published] = allQueries().filter((q) => q.panel === 'Prediction error rate (failed predictions)').map((q) => q.query);
    expect(published).toMatchObject({ kind: 'promql', expr: 'driftwatch_prediction_error_ratio{model="$model"}' });
    expect(await (await fetch(`${service.url}/metrics`)).text()).toContain('# TYPE driftwatch_prediction_error_ratio gauge');
  });
});
