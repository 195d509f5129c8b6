/**
 * Start-up time of `driftwatch serve`: the compiled package (dist/, what
 * `npm install -g` runs) against the TypeScript source through tsx (what
 * `npm start` runs), from spawning the process to its "listening" line, on a
 * fresh embedded store each time. Runs alternate so both see the same noise.
 *
 *   npm run build && npm run bench:startup -- [runs=7]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tempDir } from '../test/helpers.ts';

const [runs = 7] = process.argv.slice(2).map(Number);
const root = new URL('..', import.meta.url).pathname;
const entries = { compiled: `${root}dist/cli/bin.js`, tsx: `${root}cli/driftwatch.mjs` };
if (!existsSync(entries.compiled)) throw new Error('dist/ is missing: run npm run build first');

/** Milliseconds from spawn to the service's "listening" line; then it is stopped. */
async function startOnce(entry: string): Promise<number> {
  const dir = tempDir('driftwatch-bench-startup-');
  const started = performance.now();
  const child = spawn(process.execPath, [entry, 'serve', '--port', '0', '--data-dir', dir.path, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    return await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('driftwatch listening on')) resolve(performance.now() - started);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code} before listening`)));
    });
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    dir.remove();
  }
}

const times: Record<keyof typeof entries, number[]> = { compiled: [], tsx: [] };
for (let i = 0; i < runs; i++) {
  for (const which of ['compiled', 'tsx'] as const) times[which].push(await startOnce(entries[which]));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [which, xs] of Object.entries(times)) {
  console.log(`${which.padEnd(8)} median ${Math.round(median(xs))} ms, range ${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))} ms over ${xs.length} runs`);
}
