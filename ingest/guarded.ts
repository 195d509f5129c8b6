import { DiskFullError, isDiskFull, type DiskGuard } from '../core/disk.ts';
import { rowPieces } from '../store/sql.ts';
import type { Stream } from './prepare.ts';
import type { Writers } from './writers.ts';

/**
 * Writers that refuse rows (DiskFullError, answered 503) while the disk is
 * short of DISK_MIN_FREE_BYTES, before anything is written or acknowledged;
 * a write that meets a full disk anyway (ENOSPC from the journal, the
 * engine's NOT_ENOUGH_SPACE) is refused the same way.
 */
export function guardWriters(writers: Writers, guard: DiskGuard): Writers {
  const guarded = (stream: Stream) => ({
    async add(bytes: Parameters<Writers[Stream]['add']>[0], rows: number) {
      if (rows > 0) guard.admit(rowPieces(bytes).reduce((n, p) => n + p.byteLength, 0));
      try {
        await writers[stream].add(bytes, rows);
      } catch (err) {
        if (isDiskFull(err)) throw new DiskFullError(`the disk is full: ${(err as Error).message.split('\n')[0].slice(0, 200)}`, { cause: err });
        throw err;
      }
    },
  });
  return { events: guarded('events'), labels: guarded('labels') };
}
