import { rmSync } from 'node:fs';
import { tempDir } from '../test/helpers.ts';

const made: string[] = [];
process.on('exit', () => {
  for (const path of made) rmSync(path, { recursive: true, force: true });
});

/**
 * A folder for one phase's store, removed when the process exits, not when
 * the phase ends. On ext4 without a journal (this kind of VM's disk) the
 * kernel finds every new inode by scanning past those deleted in the last
 * minute or more: removing one phase's store (tens of thousands of part
 * files) just before the next phase made that phase's engine spend about
 * twice the CPU in the kernel (2.5 against 4.2-5.7 µs an event, measured on
 * the HTTP bench). Separate runs of a bench want two minutes between them
 * for the same reason.
 */
export function scratchDir(prefix: string): string {
  const { path } = tempDir(prefix);
  made.push(path);
  return path;
}
