import { writeFileSync } from 'node:fs';
import { UsageError } from './args.ts';

export interface ReportOptions {
  extra: Record<string, string>;
  env: Record<string, string | undefined>;
  out: { write(line: string): unknown };
}

/**
 * `driftwatch report`: fetches GET /v1/models/{model}/report.html from a
 * running service and writes it to a file. The key, when the service needs
 * one, comes from DRIFTWATCH_API_KEY and not from a flag: a flag would show
 * in the process list and the shell's history.
 */
export async function runReport({ extra, env, out }: ReportOptions): Promise<number> {
  for (const name of ['url', 'model'] as const) if (!extra[name]) throw new UsageError(`report needs --${name}`);
  let base: URL;
  try {
    base = new URL(extra.url);
  } catch {
    throw new UsageError(`--url must be the service's address, e.g. http://127.0.0.1:8080, got "${extra.url}"`);
  }
  const url = new URL(`/v1/models/${encodeURIComponent(extra.model)}/report.html`, base);
  if (extra.from) url.searchParams.set('from', extra.from);
  if (extra.to) url.searchParams.set('to', extra.to);
  if (extra.baseline) url.searchParams.set('baseline_id', extra.baseline);
  const key = env.DRIFTWATCH_API_KEY;
  let response: Response;
  try {
    response = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  } catch (err) {
    process.stderr.write(`driftwatch: cannot reach ${base.origin}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}\n`);
    return 1;
  }
  const body = await response.text();
  if (!response.ok) {
    let reason = body.slice(0, 300);
    try {
      const error = JSON.parse(body) as { code?: string; message?: string };
      reason = `${error.message} (${error.code})`;
    } catch {
      // not the API's JSON error: its text is the reason
    }
    const hint = response.status === 401 ? '; set DRIFTWATCH_API_KEY to a key with the read scope' : '';
    process.stderr.write(`driftwatch: the service answered ${response.status}: ${reason}${hint}\n`);
    return 1;
  }
  const file = extra.out ?? `driftwatch-${extra.model}.html`;
  writeFileSync(file, body);
  out.write(`wrote ${file} (${Math.round(Buffer.byteLength(body) / 1024)} KB)\n`);
  return 0;
}
