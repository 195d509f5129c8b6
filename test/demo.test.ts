import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SHIFTED_FEATURES } from '../cli/demo/credit-risk.ts';
import { runDemo } from '../cli/demo/run.ts';
import { runCli, tempDir } from './helpers.ts';

describe('npm run demo', () => {
  it('flags exactly the features it shifted, window after window', async () => {
    const dir = tempDir();
    const out = new PassThrough();
    let printed = '';
    out.on('data', (chunk) => (printed += chunk));
    const store = join(dir.path, 'store');
    try {
      const outcome = await runDemo({
        // DRIFT_ALPHA: at the default 0.001 an unshifted feature-window is flagged by chance now and then
        // (the drift-calibration tests hold that rate); here only the shifted ones may be.
        flags: { DATA_DIR: store, ANALYSIS_WINDOW: '2s', ANALYSIS_GRACE: '500ms', DRIFT_ALPHA: '1e-6' },
        extra: { duration: '16', rate: '1500' },
        out,
        seed: 42,
      });
      const shifted = outcome.windows.filter((w) => w.expected.length > 0);
      expect(shifted.length).toBeGreaterThanOrEqual(2);
      for (const w of shifted) expect(w.flagged, printed).toEqual([...SHIFTED_FEATURES].sort());
      for (const w of outcome.windows.filter((w) => w.judged && w.expected.length === 0)) expect(w.flagged).toEqual([]);
      expect(outcome.allMatched).toBe(true);
      // Window after window: late on a busy machine, but none skipped.
      const ends = outcome.windows.map((w) => w.to);
      expect(ends.slice(1).map((end, i) => end - ends[i])).toEqual(ends.slice(1).map(() => 2000));
      expect(outcome.labelsSent).toBeGreaterThan(0);
      expect(outcome.eventsStored).toBe(outcome.eventsSent);
      expect(printed).toMatch(/traffic over HTTP/);
      expect(printed).toMatch(/web UI http:\/\/127\.0\.0\.1:\d+\/ui\?model=credit-risk/);
      expect(printed).toMatch(/baseline [0-9a-f-]{36} frozen/);
      expect(printed).toMatch(/feature\s+kind\s+method\s+score\s+threshold\s+drifted/);
      // The threshold depends on the window's size, which depends on how busy the machine is.
      expect(printed).toMatch(/credit_score\s+numeric\s+psi\s+[\d.]+\s+[\d.]+\s+YES/);
      expect(printed).toMatch(/sent [\d,]+ events \([\d,]+\/s\).*stored [\d,]+ events/);
      // The store is removed at the end unless --keep-data.
      expect(printed).toContain(`store ${store} removed`);
      expect(existsSync(store)).toBe(false);
    } finally {
      dir.remove();
    }
  }, 240_000);

  it('refuses a duration too short to analyse a window, naming the minimum, before starting anything', async () => {
    const dir = tempDir();
    const store = join(dir.path, 'store');
    try {
      const refused = runDemo({ flags: { DATA_DIR: store }, extra: { duration: '40' }, out: new PassThrough() });
      await expect(refused).rejects.toThrow('--duration 40 is too short: with a 10s analysis window the demo needs at least 41 seconds');
      expect(existsSync(store)).toBe(false);
      const cli = runCli(['demo', '--duration', '40']);
      expect(await cli.exited).toBe(2);
      expect(cli.err()).toMatch(/^driftwatch: --duration 40 is too short: .* at least 41 seconds/);
    } finally {
      dir.remove();
    }
  });

  it('fails (exit 1) when it ends before any window was analysed, and removes its temp store', async () => {
    const cli = runCli(['demo', '--rate', '200']);
    // Stopped with Ctrl-C once it sends, long before its first window (10 s windows, two of reference).
    const deadline = Date.now() + 60_000;
    while (!/t=\d+s\s+sent/.test(cli.out()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(1);
    expect(cli.out()).toContain('demo finished: 0 windows analysed');
    expect(cli.out()).toMatch(/FAILED: no window was analysed; a run needs at least 41 seconds/);
    const store = /store (\S+) removed/.exec(cli.out())?.[1];
    expect(store).toMatch(/driftwatch-demo-/);
    expect(existsSync(store!)).toBe(false);
  }, 90_000);
});
