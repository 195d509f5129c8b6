import type { BackfillSummary } from '../analyzers/backfill.ts';
import { parseArgs, UsageError } from './args.ts';
import { followJob, type JobAnswer } from './job.ts';

/**
 * `driftwatch backfill`: asks a running service to analyse a past range of a
 * model (POST /v1/models/{model}/analyze), follows the job, and prints its
 * progress and which windows drifted. Exit 0 when it succeeded, 1 when it
 * failed or was cancelled (Ctrl-C cancels it), 2 on a usage error.
 */
export const BACKFILL_HELP = `Usage: driftwatch backfill --url URL --model M --from T --to T [--api-key K]

  --url URL       The running service, e.g. http://127.0.0.1:8080
  --model M       The model to analyse (it needs a baseline)
  --from T        Start of the range: RFC 3339 or epoch milliseconds
  --to T          End of the range (exclusive)
  --api-key K     An admin key, when the service has keys (or DRIFTWATCH_API_KEY)
  --poll-interval S  Seconds between progress checks (default 1)
`;

interface Out {
  write(text: string): unknown;
}

type BackfillJob = JobAnswer<BackfillSummary>;

export async function runBackfill(
  argv: readonly string[],
  io: { env: Record<string, string | undefined>; out: Out; err: Out; signal?: AbortSignal },
): Promise<number> {
  let args;
  try {
    args = parseArgs(['backfill', ...argv], ['url', 'model', 'from', 'to', 'api-key', 'poll-interval']);
    if (args.help) {
      io.out.write(BACKFILL_HELP);
      return 0;
    }
    if (Object.keys(args.config).length > 0) throw new UsageError(`backfill takes no service setting (${Object.keys(args.config).join(', ')}): it asks a running service at --url`);
    for (const flag of ['url', 'model', 'from', 'to']) if (!args.extra[flag]) throw new UsageError(`--${flag} is required`);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err.write(`driftwatch backfill: ${err.message}\n\n${BACKFILL_HELP}`);
      return 2;
    }
    throw err;
  }
  const { url, model, from, to } = args.extra;
  const poll = Math.max(0.05, Number(args.extra['poll-interval'] ?? 1)) * 1000;
  const key = args.extra['api-key'] ?? io.env.DRIFTWATCH_API_KEY;
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) };
  const base = url.replace(/\/$/, '');
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text);
    } catch {
      // Not JSON: said below with the status.
    }
    return { status: response.status, json, text };
  };
  const asTime = (t: string) => (/^\d+$/.test(t) ? Number(t) : t);

  let job: BackfillJob;
  try {
    const started = await call('POST', `/v1/models/${encodeURIComponent(model)}/analyze`, { from: asTime(from), to: asTime(to) });
    if (started.status !== 202) {
      io.err.write(`driftwatch backfill: the service refused (${started.status}): ${String(started.json.message ?? started.text.slice(0, 300))}\n`);
      return 1;
    }
    const first = started.json as unknown as BackfillJob;
    io.out.write(`backfill of ${model}: job ${first.id}, ${first.total ?? '?'} windows\n`);
    job = await followJob(first, {
      url: `${base}/v1/jobs/${first.id}`,
      headers,
      pollMs: poll,
      signal: io.signal,
      onCancel: () => io.err.write('cancelling: the windows analysed so far stay stored\n'),
      onPoll(seen) {
        const rate = seen.rate_per_second === null ? '' : `, ${seen.rate_per_second.toFixed(1)} windows/s`;
        const eta = seen.eta_seconds === null || seen.state !== 'running' ? '' : `, ETA ${Math.ceil(seen.eta_seconds)} s`;
        io.out.write(`windows ${seen.done}/${seen.total ?? '?'}${rate}${eta}\n`);
      },
      fail: (message) => new Error(message),
    });
  } catch (err) {
    io.err.write(`driftwatch backfill: cannot reach ${base}: ${(err as Error).message}\n`);
    return 1;
  }
  const r = job.result;
  if (r) {
    io.out.write(`${r.analysed} of ${r.windows} windows analysed, ${r.from} - ${r.to}; ${r.drifted_windows.length} drifted\n`);
    for (const w of r.drifted_windows) {
      const what = [...w.drifted_features, ...(w.prediction_drifted ? ['@prediction'] : [])].join(', ');
      io.out.write(`  ${w.from} - ${w.to}  ${what}\n`);
    }
    io.out.write(`alert transitions recorded: ${r.alert_transitions}; notifications sent: ${r.notifications}\n`);
  }
  if (job.state === 'succeeded') return 0;
  io.err.write(`driftwatch backfill: job ${job.id} ${job.state}${job.error ? `: ${job.error}` : ''}\n`);
  return 1;
}
