import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Bundles the web UI into ui/build/ (git-ignored), which the service serves
 * at /ui: app.js and charts.js (the pages, ES modules, with the chunk-*.js
 * they share), report.js (the shareable report, inlined into each report
 * file), style.css and index.html. Everything, the chart
 * library included, comes from node_modules at build time: nothing is ever
 * loaded from a CDN. Each file is written aside and renamed into place, so
 * two builds at once (two browser test files) or a service reading mid-build
 * never see half a file.
 */
export async function buildUi(outdir = join(here, 'build')): Promise<string> {
  const src = join(here, 'src');
  mkdirSync(outdir, { recursive: true });
  const common: BuildOptions = {
    outdir,
    bundle: true,
    minify: true,
    target: ['chrome110', 'firefox110', 'safari16'],
    // The chart library's licence notices travel with the bundle.
    legalComments: 'eof',
    logLevel: 'warning',
    write: false,
  };
  const [pages, report] = await Promise.all([
    // The pages: a small entry that asks the API at once, and the charts
    // (Observable Plot, most of the bundle) as a module of their own that
    // loads and evaluates meanwhile (ES modules with code splitting; what
    // both share goes into a chunk-<hash>.js).
    build({ ...common, entryPoints: { app: join(src, 'app.ts'), charts: join(src, 'charts.ts') }, format: 'esm', splitting: true, chunkNames: 'chunk-[hash]' }),
    // The report: one classic script, inlined into each report file.
    build({ ...common, entryPoints: { report: join(src, 'report.ts') }, format: 'iife' }),
  ]);
  const result = { outputFiles: [...(pages.outputFiles ?? []), ...(report.outputFiles ?? [])] };
  const files: [string, Uint8Array | string][] = [
    ...result.outputFiles.map((f) => [basename(f.path), f.contents] as [string, Uint8Array]),
    ['style.css', readFileSync(join(src, 'style.css'))],
    ['index.html', readFileSync(join(src, 'index.html'))],
  ];
  for (const [name, contents] of files) {
    const aside = join(outdir, `.${name}.${process.pid}.tmp`);
    writeFileSync(aside, contents);
    renameSync(aside, join(outdir, name));
  }
  return outdir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildUi();
  process.stdout.write(`ui: built into ${out}\n`);
}
