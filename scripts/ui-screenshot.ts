/**
 * Regenerates docs/img/model.png, the README's picture of the model page:
 * runs the demo (its credit-risk model drifts after two reference windows),
 * and once a few shifted windows are analysed, photographs its page in
 * headless Chromium.
 *
 *   npx tsx scripts/ui-screenshot.ts [seconds=80]
 */
import { Writable } from 'node:stream';
import { runDemo } from '../cli/demo/run.ts';
import { buildUi } from '../ui/build.ts';
import { isolatedContext, launchBrowser } from '../test/ui-helpers.ts';

const [seconds = 80] = process.argv.slice(2).map(Number);
await buildUi();
let printed = '';
const out = new Writable({
  write(chunk, _encoding, done) {
    printed += chunk;
    done();
  },
});
const demo = runDemo({ flags: {}, extra: { duration: String(seconds), rate: '1000' }, out });
const deadline = Date.now() + (seconds - 8) * 1000;
while (Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
const url = /web UI (\S+)/.exec(printed)?.[1];
if (!url) throw new Error(`the demo printed no UI address:\n${printed}`);
const browser = await launchBrowser();
const { context } = await isolatedContext(browser);
const page = await context.newPage();
await page.setViewportSize({ width: 1400, height: 1000 });
await page.goto(`${url}&feature=annual_income`);
await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60_000 });
// The top of the page: pickers, heatmap, the first time chart; then the window's table and a feature.
await page.screenshot({ path: 'docs/img/model.png', fullPage: true });
await browser.close();
const outcome = await demo;
process.stdout.write(`wrote docs/img/model.png; the demo analysed ${outcome.windows.length} windows\n`);
