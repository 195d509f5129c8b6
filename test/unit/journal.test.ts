import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { frameHeader, Journal, lockJournal, readFrames } from '../../ingest/journal.ts';
import { tempDir } from '../helpers.ts';

const frame = (text: string, rows: number) => Buffer.concat([frameHeader(Buffer.from(text), rows), Buffer.from(text)]);

describe('readFrames', () => {
  it('reads whole frames and stops at a torn, zero-filled or damaged tail', () => {
    const good = Buffer.concat([frame('first', 2), frame('second!', 3)]);
    expect(readFrames(good)).toMatchObject({ rows: 5, bytes: good.length });
    expect(readFrames(good).payloads.map(String)).toEqual(['first', 'second!']);
    // A crash at every byte of the second frame leaves the first alone readable.
    for (let cut = frame('first', 2).length; cut < good.length; cut++) {
      expect(readFrames(good.subarray(0, cut)).payloads.map(String)).toEqual(['first']);
    }
    // Zeros where the file system had allocated but not written: the end.
    expect(readFrames(Buffer.concat([good, Buffer.alloc(64)])).rows).toBe(5);
    // One flipped bit in a payload, or in its row count: that frame and all after it are gone.
    const flipped = Buffer.from(good);
    flipped[frame('first', 2).length + 14] ^= 1;
    expect(readFrames(flipped).payloads.map(String)).toEqual(['first']);
    const recounted = Buffer.from(good);
    recounted.writeUInt32LE(9, 4);
    expect(readFrames(recounted).rows).toBe(0);
  });
});

describe('Journal', () => {
  it('puts appends on disk before they resolve, and deletes a segment once all of it is stored', async () => {
    const dir = tempDir();
    try {
      const journal = await Journal.open(dir.path, 'events', 1024 * 1024);
      const segments = await Promise.all([journal.append(Buffer.from('aaaa'), 1), journal.append(Buffer.from('bb'), 2), journal.append(Buffer.from('c'), 1)]);
      const files = readdirSync(dir.path);
      expect(files).toEqual([`events.2-${segments[0]}.wal`]);
      const onDisk = readFrames(readFileSync(join(dir.path, files[0])));
      expect(onDisk.payloads.map(String)).toEqual(['aaaa', 'bb', 'c']);
      expect(onDisk.rows).toBe(4);
      journal.release(segments[0]);
      journal.release(segments[1]);
      await journal.append(Buffer.from('d'), 1); // flushes the chain: the segment is still needed
      expect(existsSync(join(dir.path, files[0]))).toBe(true);
      journal.release(segments[2]);
      journal.release(segments[2]);
      await journal.close();
      expect(readdirSync(dir.path)).toEqual([]);
    } finally {
      dir.remove();
    }
  });

  it('frames an append handed in as pieces exactly as the same bytes in one buffer', async () => {
    const dir = tempDir();
    try {
      const journal = await Journal.open(dir.path, 'events', 1024 * 1024);
      const pieces = ['ab', '', 'cde', 'f'].map((s) => Buffer.from(s));
      expect(frameHeader(pieces, 3)).toEqual(frameHeader(Buffer.from('abcdef'), 3));
      const segment = await journal.append(pieces, 3);
      await journal.append(Buffer.from('gh'), 1);
      const onDisk = readFrames(readFileSync(join(dir.path, `events.2-${segment}.wal`)));
      expect(onDisk.payloads.map(String)).toEqual(['abcdef', 'gh']);
      expect(onDisk.rows).toBe(4);
      await journal.close();
    } finally {
      dir.remove();
    }
  });

  it('starts a new segment when one is full, and after leftovers of an earlier run', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, 'events-7.wal'), frame('left over', 1));
      const journal = await Journal.open(dir.path, 'events', 40);
      const first = await journal.append(Buffer.alloc(30, 1), 1);
      const second = await journal.append(Buffer.alloc(30, 2), 1);
      expect([first, second]).toEqual([8, 9]);
      expect(readdirSync(dir.path).sort()).toEqual(['events-7.wal', 'events.2-8.wal', 'events.2-9.wal']);
      journal.release(first);
      await journal.append(Buffer.alloc(1), 1);
      await journal.close(); // the file work queued so far is done: 8 is gone, 9 and 10 wait to be stored
      expect(readdirSync(dir.path).sort()).toEqual(['events-7.wal', 'events.2-10.wal', 'events.2-9.wal']);
    } finally {
      dir.remove();
    }
  });
});

describe('lockJournal', () => {
  it('refuses a folder another live process holds, and takes over one a dead process left', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, 'lock'), String(process.ppid));
      await expect(lockJournal(dir.path)).rejects.toThrow(`in use by process ${process.ppid}`);
      const gone = spawnSync(process.execPath, ['-e', '']).pid!;
      writeFileSync(join(dir.path, 'lock'), String(gone));
      const release = await lockJournal(dir.path);
      expect(readFileSync(join(dir.path, 'lock'), 'utf8')).toBe(String(process.pid));
      await release();
      expect(existsSync(join(dir.path, 'lock'))).toBe(false);
    } finally {
      dir.remove();
    }
  });
});
