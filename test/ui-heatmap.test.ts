import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { buildUi } from '../ui/build.ts';
import { num } from '../ui/src/format.ts';
import { tempDir, testConfig } from './helpers.ts';
import { analyseWindows, isolatedContext, lastWindowEnd, launchBrowser, loadDriftingModel, loadWideModel, ready, screenshot, WINDOW_MS, type DriftingModel } from './ui-helpers.ts';

// The model page's heatmap drawn from GET /drift/series (issue 22 item 3),
// in Chromium against a real service: from the pre-aggregates, from raw
// events with the steps the raw budget did not reach as gaps, and from the
// stored windows where the series cannot answer. The scheduled analysis ran
// for four of the seven one-minute windows only, so a heatmap with a column
// for each of the seven is the series', and one with four the history's.
const dir = tempDir();
const data = join(dir.path, 'data');
let service: Service;
let browser: Browser;
let credit: DriftingModel;
let analysed: number[];
const iso = (ms: number) => new Date(ms).toISOString();

interface Series {
  steps: { from: string; to: string; source: string }[];
  features: { feature: string; psi: (number | null)[]; drifted: (boolean | null)[] }[];
}

beforeAll(async () => {
  await buildUi();
  service = await startService(testConfig({ DATA_DIR: data, ANALYSIS_WINDOW: '1m', PREAGGREGATES: 'on' }), { logger: false });
  const end = lastWindowEnd();
  credit = await loadDriftingModel(service, { end });
  await loadWideModel(service, 50, { model: 'wide50', end, windows: 3 });
  analysed = credit.windows.filter((_, i) => i < 3 || i === credit.windows.length - 1);
  await analyseWindows(service, analysed);
  // The baselines' past, ingested before they were registered, is binned by the backfill.
  await service.preaggregates.settled('credit');
  await service.preaggregates.settled('wide50');
  // A model with a baseline and no analysed window yet: the heatmap has no stored window to start from.
  await loadWideModel(service, 10, { model: 'young', end, windows: 2 });
  browser = await launchBrowser();
}, 600_000);
afterAll(async () => {
  await browser?.close();
  await service?.close();
  dir.remove();
});

async function restart(overrides: Record<string, string>): Promise<void> {
  await service.close();
  service = await startService(testConfig({ DATA_DIR: data, ANALYSIS_WINDOW: '1m', ...overrides }), { logger: false });
}

/** Opens a page and waits until its heatmap is final: the series answered (or could not). */
async function open(path: string): Promise<{ page: Page; series: URL[]; errors: string[] }> {
  const { context } = await isolatedContext(browser);
  const page = await context.newPage();
  const errors: string[] = [];
  const series: URL[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname.endsWith('/drift/series')) series.push(url);
  });
  await page.goto(`${service.url}${path}`);
  await ready(page);
  await page.waitForSelector('#heatmap[data-settled="true"]', { timeout: 60_000 }).catch(async (err) => {
    const seen = await page.evaluate(() => {
      const el = document.querySelector<HTMLElement>('#heatmap');
      return el ? `${JSON.stringify({ ...el.dataset })} ${document.querySelector('#heatmap-note')?.textContent}` : `no heatmap: ${document.querySelector('#app')?.textContent?.slice(0, 300)}`;
    });
    throw new Error(`${(err as Error).message}: ${seen} ${errors.join('; ')}`);
  });
  return { page, series, errors };
}

const cellTitles = (page: Page) => page.$$eval('g[aria-description="heatmap cells"] rect', (rects) => rects.map((r) => r.querySelector('title')?.textContent ?? ''));
const boxes = (page: Page, description: string) =>
  page.$$eval(`g[aria-description="${description}"] rect`, (rects) => rects.map((r) => ({ x: Number(r.getAttribute('x')), width: Number(r.getAttribute('width')) })));
/** The series of the page's range (the span of the stored windows), as the page asks for it. */
const range = () => ({ from: credit.windows[0], to: credit.windows.at(-1)! + WINDOW_MS });
async function seriesOf(model: string): Promise<Series> {
  const { from, to } = range();
  const response = await fetch(`${service.url}/v1/models/${model}/drift/series?from=${from}&to=${to}&step=1m`);
  expect(response.status).toBe(200);
  return response.json();
}
const stamp = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.000Z$/, '') + ' UTC';

describe('the heatmap from the drift series', () => {
  it('is drawn from the pre-aggregates: a column per step, coloured by PSI, the windows the scheduler skipped included', async () => {
    const expected = await seriesOf('credit');
    expect(expected.steps.map((s) => s.source)).toEqual(Array(7).fill('preaggregates'));
    // The model's output has a chart of its own under the heatmap.
    const features = expected.features.filter((f) => f.feature !== '@prediction');
    expect(features).toHaveLength(5);
    const { page, series, errors } = await open('/ui?model=credit');
    expect(await page.locator('#heatmap').getAttribute('data-source')).toBe('preaggregates');
    expect(await page.locator('#heatmap-note').textContent()).toMatch(/^Drift over time from the pre-aggregates: 5 of 5 features × 7 steps of 1m, coloured by PSI/);
    // 5 features x 7 steps; the history has 4 windows.
    const titles = await cellTitles(page);
    expect(titles).toHaveLength(5 * 7);
    for (const f of features) {
      expected.steps.forEach((s, i) => {
        const title = titles.find((t) => t.startsWith(`${f.feature}\n${stamp(Date.parse(s.from))} –`));
        expect(title, `${f.feature} ${s.from}`).toContain(`PSI ${num(f.psi[i])}`);
        expect(title).toContain('from the pre-aggregates');
      });
    }
    const drifted = features.flatMap((f) => f.drifted).filter((d) => d === true).length;
    expect(drifted).toBeGreaterThan(0);
    expect(await page.locator('g[aria-description="drifted cells"] path').count()).toBe(drifted);
    expect(await page.locator('g[aria-description="unavailable steps"] rect').count()).toBe(0);
    // One request, asked while the page's other answers were on their way, for the features shown.
    expect(series).toHaveLength(1);
    expect(series[0].searchParams.get('step')).toBe('1m');
    expect(series[0].searchParams.get('features')!.split(',').sort()).toEqual(['age', 'credit_score', 'income', 'loan_purpose', 'tenure_months']);
    await screenshot(page, 'heatmap-preaggregates');

    // A cell of a step the scheduler never analysed opens that step, computed now, and its feature.
    const skipped = credit.windows[4];
    const index = titles.findIndex((t) => t.startsWith(`income\n${stamp(skipped)} –`));
    await page.locator('g[aria-description="heatmap cells"] rect').nth(index).click();
    await ready(page);
    const url = new URL(page.url());
    expect(url.searchParams.get('window')).toBe(`${iso(skipped)}/${iso(skipped + WINDOW_MS)}`);
    expect(url.searchParams.get('feature')).toBe('income');
    expect(await page.locator('#window-title').textContent()).toBe(`Window ${stamp(skipped)} to ${stamp(skipped + WINDOW_MS)}`);
    expect(await page.locator('select[name=window]').inputValue()).toBe(`${iso(skipped)}/${iso(skipped + WINDOW_MS)}`);
    await expect.poll(() => page.locator('#feature h3').textContent()).toContain('income');
    await page.waitForSelector('#feature figure.numeric');
    const report = await (await fetch(`${service.url}/v1/models/credit/drift?from=${skipped}&to=${skipped + WINDOW_MS}`)).json();
    const income = report.features.find((f: { feature: string }) => f.feature === 'income');
    expect(await page.locator('#feature').textContent()).toContain(`${income.n_current} events now`);
    // A cell of a stored window opens it by its start, as the history's heatmap does.
    await page.waitForSelector('#heatmap[data-settled="true"]');
    const newest = credit.windows.at(-1)!;
    const again = (await cellTitles(page)).findIndex((t) => t.startsWith(`age\n${stamp(newest)} –`));
    await page.locator('g[aria-description="heatmap cells"] rect').nth(again).click();
    await ready(page);
    expect(new URL(page.url()).searchParams.get('window')).toBe(iso(newest));
    expect(await page.locator('select[name=window]').inputValue()).toBe(iso(newest));
    expect(errors).toEqual([]);
    await page.context().close();
  }, 180_000);

  it('asks only for the features shown: the top 40, a search beyond them, the rest when asked to show all', async () => {
    const { page, series } = await open('/ui?model=wide50');
    expect(await page.locator('#heatmap').getAttribute('data-source')).toBe('preaggregates');
    expect(await page.locator('g[aria-description="heatmap cells"] rect').count()).toBe(40 * 7);
    expect(series).toHaveLength(1);
    const first = series[0].searchParams.get('features')!.split(',');
    expect(first).toHaveLength(40);
    const names = Array.from({ length: 50 }, (_, i) => `f${String(i).padStart(3, '0')}`);
    // A search for a feature beyond the 40: its row, asked for alone once the typing settled.
    const beyond = names.find((f) => !first.includes(f))!;
    await page.fill('#search', beyond);
    await expect.poll(() => series.length).toBe(2);
    expect(series[1].searchParams.get('features')).toBe(beyond);
    await page.waitForSelector('#heatmap[data-settled="true"][data-source="preaggregates"]');
    await expect.poll(() => cellTitles(page)).toHaveLength(7);
    expect((await cellTitles(page)).every((t) => t.startsWith(`${beyond}\n`))).toBe(true);
    await page.fill('#search', '');
    await expect.poll(() => page.locator('g[aria-description="heatmap cells"] rect').count()).toBe(40 * 7);
    await page.click('#heatmap-note button[data-heatmap="all"]');
    await expect.poll(() => page.locator('g[aria-description="heatmap cells"] rect').count()).toBe(50 * 7);
    await page.waitForSelector('#heatmap[data-settled="true"]');
    expect(new URL(page.url()).searchParams.get('heatmap')).toBe('all');
    // The third request: the nine not shown yet, and only those.
    expect(series).toHaveLength(3);
    const third = series[2].searchParams.get('features')!.split(',');
    expect(third).toHaveLength(9);
    expect([...first, beyond, ...third].sort()).toEqual(names);
    // And back: the top 40 again, without asking.
    await page.click('#heatmap-note button[data-heatmap=""]');
    await expect.poll(() => page.locator('g[aria-description="heatmap cells"] rect').count()).toBe(40 * 7);
    expect(series).toHaveLength(3);
    await page.context().close();
  }, 180_000);

  it('without a stored window, draws the series of every feature, ranked by its newest step', async () => {
    const { page, series, errors } = await open('/ui?model=young');
    expect(await page.locator('#heatmap').getAttribute('data-source')).toMatch(/^(preaggregates|raw|mixed)$/);
    // The page's range without a stored window: the last hour, at a step of 1 minute.
    expect(series).toHaveLength(1);
    expect(series[0].searchParams.get('features')).toBeNull();
    expect(series[0].searchParams.get('step')).toBe('1m');
    const rows = await page.$$eval('svg.heatmap g[aria-label="y-axis tick label"] text', (ts) => ts.map((t) => t.textContent));
    expect(rows).toHaveLength(10);
    // The shifted tenth (f000) drifted in the newest minute with events: first.
    expect(rows[0]).toBe('f000');
    const columns = (Date.parse(series[0].searchParams.get('to')!) - Date.parse(series[0].searchParams.get('from')!)) / WINDOW_MS;
    expect(columns).toBeGreaterThanOrEqual(60);
    expect(await page.locator('g[aria-description="heatmap cells"] rect').count()).toBe(10 * columns);
    expect(await page.locator('g[aria-description="drifted cells"] path').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.context().close();
  }, 180_000);

  it('draws the steps the raw budget did not reach as gaps, not as zeros (pre-aggregates off)', async () => {
    await restart({ PREAGGREGATES: 'off', SERIES_RAW_MAX_STEPS: '3' });
    // The budget goes to the newest steps.
    const expected = await seriesOf('credit');
    expect(expected.steps.map((s) => s.source)).toEqual(['unavailable', 'unavailable', 'unavailable', 'unavailable', 'raw', 'raw', 'raw']);
    expect(expected.features[0].psi.slice(0, 4)).toEqual([null, null, null, null]);
    const { page, errors } = await open('/ui?model=credit');
    expect(await page.locator('#heatmap').getAttribute('data-source')).toBe('raw');
    expect(await page.locator('#heatmap-note').textContent()).toMatch(/^Drift over time from raw events: .* a dashed outline a step not available/);
    const cells = await boxes(page, 'heatmap cells');
    const gaps = await boxes(page, 'unavailable steps');
    expect(cells).toHaveLength(5 * 3);
    expect(gaps).toHaveLength(5 * 4);
    // The gaps are the four oldest columns, left of every cell, and are not filled.
    const firstCell = Math.min(...cells.map((c) => c.x));
    for (const g of gaps) expect(g.x + g.width).toBeLessThanOrEqual(firstCell);
    expect(await page.$$eval('g[aria-description="unavailable steps"]', (gs) => gs.map((g) => g.getAttribute('fill')))).toEqual(['none']);
    for (const t of await cellTitles(page)) expect(t).toContain('from raw events');
    await screenshot(page, 'heatmap-gaps');
    expect(errors).toEqual([]);
    await page.context().close();
  }, 180_000);

  it('stays drawn from the stored windows where the series cannot answer, and says so', async () => {
    await restart({ PREAGGREGATES: 'off', SERIES_RAW_MAX_STEPS: '0' });
    const expected = await seriesOf('credit');
    expect(expected.steps.every((s) => s.source === 'unavailable')).toBe(true);
    const { page, series, errors } = await open('/ui?model=credit');
    expect(series).toHaveLength(1);
    expect(await page.locator('#heatmap').getAttribute('data-source')).toBe('history');
    expect(await page.locator('#heatmap-note').textContent()).toMatch(
      /^Drift over time from scheduled windows: 5 of 5 features × 4 windows, coloured by drift score; × marks a drifted cell \(the drift series could not answer: no step of the range was available\)/,
    );
    // A column per stored window: 5 features x the 4 analysed.
    const titles = await cellTitles(page);
    expect(titles).toHaveLength(5 * analysed.length);
    expect(new Set(titles.map((t) => t.split('\n')[1].split(' –')[0]))).toEqual(new Set(analysed.map(stamp)));
    expect(await page.locator('g[aria-description="unavailable steps"] rect').count()).toBe(0);
    // The stored windows' verdicts: the shifted features in the newest.
    expect(await page.locator('g[aria-description="drifted cells"] path').count()).toBe(3);
    expect(errors).toEqual([]);
    await page.context().close();
  }, 180_000);
});
