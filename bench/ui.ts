/**
 * How fast the web UI and the report open in Chromium (issue 16): a
 * 500-feature model's page, from navigation to "opened" and to everything
 * drawn; and the report of 100 features: its size, and from navigation to
 * every chart drawn. The figures include the service's answers, on the
 * embedded store.
 *
 * "Opened" (the issue's "opens in under a second"): the model page's header,
 * its heatmap and the ranked feature table (the stored window's) are on the
 * screen and usable, searchable and sortable over all 500 features; the page
 * marks it with data-opened on <body>. "Everything drawn" (data-ready) adds
 * the distributions computed for the window, the time charts, segments and
 * shadow models.
 *
 * "Heatmap from the series": the heatmap redrawn from GET /drift/series
 * (issue 22 item 3), which the page asks once the stored window is drawn;
 * from raw events unless --preaggregates runs the service with
 * PREAGGREGATES=on (the baselines' past backfilled before the runs).
 *
 * With --against=<git ref> the same page is also opened as that commit's UI
 * built it, alternating run by run with this one against the same service,
 * so a busy machine's load falls on both alike. (A UI without data-opened is
 * "opened" when its first feature row shows: it drew the header and heatmap
 * before the table.)
 *
 *   npm run bench:ui -- [runs=5] [--against=main] [--preaggregates]
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UI_BUILD_DIR } from '../api/ui-bundle.ts';
import { startService } from '../cli/service.ts';
import { buildUi } from '../ui/build.ts';
import { tempDir, testConfig } from '../test/helpers.ts';
import { analyseWindows, isolatedContext, lastWindowEnd, launchBrowser, loadWideModel, WINDOW_MS } from '../test/ui-helpers.ts';

const args = process.argv.slice(2);
const preaggregates = args.includes('--preaggregates');
const against = args.find((a) => a.startsWith('--against='))?.slice('--against='.length);
const [runs = 5] = args.filter((a) => !a.startsWith('--')).map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = (xs: number[]) => `median ${Math.round(median(xs))} ms (min ${Math.round(Math.min(...xs))}, max ${Math.round(Math.max(...xs))})`;

const dir = tempDir('driftwatch-bench-ui-');
const root = join(import.meta.dirname, '..');
await buildUi();
// Each UI variant's built files; the service reads its UI folder at every request, so one is put in place before each run.
const variants: { name: string; files: string }[] = [{ name: 'this tree', files: await buildUi(join(dir.path, 'ui-this')) }];
if (against) {
  const tree = join(dir.path, 'ui-against');
  mkdirSync(tree);
  execFileSync('sh', ['-c', `git -C "${root}" archive "${against}" package.json ui | tar -x -C "${tree}"`]);
  symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
  const { buildUi: buildThen } = (await import(join(tree, 'ui', 'build.ts'))) as { buildUi: (out: string) => Promise<string> };
  variants.push({ name: against, files: await buildThen(join(tree, 'ui', 'build')) });
}
const use = (files: string) => {
  for (const name of readdirSync(files)) if (!name.startsWith('.')) cpSync(join(files, name), join(UI_BUILD_DIR, name));
};

const service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data'), ANALYSIS_WINDOW: '1m', PREAGGREGATES: preaggregates ? 'on' : 'off' }), { logger: false });
const browser = await launchBrowser();
try {
  const end = lastWindowEnd();
  const wide = await loadWideModel(service, 500, { end, windows: 6, perWindow: 300 });
  await loadWideModel(service, 100, { model: 'wide100', end, windows: 2, perWindow: 400 });
  await analyseWindows(service, wide.windows);
  await service.preaggregates.settled('wide');

  const times = variants.map(() => ({ opened: [] as number[], heatmap: [] as number[], full: [] as number[], busy: [] as number[] }));
  for (let i = 0; i < runs; i++) {
    // Alternating which goes first, so a trend in the machine's load falls on both.
    const order = variants.map((_, k) => k);
    if (i % 2 === 1) order.reverse();
    for (const k of order) {
      use(variants[k].files);
      const { context } = await isolatedContext(browser);
      const page = await context.newPage();
      // The browser's own work (main-thread task time), apart from the waits on the service and for a core.
      const cdp = await context.newCDPSession(page);
      await cdp.send('Performance.enable');
      const started = performance.now();
      await page.goto(`${service.url}/ui?model=wide`);
      await page.waitForFunction(
        () => document.body.dataset.opened === 'true' || (document.body.dataset.opened === undefined && document.querySelector('#features tbody tr') !== null),
        null,
        { timeout: 60_000, polling: 'raf' },
      );
      times[k].opened.push(performance.now() - started);
      // (A UI from before the series has no data-settled: its heatmap is final when drawn.)
      await page.waitForFunction(() => document.querySelector<HTMLElement>('#heatmap')?.dataset.settled !== 'false', null, { timeout: 60_000, polling: 'raf' });
      times[k].heatmap.push(performance.now() - started);
      await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60_000 });
      times[k].full.push(performance.now() - started);
      const { metrics } = await cdp.send('Performance.getMetrics');
      times[k].busy.push(1000 * metrics.find((m) => m.name === 'TaskDuration')!.value);
      // Opened means usable: the table's header is there, the heatmap drawn, and the table knows all 500 features.
      if (i === 0) {
        const seen = await page.evaluate(() => ({
          heatmap: document.querySelectorAll('g[aria-description="heatmap cells"] rect').length,
          count: document.querySelector('#count')?.textContent ?? '',
          source: document.querySelector<HTMLElement>('#heatmap')?.dataset.source,
        }));
        if (k === 0) process.stdout.write(`heatmap of this tree drawn from: ${seen.source}\n`);
        if (seen.heatmap === 0 || !seen.count.startsWith('500 of 500')) throw new Error(`${variants[k].name}: not opened (${JSON.stringify(seen)})`);
      }
      await context.close();
    }
  }
  use(variants[0].files);
  for (const [k, v] of variants.entries()) {
    const t = times[k];
    process.stdout.write(
      `model page, 500 features x ${wide.windows.length} windows, UI of ${v.name}: opened ${summary(t.opened)}; heatmap final (from the series where this UI asks it) ${summary(t.heatmap)}; everything drawn ${summary(t.full)}; main-thread tasks ${summary(t.busy)}\n`,
    );
  }
  if (against) {
    const ratio = times[0].opened.map((x, i) => x / times[1].opened[i]);
    process.stdout.write(`opened, this tree / ${against}, run by run: ${ratio.map((r) => `${(100 * r).toFixed(0)}%`).join(', ')}; median ${(100 * median(ratio)).toFixed(0)}%\n`);
  }

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
  // The page's series request: the range of the stored windows at a 1-minute step, the 40 features the heatmap shows.
  const [newest] = (await (await fetch(`${service.url}/v1/models/wide/drift/history?compact=true&limit=1`)).json()).windows;
  const top40 = newest.features.slice(0, 40).map((f: { feature: string }) => f.feature).join(',');
  for (const path of [
    `/v1/models/wide/drift/series?from=${wide.windows[0]}&to=${last + WINDOW_MS}&step=1m&features=${top40}`,
    '/v1/models/wide/drift/history?compact=true&limit=500',
    `/v1/models/wide/drift/history?from=${last}&to=${last + 1}&limit=1`,
    `/v1/models/wide/drift?from=${last}&to=${last + WINDOW_MS}&include=distributions&include=segment_tags`,
  ]) {
    process.stdout.write(`GET ${path.replace(/\d{13}/g, 'T').replace(/features=[^&]+/, 'features=<40>')}: ${await timed(path)}\n`);
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
