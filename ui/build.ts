import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Bundles the web UI into ui/build/ (git-ignored), which the service serves
 * at /ui: app.js (the pages), report.js (the shareable report, inlined into
 * each report file), style.css and index.html. Everything, the chart
 * library included, comes from node_modules at build time: nothing is ever
 * loaded from a CDN.
 */
export async function buildUi(outdir = join(dirname(fileURLToPath(import.meta.url)), 'build')): Promise<string> {
  const src = join(dirname(fileURLToPath(import.meta.url)), 'src');
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: { app: join(src, 'app.ts'), report: join(src, 'report.ts') },
    outdir,
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome110', 'firefox110', 'safari16'],
    // The chart library's licence notices travel with the bundle.
    legalComments: 'eof',
    logLevel: 'warning',
  });
  copyFileSync(join(src, 'style.css'), join(outdir, 'style.css'));
  copyFileSync(join(src, 'index.html'), join(outdir, 'index.html'));
  return outdir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildUi();
  process.stdout.write(`ui: built into ${out}\n`);
}
