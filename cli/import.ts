import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ImportResult } from '../import/run.ts';
import { formatOf, SourceError } from '../import/source.ts';
import { UsageError } from './args.ts';
import { followJob, serviceAnswered, type JobAnswer } from './job.ts';

/** The command's own flags: the service, the model, the format, and the column mapping. */
export const IMPORT_FLAGS = [
  'url',
  'model',
  'format',
  'api-key',
  'poll-interval',
  'id-column',
  'timestamp-column',
  'prediction-column',
  'score-columns',
  'label-column',
  'tag-columns',
  'latency-column',
  'model-version-column',
  'feature-columns',
] as const;

const LISTS = new Set(['score-columns', 'tag-columns', 'feature-columns']);

export interface ImportCommand {
  path: string | undefined;
  extra: Record<string, string>;
  env: NodeJS.ProcessEnv;
  out: NodeJS.WritableStream;
  signal?: AbortSignal;
}

type ImportJob = JobAnswer<ImportResult>;

export class ImportFailed extends Error {
  override name = 'ImportFailed';
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');

/**
 * `driftwatch import PATH --url URL --model M`: sends the file's bytes to a
 * running service (streamed from disk, never read whole), which imports it
 * as a job; prints the job's progress until it ends, then its summary.
 * Resolves true when the import succeeded.
 */
export async function runImport(cmd: ImportCommand): Promise<boolean> {
  const { extra, out } = cmd;
  if (!cmd.path) throw new UsageError('import needs the file: driftwatch import PATH --url URL --model M');
  if (!extra.url) throw new UsageError('import needs --url, the service (e.g. http://127.0.0.1:8080)');
  if (!extra.model) throw new UsageError('import needs --model, the model the events belong to');
  let base: URL;
  try {
    base = new URL(extra.url);
  } catch {
    throw new UsageError(`--url "${extra.url}" is not a URL`);
  }
  let format;
  try {
    format = formatOf(basename(cmd.path), extra.format);
  } catch (err) {
    if (err instanceof SourceError) throw new UsageError(err.message);
    throw err;
  }
  const info = await stat(cmd.path).catch(() => null);
  if (!info?.isFile()) throw new UsageError(`${cmd.path} is not a file`);
  const pollMs = Number(extra['poll-interval'] ?? 1) * 1000;
  if (!(pollMs > 0)) throw new UsageError('--poll-interval must be a positive number of seconds');
  const key = extra['api-key'] ?? cmd.env.DRIFTWATCH_API_KEY;
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};

  const query = new URLSearchParams({ format: format.format });
  if (format.compression) query.set('compression', format.compression);
  for (const flag of IMPORT_FLAGS) {
    if (!flag.endsWith('-column') && !LISTS.has(flag)) continue;
    const value = extra[flag];
    if (value === undefined) continue;
    const field = flag.replace(/-/g, '_');
    if (LISTS.has(flag)) for (const name of value.split(',').map((s) => s.trim()).filter(Boolean)) query.append(field, name);
    else query.set(field, value);
  }
  const model = encodeURIComponent(extra.model);
  out.write(`uploading ${cmd.path} (${n(info.size)} bytes, ${format.format}${format.compression ? `, ${format.compression}` : ''}) to ${base.origin}\n`);
  const started = await send(new URL(`/v1/models/${model}/import/upload?${query}`, base), {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(info.size) },
    file: cmd.path,
  });
  if (started.status !== 202) throw new ImportFailed(serviceAnswered(started));
  const first = JSON.parse(started.body) as ImportJob;
  out.write(`import job ${first.id} started\n`);

  let last = -1;
  const job = await followJob(first, {
    url: new URL(`/v1/jobs/${first.id}`, base).href,
    headers,
    pollMs,
    signal: cmd.signal,
    onCancel: () => out.write('cancelling the import...\n'),
    onPoll(polled) {
      if (polled.state === 'running' && polled.done !== last) {
        last = polled.done;
        out.write(`${progressLine(polled)}\n`);
      }
    },
    fail: (message) => new ImportFailed(message),
  });
  if (job.state !== 'succeeded' || !job.result) {
    out.write(`import ${job.state}${job.error ? `: ${job.error}` : ''} (${n(job.done)} rows done; what was stored stays, and importing the file again stores each row once)\n`);
    return false;
  }
  out.write(summary(job.result));
  return true;
}

/** "1,200,000 of 10,000,000 rows (12%) · 150,000 rows/s · ETA 59s" */
export function progressLine(job: Pick<ImportJob, 'done' | 'total' | 'rate_per_second' | 'eta_seconds'>): string {
  if (job.total === null) return 'reading the file...';
  const share = job.total > 0 ? ` (${Math.floor((job.done / job.total) * 100)}%)` : '';
  const rate = job.rate_per_second !== null ? ` · ${n(job.rate_per_second)} rows/s` : '';
  const eta = job.eta_seconds !== null ? ` · ETA ${Math.ceil(job.eta_seconds)}s` : '';
  return `${n(job.done)} of ${n(job.total)} rows${share}${rate}${eta}`;
}

function summary(r: ImportResult): string {
  const lines = [
    `imported ${n(r.accepted)} of ${n(r.rows)} rows in ${r.seconds.toFixed(1)}s (${n(r.rows / Math.max(r.seconds, 0.001))} rows/s); ${n(r.labels)} labels`,
    `features (${r.features.length}): ${r.features.join(', ')}`,
  ];
  if (r.ignored_columns.length > 0) lines.push(`columns left out (of a type no field takes): ${r.ignored_columns.join(', ')}`);
  if (r.rejected > 0) {
    lines.push(`rejected ${n(r.rejected)} rows: ${Object.entries(r.rejected_by_reason).map(([code, count]) => `${code} ${n(count)}`).join(', ')}`);
    for (const row of r.first_rejected) lines.push(`  row ${row.row}: ${row.code}: ${row.reason}`);
  }
  return lines.join('\n') + '\n';
}

/** One HTTP request, the body streamed from `file` when given; the whole answer as text. */
async function send(url: URL, options: { method: string; headers: Record<string, string>; file?: string }): Promise<{ status: number; body: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method, headers: options.headers }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new ImportFailed(`cannot reach ${url.origin}: ${err.message}`)));
    if (options.file) {
      // The service may answer (a refusal) before the whole file is sent: that answer is what counts.
      pipeline(createReadStream(options.file), req).catch(() => {});
    } else req.end();
  });
}
