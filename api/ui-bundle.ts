import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Errors } from './errors.ts';

/**
 * The package's root: the nearest folder above this module holding
 * package.json. The same from the TypeScript sources (api/) and from the
 * compiled package (dist/api/), which sit at different depths.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Where `npm run build:ui` (ui/build.ts) writes the web UI's static files. */
export const UI_BUILD_DIR = join(packageRoot(), 'ui', 'build');

/** The files the build writes, and what they are served as: nothing else is read from the folder. */
export const UI_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'report.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
} as const;

/** The code the page modules share, which the build names by its content's hash (ui/build.ts). */
const CHUNK = /^chunk-[A-Z0-9]{8}\.js$/;

export type UiFile = keyof typeof UI_FILES | `chunk-${string}.js`;

/** What a file of the build is served as, or undefined for a name the build does not write. */
export function uiFileType(name: string): string | undefined {
  if (Object.hasOwn(UI_FILES, name)) return UI_FILES[name as keyof typeof UI_FILES];
  return CHUNK.test(name) ? UI_FILES['app.js'] : undefined;
}

/**
 * One built file of the UI. Read at each request, not cached: a rebuilt
 * bundle is served without a restart, and the files are small. Missing: the
 * one-line error that says how to build them.
 */
export async function readUiFile(name: UiFile, dir = UI_BUILD_DIR): Promise<string> {
  try {
    return await readFile(join(dir, name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Errors.UiNotBuilt(dir);
    throw err;
  }
}
