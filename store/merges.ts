import type { Metrics } from '../core/metrics.ts';
import type { Sql } from './sql.ts';

/**
 * Pauses the embedded engine's background merges while the disk of its data
 * folder is under DISK_MIN_FREE_BYTES, and resumes them once it is not.
 *
 * Why: a merge writes a whole new part beside the parts it replaces, which
 * are kept for old_parts_lifetime (store/durability.ts), so while it runs a
 * merge needs as much free space again as its inputs. The engine reserves
 * that space when it starts a merge, but not against other writers: when
 * something else takes the rest of the disk, a running merge meets ENOSPC,
 * and a merged part left damaged is what a CI run of test/disk-full.test.ts
 * found at the next start (broken-on-start, its rows given back from the
 * parts it replaced). Stopping merges cancels the running ones (their
 * temporary parts are dropped, the inputs stay active) and starts no new
 * ones, so below the reserve only inserts write, and the engine refuses
 * those itself below half of it. Expired rows (TTL) are removed at merges
 * too, so retention waits as well; nothing is lost by waiting.
 */
export interface MergeSwitch {
  /** Pauses (true) or resumes (false) merges; does nothing when already so. */
  set(paused: boolean): Promise<void>;
  paused(): boolean;
}

export function mergeSwitch(sql: Sql, deps: { metrics: Metrics; log: { warn: (obj: object, msg: string) => void; info: (obj: object, msg: string) => void } }): MergeSwitch {
  let paused = false;
  return {
    async set(pause) {
      if (pause === paused) return;
      await sql.command(pause ? 'SYSTEM STOP MERGES' : 'SYSTEM START MERGES');
      paused = pause;
      deps.metrics.storeMergesPaused.set(pause ? 1 : 0);
      if (pause) deps.log.warn({}, 'merges paused while the disk of the data folder is nearly full (a merge needs room for a second copy of its parts)');
      else deps.log.info({}, 'merges resumed');
    },
    paused: () => paused,
  };
}
