/**
 * How fast the web UI and the report open in Chromium (issue 16): a
 * 500-feature model's page, from navigation to everything drawn (the table,
 * the heatmap, the time charts) and to the table alone; and the report of
 * 100 features: its size, and from navigation to every chart drawn. The
 * figures include the service's answers, on the embedded store.
 *
 *   npm run bench:ui -- [runs=5]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startService } from '../cli/service.ts';
import { buildUi } from '../ui/build.ts';
import { tempDir, testConfig } from '../test/helpers.ts';
import { analyseWindows, isolatedContext, lastWindowEnd, launchBrowser, loadWideModel, WINDOW_MS } from '../test/ui-helpers.ts';

const [runs = 5] = process.argv.slice(2).map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (xs: number[]) => `median ${Math.round(median(xs))} ms (min ${Math.round(Math.min(...xs))}, max ${Math.round(Math.max(...xs))})`;

await buildUi();
const dir = tempDir('driftwatch-bench-ui-');
const service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data'), ANALYSIS_WINDOW: '1m' }), { logger: false });
const browser = await launchBrowser();
try {
  const end = lastWindowEnd();
  const wide = await loadWideModel(service, 500, { end, windows: 6, perWindow: 300 });
  await loadWideModel(service, 100, { model: 'wide100', end, windows: 2, perWindow: 400 });
  await analyseWindows(service, wide.windows);

  const full: number[] = [];
  const table: number[] = [];
  const busy: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { context } = await isolatedContext(browser);
    const page = await context.newPage();
    // The browser's own work (main-thread task time), apart from the waits on the service and for a core.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const started = performance.now();
    await page.goto(`${service.url}/ui?model=wide`);
    await page.waitForSelector('#features tbody tr', { timeout: 60_000 });
    table.push(performance.now() - started);
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60_000 });
    full.push(performance.now() - started);
    const { metrics } = await cdp.send('Performance.getMetrics');
    busy.push(1000 * metrics.find((m) => m.name === 'TaskDuration')!.value);
    if (i === 0 && (await page.locator('#features tbody tr').count()) !== 500) throw new Error('the table does not hold 500 features');
    await context.close();
  }
  process.stdout.write(`model page, 500 features x ${wide.windows.length} windows: table shown ${summary(table)}; everything drawn ${summary(full)}; main-thread tasks ${summary(busy)}\n`);

  // What the page waits on: the service's answers, alone.
  const last = wide.windows.at(-1)!;
  const timed = async (path: string) => {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const response = await fetch(`${service.url}${path}`);
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`${path}: ${response.status}`);
      times.push(performance.now() - started);
    }
    return summary(times);
  };
  for (const path of [
    '/v1/models/wide/drift/history?compact=true&limit=500',
    `/v1/models/wide/drift/history?from=${last}&to=${last + 1}&limit=1`,
    `/v1/models/wide/drift?from=${last}&to=${last + WINDOW_MS}&include=distributions&include=segment_tags`,
  ]) {
    process.stdout.write(`GET ${path.replace(/\d{13}/g, 'T')}: ${await timed(path)}\n`);
  }

  const sizes = await Promise.all(
    ['', '?compact=true'].map(async (q) => (await (await fetch(`${service.url}/v1/models/wide/drift/history${q}`)).text()).length),
  );
  process.stdout.write(`drift/history of that model: ${Math.round(sizes[0] / 1024)} KB in full, ${Math.round(sizes[1] / 1024)} KB with compact=true\n`);

  const from = wide.windows.at(-1)!;
  const report = async (model: string) => {
    const html = await (await fetch(`${service.url}/v1/models/${model}/report.html?from=${from}&to=${from + WINDOW_MS}`)).text();
    const file = join(dir.path, `${model}.html`);
    writeFileSync(file, html);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const { context } = await isolatedContext(browser);
      const page = await context.newPage();
      await page.goto(`file://${file}`);
      await page.waitForFunction(() => document.body.dataset.rendered === 'true', null, { timeout: 60_000 });
      times.push(Number(await page.evaluate(() => document.body.dataset.renderMs)));
      await context.close();
    }
    return { mb: Buffer.byteLength(html) / 1024 / 1024, times };
  };
  for (const model of ['wide100', 'wide']) {
    const r = await report(model);
    process.stdout.write(`report of ${model === 'wide' ? 500 : 100} features: ${r.mb.toFixed(2)} MB, every chart drawn ${summary(r.times)} after navigation\n`);
  }
} finally {
  await browser.close();
  await service.close();
  dir.remove();
}
