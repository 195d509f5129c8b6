import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { processAlive } from '../core/process.ts';
import { rowPieces, type RowBytes } from '../store/sql.ts';
import type { Stream } from './prepare.ts';

/**
 * A write-ahead journal of encoded rows, one per stream, in segment files
 * `<stream>-<n>.wal` under one folder. An append resolves once its bytes are
 * on disk (fdatasync); appends that arrive during a sync share the next one
 * (group commit, so a sync costs per batch of requests, not per request).
 * A segment is deleted once every append in it is reported stored. After a
 * crash, what is left is read back with `readFrames` and stored again
 * (rows fold by their key, so rows stored twice are harmless).
 *
 * Each append is one frame: a 12-byte header (payload length, rows, CRC-32
 * of both and the payload) and the payload. A crash mid-write leaves a torn
 * or zero-filled tail, which fails the length or CRC check and ends the
 * segment's readable part; a failed write closes the segment, so nothing is
 * ever appended after a damaged frame.
 */
const HEADER_BYTES = 12;

export function frameHeader(payload: RowBytes, rows: number): Buffer {
  const pieces = rowPieces(payload);
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32LE(pieces.reduce((n, p) => n + p.byteLength, 0), 0);
  header.writeUInt32LE(rows, 4);
  let crc = crc32(header.subarray(0, 8));
  for (const p of pieces) crc = crc32(p, crc);
  header.writeUInt32LE(crc, 8);
  return header;
}

/** The complete frames at the start of a segment, up to the first torn or damaged one. Pure. */
export function readFrames(data: Buffer): { payloads: Buffer[]; rows: number; bytes: number } {
  const payloads: Buffer[] = [];
  let rows = 0;
  let at = 0;
  while (at + HEADER_BYTES <= data.length) {
    const length = data.readUInt32LE(at);
    const n = data.readUInt32LE(at + 4);
    if (length === 0 || n === 0 || at + HEADER_BYTES + length > data.length) break;
    const payload = data.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length);
    if (crc32(payload, crc32(data.subarray(at, at + 8))) !== data.readUInt32LE(at + 8)) break;
    payloads.push(payload);
    rows += n;
    at += HEADER_BYTES + length;
  }
  return { payloads, rows, bytes: at };
}

/**
 * Rows in a segment are encoded for the table's columns as they were when it
 * was written. A segment's name carries that layout, so that rows a crashed
 * older version acknowledged are still stored by a newer one that added
 * columns (test/journaled.test.ts). Layout 1 segments have the plain name
 * `<stream>-<n>.wal` every version before layouts wrote.
 */
export const JOURNAL_LAYOUT: Record<Stream, number> = { events: 2, labels: 1 };

const segmentName = (stream: Stream, n: number, layout = JOURNAL_LAYOUT[stream]) =>
  layout === 1 ? `${stream}-${n}.wal` : `${stream}.${layout}-${n}.wal`;

/** Segment files a previous run left for `stream`, oldest first. */
export async function leftoverSegments(dir: string, stream: Stream): Promise<{ n: number; path: string; layout: number }[]> {
  const pattern = new RegExp(`^${stream}(?:\\.(\\d+))?-(\\d+)\\.wal$`);
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .flatMap((name) => {
      const m = pattern.exec(name);
      return m ? [{ n: Number(m[2]), path: join(dir, name), layout: m[1] === undefined ? 1 : Number(m[1]) }] : [];
    })
    .sort((a, b) => a.n - b.n);
}

interface Append {
  header: Buffer;
  payload: RowBytes;
  resolve: (segment: number) => void;
  reject: (err: unknown) => void;
}

export class Journal {
  private handle: FileHandle | null = null;
  private size = 0;
  /** Appends per segment not yet reported stored. */
  private readonly pending = new Map<number, number>();
  private queue: Append[] = [];
  /** Every file operation runs on this chain, one at a time. */
  private chain: Promise<void> = Promise.resolve();
  private writing = false;

  /** `segment`: the first segment number this run writes (past any leftovers). */
  constructor(
    private readonly dir: string,
    private readonly stream: Stream,
    private segment: number,
    private readonly segmentBytes: number,
  ) {}

  static async open(dir: string, stream: Stream, segmentBytes: number): Promise<Journal> {
    await mkdir(dir, { recursive: true });
    const leftovers = await leftoverSegments(dir, stream);
    return new Journal(dir, stream, (leftovers.at(-1)?.n ?? 0) + 1, segmentBytes);
  }

  /** Resolves with the segment that holds the rows, once they are on disk. */
  append(payload: RowBytes, rows: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ header: frameHeader(payload, rows), payload, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        this.chain = this.chain.then(() => this.drain());
      }
    });
  }

  /** One append in `segment` is stored: the segment goes once all of its appends are. */
  release(segment: number): void {
    const left = (this.pending.get(segment) ?? 1) - 1;
    if (left > 0) {
      this.pending.set(segment, left);
      return;
    }
    this.pending.delete(segment);
    this.chain = this.chain.then(async () => {
      // The open segment is sealed first when it holds nothing unstored and no append waits.
      if (segment === this.segment && this.queue.length === 0 && !this.pending.has(segment)) await this.seal();
      else if (segment !== this.segment) await unlink(this.path(segment)).catch(() => {});
    });
  }

  /** Closes the open segment (deleting it when everything in it is stored). */
  async close(): Promise<void> {
    this.chain = this.chain.then(() => this.seal());
    await this.chain;
  }

  private path(segment: number): string {
    return join(this.dir, segmentName(this.stream, segment));
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      try {
        this.handle ??= await open(this.path(this.segment), 'a');
        const buffers = batch.flatMap((a) => [a.header, ...rowPieces(a.payload)]);
        const bytes = buffers.reduce((n, b) => n + b.length, 0);
        const { bytesWritten } = await this.handle.writev(buffers);
        // A write to a regular file is short when the filesystem has no more room: said as ENOSPC, which the guard answers 503 DW_DISK_FULL.
        if (bytesWritten !== bytes) throw Object.assign(new Error(`journal write was short: ${bytesWritten} of ${bytes} bytes (no space left on the disk)`), { code: 'ENOSPC' });
        await this.handle.datasync();
        this.size += bytes;
        const segment = this.segment;
        this.pending.set(segment, (this.pending.get(segment) ?? 0) + batch.length);
        for (const a of batch) a.resolve(segment);
        if (this.size >= this.segmentBytes) await this.seal();
      } catch (err) {
        for (const a of batch) a.reject(err);
        // Never append after a frame that may be torn: the next append starts a new segment.
        await this.seal().catch(() => {});
      }
    }
    this.writing = false;
  }

  /** Ends the open segment; it is deleted now if nothing in it waits to be stored. */
  private async seal(): Promise<void> {
    const segment = this.segment;
    const handle = this.handle;
    this.handle = null;
    this.size = 0;
    this.segment++;
    await handle?.close();
    if (!this.pending.has(segment)) await unlink(this.path(segment)).catch(() => {});
  }
}

/** The rows of a segment a previous run left, read up to its first damaged frame. */
export async function readSegment(path: string): Promise<{ bytes: Buffer; rows: number }> {
  const { payloads, rows } = readFrames(await readFile(path));
  return { bytes: Buffer.concat(payloads), rows };
}

/**
 * Takes the journal folder for this process: two services writing one
 * folder would interleave their segments. A lock left by a process that is
 * gone (a crash) is taken over. Returns the release.
 */
export async function lockJournal(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => unlink(path).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (holder > 0 && holder !== process.pid && processAlive(holder)) {
        throw new Error(`journal folder ${dir} is in use by process ${holder}; give each service its own INGEST_JOURNAL_DIR`);
      }
      await unlink(path).catch(() => {});
    }
  }
  throw new Error(`could not lock journal folder ${dir}`);
}
