import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Service } from '../cli/service.ts';
import { seeded } from './helpers.ts';

/**
 * What the browser tests (test/ui.test.ts, test/report.test.ts) and the UI
 * benchmark (bench/ui.ts) share: a model that drifts on cue, stored and
 * analysed window by window through the public API and the scheduler, and a
 * headless Chromium that may reach nothing but 127.0.0.1.
 */

export const WINDOW_MS = 60_000;
export const SCREENSHOTS = join(import.meta.dirname, '..', '.reports', 'screenshots');

/** Debian's chromium (.ci/run installs it when missing); Playwright cannot download its own here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * A fresh context (its own profile: no key or cache from another test) whose
 * every request to a host other than 127.0.0.1 is aborted and recorded.
 */
export async function isolatedContext(browser: Browser): Promise<{ context: BrowserContext; blocked: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, timezoneId: 'UTC' });
  const blocked: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '127.0.0.1') {
      blocked.push(url.href);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  return { context, blocked };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Waits (generously: the machine is shared) until the page says it has drawn what it fetched. */
export async function ready(page: Page): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60_000 });
}

export interface DriftingModel {
  model: string;
  /** Window starts, oldest first: the first `referenceWindows` are the baseline's, the last `driftedWindows` shifted. */
  windows: number[];
  baselineId: string;
  /** The shifted features. */
  shifted: string[];
}

const PURPOSES = ['car', 'home', 'education', 'medical', 'travel'];

/**
 * Model "credit": income and credit_score shift down and loan_purpose
 * gains a category the baseline never saw ("crypto") in the last
 * `drifted` windows; age and tenure stay. Events carry a region tag (for
 * segments), a score, and labels for 60% of them.
 */
export async function loadDriftingModel(
  service: Service,
  opts: { end?: number; referenceWindows?: number; steadyWindows?: number; driftedWindows?: number; perWindow?: number } = {},
): Promise<DriftingModel> {
  const model = 'credit';
  const { end = lastWindowEnd(), referenceWindows = 3, steadyWindows = 2, driftedWindows = 2, perWindow = 400 } = opts;
  const total = referenceWindows + steadyWindows + driftedWindows;
  const first = end - total * WINDOW_MS;
  const windows = Array.from({ length: total }, (_, i) => first + i * WINDOW_MS);
  const { random, normal } = seeded(16);
  const events: object[] = [];
  const labels: object[] = [];
  windows.forEach((start, w) => {
    const drifted = w >= referenceWindows + steadyWindows;
    for (let i = 0; i < perWindow; i++) {
      const income = normal(drifted ? 42_000 : 60_000, 12_000);
      const score = normal(drifted ? 610 : 680, 40);
      const purpose = drifted && random() < 0.3 ? 'crypto' : PURPOSES[Math.floor(random() * PURPOSES.length)];
      const p = 1 / (1 + Math.exp((score - 640) / 30));
      const id = `w${w}-${i}`;
      events.push({
        event_id: id,
        model,
        timestamp: start + Math.floor((i / perWindow) * (WINDOW_MS - 1)),
        features: { income, credit_score: score, age: Math.round(normal(40, 10)), tenure_months: Math.round(random() * 120), loan_purpose: purpose },
        prediction: p,
        tags: { region: random() < 0.5 ? 'eu' : 'us' },
      });
      if (random() < 0.6) labels.push({ model, event_id: id, label: random() < p ? 1 : 0 });
    }
  });
  await postAll(service, '/v1/events', events);
  await postAll(service, '/v1/labels', labels);
  const baseline = await post(service, `/v1/models/${model}/baselines`, { from: windows[0], to: windows[referenceWindows], segment_by: 'region' });
  return { model, windows, baselineId: baseline.baseline_id, shifted: ['credit_score', 'income', 'loan_purpose'] };
}

/** The end of the last whole window a minute ago: the models' windows end there, all closed. */
export const lastWindowEnd = (now = Date.now()) => Math.floor(now / WINDOW_MS) * WINDOW_MS - WINDOW_MS;

async function post(service: Service, path: string, body: unknown) {
  const response = await fetch(`${service.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await response.json();
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** Posts items in requests of 500, each of which must be accepted whole. */
async function postAll(service: Service, path: string, items: object[]): Promise<void> {
  for (let i = 0; i < items.length; i += 500) {
    const part = items.slice(i, i + 500);
    const answer = await post(service, path, part);
    if (answer.accepted !== part.length) throw new Error(`${path}: ${JSON.stringify(answer.rejected.slice(0, 3))}`);
  }
}

/**
 * Analyses each window as the scheduler does, oldest first, for every model
 * with a baseline (the alert engine follows them): each window once, so
 * models loaded over the same span share their windows.
 */
export async function analyseWindows(service: Service, windows: readonly number[]): Promise<void> {
  for (const start of windows) await service.scheduler.runWindow({ from: start, to: start + WINDOW_MS });
}

/** Model "wide" (or another name): `features` numeric features, the first tenth of them shifted in the last window. */
export async function loadWideModel(
  service: Service,
  features: number,
  opts: { model?: string; end?: number; windows?: number; perWindow?: number } = {},
): Promise<DriftingModel> {
  const { model = 'wide', end = lastWindowEnd(), windows: n = 3, perWindow = 300 } = opts;
  const first = end - n * WINDOW_MS;
  const windows = Array.from({ length: n }, (_, i) => first + i * WINDOW_MS);
  const { normal } = seeded(500);
  const names = Array.from({ length: features }, (_, i) => `f${String(i).padStart(3, '0')}`);
  const shifted = names.slice(0, Math.ceil(features / 10));
  const events: object[] = [];
  windows.forEach((start, w) => {
    const drifted = w === n - 1;
    for (let i = 0; i < perWindow; i++) {
      const values: Record<string, number> = {};
      names.forEach((name, k) => (values[name] = normal(drifted && k < shifted.length ? 1.5 : 0, 1)));
      events.push({ event_id: `w${w}-${i}`, model, timestamp: start + Math.floor((i / perWindow) * (WINDOW_MS - 1)), features: values, prediction: normal(0, 1) });
    }
  });
  await postAll(service, '/v1/events', events);
  const baseline = await post(service, `/v1/models/${model}/baselines`, { from: windows[0], to: windows[n - 1] });
  return { model, windows, baselineId: baseline.baseline_id, shifted };
}
