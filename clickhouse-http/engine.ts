import { resolve } from 'node:path';
import { Session } from 'chdb';

/**
 * The engine as ClickHouse HTTP clients see it: connections of their own to
 * the store's data folder (chDB lets several connections share one folder,
 * each with its own settings), made read-only by the engine itself. Each is
 * given its limits and then `readonly = 1`, after which the engine refuses
 * any write, DDL, SYSTEM statement, table function that reaches outside
 * (file, url, s3, remote, ...) and any change of a setting, SET or a query's
 * own SETTINGS clause alike: nothing in a query's text can lift them.
 */
export interface EngineLimits {
  /** Engine time limit of one statement (max_execution_time), ms. */
  timeoutMs: number;
  maxResultRows: number;
  maxResultBytes: number;
  maxMemoryBytes: number;
  /** Threads one statement may use (max_threads): ingest keeps the rest of the machine. */
  maxThreads: number;
  /** The nice value of the threads running a statement (os_thread_priority), 0-19. */
  nice: number;
}

export interface EngineAnswer {
  bytes: Buffer;
  elapsedNs: number;
  rowsRead: number;
  bytesRead: number;
}

/** A refusal or failure in the engine, with ClickHouse's own code and text. */
export class EngineError extends Error {
  override name = 'EngineError';
  constructor(
    readonly code: number,
    message: string,
    /** The HTTP status, where it is not the one of the code. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** An error raised outside the engine (this interface's own checks), in the engine's form. */
export const engineError = (code: number, name: string, text: string, status?: number) => new EngineError(code, `Code: ${code}. DB::Exception: ${text}. (${name})`, status);

export const TOO_MANY_SIMULTANEOUS_QUERIES = 202;

const CAP_SYS_NICE = 23;

/**
 * Whether the engine will apply a nice value above 0 in this process: it
 * does only with CAP_SYS_NICE in the effective set (root, or e.g. systemd's
 * AmbientCapabilities=CAP_SYS_NICE), and otherwise runs the statements at
 * the priority of ingest without a word. `status`: /proc/self/status.
 */
export function lowersPriority(status: string): boolean {
  const effective = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return effective !== undefined && (BigInt(`0x${effective}`) & (1n << BigInt(CAP_SYS_NICE))) !== 0n;
}

/**
 * What readonly = 1 lets through in the embedded engine and this interface
 * refuses: KILL (every connection here is the same user, so it could stop
 * the store's own statements), USE (it would change the database of a
 * connection other clients share) and INTO OUTFILE (clickhouse-local writes
 * that file itself, readonly or not). Read from the engine's canonical text
 * of the statement, where keywords are upper case and comments are gone.
 */
export function refusal(statement: string): EngineError | null {
  const head = /^\s*(\w+)/.exec(statement)?.[1]?.toUpperCase();
  const refuse = (why: string) => engineError(164, 'READONLY', `Cannot execute query in readonly mode: ${why}`);
  if (head === 'KILL') return refuse('KILL is not served by this interface');
  if (head === 'USE') return refuse('USE is not served by this interface (name the database in the query, or as ?database=)');
  if (/\bINTO OUTFILE\b/.test(statement)) return refuse('INTO OUTFILE is not served by this interface');
  return null;
}

export class ReadonlyEngine {
  readonly #free: Session[] = [];
  readonly #all: Session[] = [];
  readonly #waiting: { resolve: (s: Session) => void; reject: (e: Error) => void }[] = [];
  #closed = false;
  /** The engine's time zone, for X-ClickHouse-Timezone. */
  timezone = 'UTC';
  /** The engine's version, for errors raised outside it. */
  version = '';

  private constructor(private readonly maxQueued: number) {}

  /** Opens `connections` read-only connections to the store in `dataDir` (the store must be open already). */
  static async open(dataDir: string, options: { connections: number; maxQueued: number; limits: EngineLimits }): Promise<ReadonlyEngine> {
    const engine = new ReadonlyEngine(options.maxQueued);
    const { limits } = options;
    // Numbers only, from the parsed config: the one place text is put into SQL here.
    const settings = [
      `max_execution_time = ${Math.max(1, Math.ceil(limits.timeoutMs / 1000))}`,
      `timeout_overflow_mode = 'throw'`,
      `max_result_rows = ${limits.maxResultRows}`,
      `max_result_bytes = ${limits.maxResultBytes}`,
      `result_overflow_mode = 'throw'`,
      `max_memory_usage = ${limits.maxMemoryBytes}`,
      `max_threads = ${limits.maxThreads}`,
      // A low CPU priority (nice 19 by default) for the threads running these
      // statements: a dashboard's queries take what ingest leaves. The engine
      // sets it only with CAP_SYS_NICE (it must restore the thread's priority
      // afterwards, which takes the capability): `lowersPriority` below.
      `os_thread_priority = ${limits.nice}`,
      // Last: from here on the connection can change nothing, itself included.
      'readonly = 1',
    ];
    try {
      for (let i = 0; i < options.connections; i++) {
        const session = new Session(resolve(dataDir));
        engine.#all.push(session);
        for (const setting of settings) await session.queryAsync(`SET ${setting}`, { format: 'Null' });
        engine.#free.push(session);
      }
      const [timezone, version] = (await engine.#all[0].queryAsync('SELECT timezone(), version()', { format: 'TabSeparatedRaw' })).text().trim().split('\t');
      engine.timezone = timezone || 'UTC';
      engine.version = version ?? '';
    } catch (err) {
      engine.close();
      throw err;
    }
    return engine;
  }

  /** Statements running or waiting for a connection. */
  get busy(): number {
    return this.#all.length - this.#free.length + this.#waiting.length;
  }

  /**
   * Runs one statement. The engine's own parser first writes it in its
   * canonical form (refusing several statements at once), which `refusal`
   * checks and `formatOf` reads the output format from; then the text as
   * sent runs (the canonical form leaves out the data of INSERT ... VALUES,
   * and an INSERT must meet the engine's own refusal). One whose `signal`
   * is aborted while it waits for a connection never starts.
   */
  async run(sql: string, params: Record<string, string>, formatOf: (statement: string) => string, signal?: AbortSignal): Promise<EngineAnswer & { format: string }> {
    if (this.#closed) throw engineError(TOO_MANY_SIMULTANEOUS_QUERIES, 'TOO_MANY_SIMULTANEOUS_QUERIES', 'the service is stopping');
    if (this.#free.length === 0 && this.#waiting.length >= this.maxQueued) {
      throw engineError(
        TOO_MANY_SIMULTANEOUS_QUERIES,
        'TOO_MANY_SIMULTANEOUS_QUERIES',
        `Too many simultaneous queries: ${this.#all.length} running and ${this.#waiting.length} waiting (CLICKHOUSE_HTTP_MAX_QUEUED)`,
      );
    }
    const session = this.#free.pop() ?? (await new Promise<Session>((resolve, reject) => this.#waiting.push({ resolve, reject })));
    try {
      // A client that went away while its statement waited: nothing to answer.
      if (signal?.aborted) throw engineError(394, 'QUERY_WAS_CANCELLED', 'Query was cancelled: the client went away before it started');
      const statement = Buffer.from((await session.queryBindAsync('SELECT formatQuerySingleLine({q:String})', { q: sql }, { format: 'RawBLOB' })).bytes()).toString('utf8');
      const refused = refusal(statement);
      if (refused) throw refused;
      const format = formatOf(statement);
      const result = Object.keys(params).length > 0 ? await session.queryBindAsync(sql, params, { format }) : await session.queryAsync(sql, { format });
      const bytes = result.bytes();
      return {
        bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        elapsedNs: Math.round(result.elapsed * 1e9),
        rowsRead: result.rowsRead,
        bytesRead: result.bytesRead,
        format,
      };
    } catch (err) {
      if (err instanceof EngineError) throw err;
      const e = err as Error & { clickhouseCode?: number };
      const code = e.clickhouseCode ?? Number(/^Code: (\d+)\./.exec(e.message)?.[1] ?? 1000);
      throw new EngineError(code, e.message);
    } finally {
      const next = this.#waiting.shift();
      if (next) next.resolve(session);
      else this.#free.push(session);
    }
  }

  /** Closes the connections (the store's own stays open). */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(engineError(TOO_MANY_SIMULTANEOUS_QUERIES, 'TOO_MANY_SIMULTANEOUS_QUERIES', 'the service is stopping'));
    for (const session of this.#all) session.close();
    this.#all.length = 0;
    this.#free.length = 0;
  }
}
