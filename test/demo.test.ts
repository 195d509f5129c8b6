import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SHIFTED_FEATURES } from '../cli/demo/credit-risk.ts';
import { runDemo } from '../cli/demo/run.ts';
import { tempDir } from './helpers.ts';

describe('npm run demo', () => {
  it('flags exactly the features it shifted, window after window', async () => {
    const dir = tempDir();
    const out = new PassThrough();
    let printed = '';
    out.on('data', (chunk) => (printed += chunk));
    try {
      const outcome = await runDemo({
        flags: { DATA_DIR: dir.path, ANALYSIS_WINDOW: '2s', ANALYSIS_GRACE: '500ms' },
        extra: { duration: '16', rate: '1500' },
        out,
        seed: 42,
      });
      const shifted = outcome.windows.filter((w) => w.expected.length > 0);
      expect(shifted.length).toBeGreaterThanOrEqual(2);
      for (const w of shifted) expect(w.flagged).toEqual([...SHIFTED_FEATURES].sort());
      for (const w of outcome.windows.filter((w) => w.expected.length === 0)) expect(w.flagged).toEqual([]);
      expect(outcome.allMatched).toBe(true);
      expect(outcome.labelsSent).toBeGreaterThan(0);
      expect(outcome.eventsStored).toBe(outcome.eventsSent);
      expect(printed).toMatch(/traffic over HTTP/);
      expect(printed).toMatch(/baseline [0-9a-f-]{36} frozen/);
      expect(printed).toMatch(/feature\s+kind\s+method\s+score\s+threshold\s+drifted/);
      expect(printed).toMatch(/credit_score\s+numeric\s+psi\s+[\d.]+\s+0\.0\d+\s+YES/);
      expect(printed).toMatch(/sent [\d,]+ events \([\d,]+\/s\).*stored [\d,]+ events/);
    } finally {
      dir.remove();
    }
  }, 60_000);
});
