import { statfs } from 'node:fs/promises';
import type { Metrics } from './metrics.ts';

/**
 * The free-space guard. The engine must never meet ENOSPC: a part it writes
 * on a full disk can be left damaged, and what the service acknowledged
 * would then depend on the engine's recovery. So writes are refused (503)
 * while a watched folder's filesystem has less than `minFreeBytes` free,
 * well before the disk is full; the rows already acknowledged still go into
 * the engine, which refuses inserts only below half of that
 * (store/embedded.ts), and merges keep room to run.
 */
export interface WatchedDir {
  /** Bounded label for the metric: what the folder holds. */
  name: 'data' | 'journal';
  path: string;
}

/** A write refused because the disk is (nearly) full: the sender retries later. */
export class DiskFullError extends Error {
  override name = 'DiskFullError';
}

/** Bytes an unprivileged writer may still use on the filesystem holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}

export const mebibytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Whether an error is the operating system's or the engine's "no space left". */
export function isDiskFull(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return true;
    // chDB reports engine errors as text only: NOT_ENOUGH_SPACE (243), or an ENOSPC seen by the engine.
    if (typeof e.message === 'string' && /NOT_ENOUGH_SPACE|No space left on device|not enough space|enough free space/i.test(e.message)) return true;
  }
  return false;
}

/** Why `dirs` lack `minFreeBytes` (after `used` more bytes), or null; `free`: bytes free per folder name. */
function shortage(dirs: readonly WatchedDir[], free: ReadonlyMap<string, number>, minFreeBytes: number, used: number): string | null {
  for (const dir of dirs) {
    const left = (free.get(dir.name) ?? Infinity) - used;
    if (left < minFreeBytes) return `disk nearly full: ${mebibytes(Math.max(0, left))} free for ${dir.path}, under DISK_MIN_FREE_BYTES (${mebibytes(minFreeBytes)})`;
  }
  return null;
}

/** Measures `dirs` once: why they lack `minFreeBytes`, or null (the check before start-up). */
export async function diskShortage(dirs: readonly WatchedDir[], minFreeBytes: number): Promise<string | null> {
  const free = new Map<string, number>();
  for (const dir of dirs) free.set(dir.name, await freeBytes(dir.path));
  return shortage(dirs, free, minFreeBytes, 0);
}

export interface DiskGuardDeps {
  metrics: Metrics;
  log: { warn: (obj: object, msg: string) => void; info: (obj: object, msg: string) => void };
  /** Told after every measurement which folders are short of the reserve (e.g. to pause the engine's merges while `data` is). */
  measured?: (short: ReadonlySet<WatchedDir['name']>) => Promise<void>;
}

export class DiskGuard {
  private readonly free = new Map<string, number>();
  /** Bytes admitted since the last measurement: counted as used until the next one sees them. */
  private admitted = 0;
  private low: string | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly dirs: readonly WatchedDir[],
    readonly minFreeBytes: number,
    private readonly deps: DiskGuardDeps,
  ) {}

  /** Measures every folder now; logs when writes stop or resume. */
  async check(): Promise<void> {
    for (const dir of this.dirs) {
      const bytes = await freeBytes(dir.path);
      this.free.set(dir.name, bytes);
      this.deps.metrics.diskFreeBytes.set({ dir: dir.name }, bytes);
    }
    this.admitted = 0;
    const was = this.low;
    this.low = this.shortOf(0);
    if (this.low && !was) this.deps.log.warn({ minFreeBytes: this.minFreeBytes }, `${this.low}: writes are refused until space is freed`);
    else if (!this.low && was) this.deps.log.info({}, 'disk space is back above DISK_MIN_FREE_BYTES: writes are accepted again');
    await this.deps.measured?.(new Set(this.dirs.filter((d) => (this.free.get(d.name) ?? Infinity) < this.minFreeBytes).map((d) => d.name)));
  }

  /** Measures every `intervalMs` until `stop`. */
  start(intervalMs: number): void {
    const tick = () => {
      this.check()
        .catch((err) => this.deps.log.warn({ err }, 'free-space check failed'))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, intervalMs).unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Why writes are refused now, or null. */
  problem(): string | null {
    return this.low;
  }

  /** Throws DiskFullError unless `bytes` more can be written and still leave the reserve free. */
  admit(bytes: number): void {
    const short = this.low ?? this.shortOf(bytes);
    if (short) throw new DiskFullError(`${short}: writes are refused until space is freed (retry later)`);
    this.admitted += bytes;
  }

  private shortOf(bytes: number): string | null {
    return shortage(this.dirs, this.free, this.minFreeBytes, this.admitted + bytes);
  }
}
