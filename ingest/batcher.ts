import { rowPieces, type RowBytes } from '../store/sql.ts';

/**
 * Group commit for inserts. Requests hand in their encoded rows and wait;
 * while one insert is in flight, the rows of every request that arrives
 * meanwhile collect and go to the store together in the next insert. Idle,
 * a request is inserted at once (no added latency); busy, inserts grow by
 * themselves to what the store can take (few large parts instead of many
 * small ones). A request's promise settles when its own rows are stored, so
 * an HTTP 200 still means "stored".
 */
export class BusyError extends Error {
  constructor(readonly pendingRows: number) {
    super(`ingest queue full (${pendingRows} rows waiting for the store); retry shortly`);
    this.name = 'BusyError';
  }
}

export interface BatcherOptions {
  /** Rows in one insert at most. */
  maxBatchRows: number;
  /** Rows allowed to wait; beyond this `add` fails fast with BusyError (bounded memory). */
  maxPendingRows: number;
}

interface Pending {
  /** Encoded rows (RowBinary): batches are their pieces one after another. */
  bytes: RowBytes;
  rows: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** How many queued entries the next insert takes: at least one, then while under maxRows. Pure. */
export function planBatch(queuedRows: readonly number[], maxRows: number): number {
  let rows = 0;
  let take = 0;
  while (take < queuedRows.length && (take === 0 || rows + queuedRows[take] <= maxRows)) rows += queuedRows[take++];
  return take;
}

export class InsertBatcher {
  private queue: Pending[] = [];
  private pendingRows = 0;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly insert: (bytes: RowBytes, rows: number) => Promise<void>,
    private readonly options: BatcherOptions,
  ) {}

  /** Rows waiting for the store, not counting the insert in flight. */
  get waitingRows(): number {
    return this.pendingRows;
  }

  add(bytes: RowBytes, rows: number): Promise<void> {
    if (rows === 0) return Promise.resolve();
    if (this.pendingRows > 0 && this.pendingRows + rows > this.options.maxPendingRows) {
      return Promise.reject(new BusyError(this.pendingRows));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ bytes, rows, resolve, reject });
      this.pendingRows += rows;
      if (!this.inFlight) this.inFlight = this.drain();
    });
  }

  /** Waits until everything handed in so far has been inserted or failed. */
  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const take = planBatch(this.queue.map((p) => p.rows), this.options.maxBatchRows);
        const batch = this.queue.splice(0, take);
        for (const p of batch) this.pendingRows -= p.rows;
        try {
          const rows = batch.reduce((n, p) => n + p.rows, 0);
          await this.insert(batch.length === 1 ? batch[0].bytes : batch.flatMap((p) => rowPieces(p.bytes)), rows);
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.inFlight = null;
    }
  }
}
