import type { jobOut } from '../api/routes/jobs.ts';

/** A job as the service answers it (GET /v1/jobs/{id}), with the result its kind documents. */
export type JobAnswer<Result> = Omit<ReturnType<typeof jobOut>, 'result'> & { result: Result | null };

/** "the service answered 404 DW_JOB_NOT_FOUND: no job ..." from an answer of the API's error shape, or its first bytes. */
export function serviceAnswered(answer: { status: number; body: string }): string {
  try {
    const e = JSON.parse(answer.body) as { code?: string; message?: string };
    return `the service answered ${answer.status} ${e.code ?? ''}: ${e.message ?? answer.body.slice(0, 300)}`;
  } catch {
    return `the service answered ${answer.status}: ${answer.body.slice(0, 300)}`;
  }
}

export interface FollowOptions<Result> {
  /** The job's own URL on the service. */
  url: string;
  headers: Record<string, string>;
  pollMs: number;
  /** Aborting it asks the service to cancel the job (once); following goes on until the job says it ended. */
  signal?: AbortSignal;
  onCancel?: () => void;
  /** Told of the job after every poll. */
  onPoll?: (job: JobAnswer<Result>) => void;
  /** The error to throw when the service cannot be reached or answers a poll with anything but 200. */
  fail: (message: string) => Error;
}

/**
 * Follows a job the service started until it is no longer running: what
 * `driftwatch import` and `driftwatch backfill` do once their request was
 * accepted. Resolves with the job as it ended.
 */
export async function followJob<Result>(started: JobAnswer<Result>, options: FollowOptions<Result>): Promise<JobAnswer<Result>> {
  const { url, headers, signal } = options;
  let cancelled = false;
  const cancel = () => {
    if (cancelled) return;
    cancelled = true;
    options.onCancel?.();
    void fetch(url, { method: 'DELETE', headers }).catch(() => {});
  };
  signal?.addEventListener('abort', cancel, { once: true });
  if (signal?.aborted) cancel();
  let job = started;
  try {
    while (job.state === 'running') {
      await new Promise((r) => setTimeout(r, options.pollMs));
      let answer: { status: number; body: string };
      try {
        const response = await fetch(url, { headers });
        answer = { status: response.status, body: await response.text() };
      } catch (err) {
        throw options.fail(`cannot reach ${new URL(url).origin}: ${(err as Error).message}`);
      }
      if (answer.status !== 200) throw options.fail(serviceAnswered(answer));
      job = JSON.parse(answer.body) as JobAnswer<Result>;
      options.onPoll?.(job);
    }
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
  return job;
}
