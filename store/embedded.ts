import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Session } from 'chdb';
import { processAlive } from '../core/process.ts';
import { StoreOpenError } from './errors.ts';
import { mustSkip, rowPieces, statementSettings, timeLimitSettings, type Params, type QueryOptions, type RowBytes, type Sql } from './sql.ts';

/** What to tell someone whose data folder another process holds. */
const inUse = (path: string, pid: string) =>
  `data folder ${path} is in use by another process${pid ? ` (pid ${pid})` : ''}: stop it, or give this one its own --data-dir (DATA_DIR); ` +
  'a running service is reached through its API, not its folder';

/**
 * The engine keeps a `status` file with its pid in a folder it holds (and
 * locks it). Checked first, so the answer is one line instead of the
 * engine's own message and stack.
 */
function holderOf(path: string): string | null {
  let status: string;
  try {
    status = readFileSync(join(path, 'status'), 'utf8');
  } catch {
    return null;
  }
  const pid = Number(/PID:\s*(\d+)/.exec(status)?.[1]);
  if (!(pid > 0) || pid === process.pid) return null;
  return processAlive(pid) ? String(pid) : null;
}

/**
 * The embedded backend: the real ClickHouse engine inside this process, with
 * its tables in `dataDir`. chDB allows one data folder per process, so a
 * second service must reach this one through its API, not its folder.
 */
export interface EmbeddedOptions {
  /** Below this many free bytes the engine refuses inserts (NOT_ENOUGH_SPACE) rather than meet ENOSPC; 0: never. */
  minFreeBytesToInsert: number;
}

export function openEmbedded(dataDir: string, options: EmbeddedOptions = { minFreeBytesToInsert: 0 }): Sql {
  const path = resolve(dataDir);
  mkdirSync(path, { recursive: true });
  const holder = holderOf(path);
  if (holder) throw new StoreOpenError(inUse(path, holder));
  let session: Session;
  try {
    session = new Session(path, {
      connectionArgs: ['--output_format_json_quote_64bit_integers=0', `--min_free_disk_bytes_to_perform_insert=${options.minFreeBytesToInsert}`],
    });
  } catch (err) {
    // Taken between the check and here.
    if (/Another server instance in same directory/.test(String((err as Error).cause ?? '') + (err as Error).message)) throw new StoreOpenError(inUse(path, ''), { cause: err });
    throw err;
  }

  // chDB's insert API takes text formats only; binary rows reach the engine
  // through a file it reads with file(). The files are kept and overwritten,
  // one per concurrent insert, not created and deleted per insert: on ext4
  // without a journal (this kind of VM's disk) the kernel finds every new
  // inode by scanning past the ones deleted in the last minute or more, so
  // deleted files make later creates (the engine's parts too) cost CPU.
  // They live in DATA_DIR, not the system's temp folder: on the disk the
  // free-space guard watches (a spool file is as large as an insert), and
  // where the next start finds and removes what a crashed process left.
  const spool = openSpool(join(path, 'spool'));
  const freeFiles: string[] = [];
  let spoolFiles = 0;

  const rows = <T>(text: string): T[] => {
    const out: T[] = [];
    for (const line of text.split('\n')) if (line.length > 0) out.push(JSON.parse(line) as T);
    return out;
  };

  // The connection runs one statement at a time: a second one waits on a
  // lock in the engine, holding a libuv thread. Here they wait their turn in
  // order instead, where a bounded one that was cancelled (its client gone)
  // or whose deadline passed is skipped before it starts. chDB cannot
  // interrupt a running statement (no interrupt in its C ABI, and a KILL
  // QUERY would wait behind it on the same connection), so once running a
  // statement is bounded by its engine time limit alone.
  let tail: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(run: () => Promise<T>, options?: QueryOptions): Promise<T> => {
    const turn = tail.then(() => {
      const skip = mustSkip(options);
      if (skip) throw skip;
      return run();
    });
    tail = turn.catch(() => {});
    return turn;
  };
  const run = (sql: string, params: Params | undefined, format: string, options?: QueryOptions) =>
    inTurn(() => {
      const text = withSettings(sql, statementSettings(sql, options));
      return params ? session.queryBindAsync(text, params, { format }) : session.queryAsync(text, { format });
    }, options);

  return {
    backend: 'embedded',
    async query<T>(sql: string, params?: Params, options?: QueryOptions): Promise<T[]> {
      return rows<T>((await run(sql, params, 'JSONEachRow', options)).text());
    },
    async command(sql: string, params?: Params, options?: QueryOptions): Promise<void> {
      await run(sql, params, 'Null', options);
    },
    async insertCompact(table: string, columns: readonly string[], data: Buffer): Promise<void> {
      await inTurn(() => session.insert({ table, columns, values: data, format: 'JSONCompactEachRow' }));
    },
    async insertRowBinary(table: string, columns: readonly string[], data: RowBytes): Promise<void> {
      const file = freeFiles.pop() ?? join(spool, `${spoolFiles++}.bin`);
      try {
        await writePieces(file, rowPieces(data));
        // Table and column names are the store's own constants, never input; the path is bound.
        await inTurn(() => session.queryBindAsync(`INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM file({file:String}, RowBinary)`, { file }, { format: 'Null' }));
      } finally {
        freeFiles.push(file);
      }
    },
    async close(): Promise<void> {
      rmSync(spool, { recursive: true, force: true });
      session.close();
    },
  };
}

/**
 * This process's spool folder, `<root>/<pid>-XXXXXX`, after removing the
 * folders of processes that are gone (a crash leaves its spool behind).
 */
function openSpool(root: string): string {
  mkdirSync(root, { recursive: true });
  for (const name of readdirSync(root)) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (!(pid > 0 && (pid === process.pid || processAlive(pid)))) rmSync(join(root, name), { recursive: true, force: true });
  }
  return mkdtempSync(join(root, `${process.pid}-`));
}

// A SETTINGS clause at the very end of a statement (the store's own SQL
// writes at most `name = value` pairs there).
const TRAILING_SETTINGS = /\bSETTINGS\s+\w+\s*=\s*(?:'[^']*'|[\w.]+)(?:\s*,\s*\w+\s*=\s*(?:'[^']*'|[\w.]+))*$/i;

/**
 * The statement with the engine time limit as a trailing SETTINGS clause
 * (chDB takes settings per statement no other way), added to the one it
 * ends with if it has one. The values are numbers and a constant.
 */
export function withTimeLimit(sql: string, timeoutMs: number): string {
  return withSettings(sql, timeLimitSettings(timeoutMs));
}

/** The statement with `settings` (numbers and constants, never input) as its trailing SETTINGS clause; unchanged without any. */
export function withSettings(sql: string, settings: Record<string, number | string>): string {
  const pairs = Object.entries(settings).map(([name, value]) => `${name} = ${typeof value === 'number' ? value : `'${value}'`}`);
  if (pairs.length === 0) return sql;
  const text = sql.trimEnd();
  return TRAILING_SETTINGS.test(text) ? `${text}, ${pairs.join(', ')}` : `${text}\nSETTINGS ${pairs.join(', ')}`;
}

/** Writes the pieces into `file` (truncated first) with as few writev calls as the kernel allows. */
async function writePieces(file: string, pieces: readonly Uint8Array[]): Promise<void> {
  const handle = await open(file, 'w');
  try {
    let rest = pieces.filter((p) => p.byteLength > 0);
    while (rest.length > 0) {
      let { bytesWritten } = await handle.writev(rest as Uint8Array[]);
      // A short write: go on from the first byte not written.
      let i = 0;
      while (i < rest.length && bytesWritten >= rest[i].byteLength) bytesWritten -= rest[i++].byteLength;
      rest = rest.slice(i);
      if (rest.length > 0 && bytesWritten > 0) rest = [rest[0].subarray(bytesWritten), ...rest.slice(1)];
    }
  } finally {
    await handle.close();
  }
}
