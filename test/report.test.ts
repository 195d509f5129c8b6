import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../cli/service.ts';
import { buildUi } from '../ui/build.ts';
import { runCli, tempDir, testConfig } from './helpers.ts';
import { analyseWindows, isolatedContext, lastWindowEnd, launchBrowser, loadDriftingModel, loadWideModel, screenshot, WINDOW_MS, type DriftingModel } from './ui-helpers.ts';

// The shareable report (issue 16 item 2): GET /v1/models/{model}/report.html
// and `driftwatch report`, opened from file:// in Chromium with the network
// blocked.
const dir = tempDir();
let service: Service;
let browser: Browser;
let credit: DriftingModel;
let wide: DriftingModel;

beforeAll(async () => {
  await buildUi();
  service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data'), ANALYSIS_WINDOW: '1m' }), { logger: false });
  const end = lastWindowEnd();
  credit = await loadDriftingModel(service, { end });
  wide = await loadWideModel(service, 100, { end, windows: 2, perWindow: 400 });
  await analyseWindows(service, credit.windows);
  browser = await launchBrowser();
}, 600_000);
afterAll(async () => {
  await browser?.close();
  await service?.close();
  dir.remove();
});

const range = (m: DriftingModel) => ({ from: m.windows.at(-1)!, to: m.windows.at(-1)! + WINDOW_MS });

/** Opens a saved report from file:// with every http(s) request refused, and reads what it shows. */
async function openReport(file: string, name: string) {
  const { context, blocked } = await isolatedContext(browser);
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`file://${file}`);
  await page.waitForFunction(() => document.body.dataset.rendered === 'true', null, { timeout: 60_000 });
  const table = await page.$$eval('#table tbody tr', (rows) => rows.map((r) => (r as HTMLElement).dataset.feature!));
  const charts = await page.$$eval('#charts .chart-card', (cards) => cards.map((c) => ({ feature: (c as HTMLElement).dataset.feature!, svg: c.querySelectorAll('svg').length })));
  await screenshot(page, name);
  await context.close();
  return { table, charts, requests, blocked, errors };
}

describe('GET /v1/models/{model}/report.html', () => {
  it('is one self-contained file that opens from file:// with the network blocked, ranked as the API ranks', async () => {
    const { from, to } = range(credit);
    const response = await fetch(`${service.url}/v1/models/credit/report.html?from=${from}&to=${to}&baseline_id=${credit.baselineId}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    // Nothing to fetch: no src or href pointing anywhere, and a policy forbidding it anyway.
    expect(html).not.toMatch(/\s(src|href)=/i);
    expect(html).toContain(`default-src 'none'`);
    const file = join(dir.path, 'credit.html');
    writeFileSync(file, html);

    const api = await (await fetch(`${service.url}/v1/models/credit/drift?from=${from}&to=${to}&baseline_id=${credit.baselineId}`)).json();
    const shown = await openReport(file, 'report-credit');
    expect(shown.table).toEqual(api.features.map((f: { feature: string }) => f.feature));
    expect(shown.table.slice(0, 3).sort()).toEqual(credit.shifted);
    // Every feature's distribution, and the prediction's.
    expect(shown.charts.map((c) => c.feature)).toEqual([...shown.table, '@prediction']);
    expect(shown.charts.every((c) => c.svg >= 1)).toBe(true);
    expect(shown.requests).toEqual([`file://${file}`]);
    expect(shown.blocked).toEqual([]);
    expect(shown.errors).toEqual([]);
  });

  it('holds 100 features under 1.5 MB, every one drawn', async () => {
    const { from, to } = range(wide);
    const html = await (await fetch(`${service.url}/v1/models/wide/report.html?from=${from}&to=${to}`)).text();
    expect(Buffer.byteLength(html)).toBeLessThan(1.5 * 1024 * 1024);
    const file = join(dir.path, 'wide.html');
    writeFileSync(file, html);
    const shown = await openReport(file, 'report-100-features');
    expect(shown.table.length).toBe(100);
    expect(new Set(shown.table.slice(0, wide.shifted.length))).toEqual(new Set(wide.shifted));
    expect(shown.charts.filter((c) => c.svg >= 1).length).toBe(101);
    expect(shown.requests.length).toBe(1);
  });

  it('answers bad requests with the reason', async () => {
    const noBaseline = await fetch(`${service.url}/v1/models/nobody/report.html`);
    expect(noBaseline.status).toBe(404);
    expect((await noBaseline.json()).message).toMatch(/has no baseline yet/);
    const reversed = await fetch(`${service.url}/v1/models/credit/report.html?from=${range(credit).to}&to=${range(credit).from}`);
    expect(reversed.status).toBe(400);
    expect((await reversed.json()).code).toBe('DW_BAD_RANGE');
    expect((await fetch(`${service.url}/v1/models/credit/report.html?baseline_id=nope`)).status).toBe(400);
  });
});

describe('driftwatch report', () => {
  it('writes the same report to a file, and says in one line what went wrong otherwise', async () => {
    const { from, to } = range(credit);
    const out = join(dir.path, 'cli.html');
    const cli = runCli(['report', '--url', service.url, '--model', 'credit', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--baseline', credit.baselineId, '--out', out]);
    expect(await cli.exited, cli.err()).toBe(0);
    expect(cli.out()).toMatch(new RegExp(`^wrote ${out} \\(\\d+ KB\\)\\n$`));
    expect(statSync(out).size).toBeGreaterThan(100_000);
    const shown = await openReport(out, 'report-cli');
    const api = await (await fetch(`${service.url}/v1/models/credit/drift?from=${from}&to=${to}`)).json();
    expect(shown.table).toEqual(api.features.map((f: { feature: string }) => f.feature));
    expect(readFileSync(out, 'utf8')).toContain('<title>driftwatch report: credit');

    const missing = runCli(['report', '--url', service.url]);
    expect(await missing.exited).toBe(2);
    expect(missing.err()).toMatch(/^driftwatch: report needs --model\n/);
    const unknown = runCli(['report', '--url', service.url, '--model', 'nobody', '--out', join(dir.path, 'x.html')]);
    expect(await unknown.exited).toBe(1);
    expect(unknown.err()).toBe(`driftwatch: the service answered 404: model "nobody" has no baseline yet: POST /v1/models/nobody/baselines first (DW_BASELINE_NOT_FOUND)\n`);
  }, 120_000);

  it('sends DRIFTWATCH_API_KEY as a bearer token to a service with keys, and names the variable when refused', async () => {
    const key = 'report-test-read-key-0123456789ab';
    await service.close();
    service = await startService(testConfig({ DATA_DIR: join(dir.path, 'data'), API_KEYS: key }), { logger: false });
    const { from, to } = range(credit);
    const args = ['report', '--url', service.url, '--model', 'credit', '--from', String(from), '--to', String(to), '--out', join(dir.path, 'keyed.html')];
    const refused = runCli(args);
    expect(await refused.exited).toBe(1);
    expect(refused.err()).toMatch(/answered 401: .*set DRIFTWATCH_API_KEY to a key with the read scope\n$/);
    const served = runCli(args, { DRIFTWATCH_API_KEY: key });
    expect(await served.exited, served.err()).toBe(0);
    expect(readFileSync(join(dir.path, 'keyed.html'), 'utf8')).toContain('dw-report-data');
  }, 120_000);
});
