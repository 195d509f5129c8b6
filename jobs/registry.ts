import { randomUUID } from 'node:crypto';

/**
 * Long work the API starts and answers for at once (an import, a backfill):
 * the caller gets a job id and follows it at GET /v1/jobs/{id}. Jobs live in
 * the process that runs them; what they produce (events, history) is in the
 * store, so a restart loses only the progress record of a job it also
 * stopped. Finished jobs are kept, newest first, up to `keep`.
 */
export type JobState = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobView {
  id: string;
  kind: string;
  model: string;
  state: JobState;
  created_at: number;
  finished_at: number | null;
  /** Units of work done, of `total` when it is known (rows, windows). */
  done: number;
  total: number | null;
  unit: string;
  /** Units per second since the start, and the seconds left at that rate (null while unknown). */
  rate_per_second: number | null;
  eta_seconds: number | null;
  /** What the job answered when it succeeded, and why it failed. */
  result: unknown;
  error: string | null;
}

/** What a job's work is handed: a signal that aborts on cancel, and a way to report progress. */
export interface JobContext {
  signal: AbortSignal;
  progress(done: number, total?: number | null): void;
}

interface Job {
  view: JobView;
  controller: AbortController;
  settled: Promise<void>;
}

export interface JobsOptions {
  /** Finished jobs remembered (default 100). */
  keep?: number;
  now?: () => number;
  /** Told of a job that failed, for the log. */
  onFailure?: (view: JobView, err: unknown) => void;
}

export class Jobs {
  private readonly jobs = new Map<string, Job>();
  private readonly keep: number;
  private readonly now: () => number;

  constructor(private readonly options: JobsOptions = {}) {
    this.keep = options.keep ?? 100;
    this.now = options.now ?? Date.now;
  }

  /** Starts `work` now and returns its job; the work's answer becomes the job's result. */
  start(kind: string, model: string, unit: string, work: (ctx: JobContext) => Promise<unknown>): JobView {
    const controller = new AbortController();
    const view: JobView = {
      id: randomUUID(),
      kind,
      model,
      state: 'running',
      created_at: this.now(),
      finished_at: null,
      done: 0,
      total: null,
      unit,
      rate_per_second: null,
      eta_seconds: null,
      result: null,
      error: null,
    };
    const ctx: JobContext = {
      signal: controller.signal,
      progress: (done, total) => {
        view.done = done;
        if (total !== undefined) view.total = total;
      },
    };
    const settled = (async () => {
      try {
        view.result = (await work(ctx)) ?? null;
        view.state = controller.signal.aborted ? 'cancelled' : 'succeeded';
      } catch (err) {
        if (controller.signal.aborted) view.state = 'cancelled';
        else {
          view.state = 'failed';
          view.error = err instanceof Error ? err.message : String(err);
          this.options.onFailure?.(this.snapshot(view), err);
        }
      } finally {
        view.finished_at = this.now();
        this.prune();
      }
    })();
    this.jobs.set(view.id, { view, controller, settled });
    return this.snapshot(view);
  }

  get(id: string): JobView | undefined {
    const job = this.jobs.get(id);
    return job && this.snapshot(job.view);
  }

  /** Every job, newest first, optionally of one model or kind. */
  list(filter: { model?: string; kind?: string } = {}): JobView[] {
    return [...this.jobs.values()]
      .map((j) => j.view)
      .filter((v) => (filter.model === undefined || v.model === filter.model) && (filter.kind === undefined || v.kind === filter.kind))
      .sort((a, b) => b.created_at - a.created_at)
      .map((v) => this.snapshot(v));
  }

  /** Asks a running job to stop; it is `cancelled` once its work returns. False when there is no such running job. */
  cancel(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || job.view.state !== 'running') return false;
    job.controller.abort(new Error('cancelled'));
    return true;
  }

  /** Resolves once the job has finished (for tests and shutdown). */
  async settled(id: string): Promise<JobView | undefined> {
    await this.jobs.get(id)?.settled;
    return this.get(id);
  }

  /** Cancels every running job and waits for them: at shutdown. */
  async close(): Promise<void> {
    for (const job of this.jobs.values()) if (job.view.state === 'running') job.controller.abort(new Error('shutting down'));
    await Promise.all([...this.jobs.values()].map((j) => j.settled));
  }

  private snapshot(view: JobView): JobView {
    const end = view.finished_at ?? this.now();
    const seconds = (end - view.created_at) / 1000;
    const rate = seconds > 0 && view.done > 0 ? view.done / seconds : null;
    const eta =
      view.state === 'running' && rate !== null && view.total !== null ? Math.max(0, (view.total - view.done) / rate) : view.state === 'running' ? null : 0;
    return { ...view, rate_per_second: rate, eta_seconds: eta };
  }

  private prune(): void {
    const finished = [...this.jobs.values()].filter((j) => j.view.state !== 'running').sort((a, b) => b.view.created_at - a.view.created_at);
    for (const job of finished.slice(this.keep)) this.jobs.delete(job.view.id);
  }
}
