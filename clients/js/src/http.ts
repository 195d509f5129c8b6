import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { parseRetryAfter } from './backoff.js';
import type { SendResult, Transport } from './transport.js';
import type { Stream } from './types.js';

const gzipAsync = promisify(gzip);

export interface HttpOptions {
  url: string;
  apiKey?: string;
  requestTimeoutMs: number;
  gzipLevel: number;
}

/** Answers worth another try: the service is busy, away or broken for now. */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * POST /v1/events and /v1/labels with NDJSON bodies, gzip-compressed.
 * Compression runs in libuv's thread pool, off the event loop; fetch
 * (undici, in Node itself) keeps connections alive between batches.
 */
export class HttpTransport implements Transport {
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: HttpOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.headers = {
      'content-type': 'application/x-ndjson',
      'content-encoding': 'gzip',
      ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    };
  }

  async send(stream: Stream, json: string[], signal: AbortSignal): Promise<SendResult> {
    const body = await gzipAsync(json.join('\n'), { level: this.options.gzipLevel });
    let response: Response;
    try {
      response = await fetch(`${this.base}/v1/${stream}`, {
        method: 'POST',
        headers: this.headers,
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.requestTimeoutMs)]),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return { kind: 'retry', reason: `${(err as Error).message}${cause ? ` (${cause})` : ''}`, retryAfterMs: null };
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      return { kind: 'retry', reason: `reading the answer: ${(err as Error).message}`, retryAfterMs: null };
    }
    if (response.ok) {
      const answer = JSON.parse(text) as { rejected?: { index: number; reason: string }[] };
      return { kind: 'sent', rejected: answer.rejected ?? [] };
    }
    const reason = describe(response.status, text);
    if (retryable(response.status)) return { kind: 'retry', reason, retryAfterMs: parseRetryAfter(response.headers.get('retry-after')) };
    return { kind: 'refused', status: response.status, reason };
  }

  async close(): Promise<void> {}
}

/** "503 DW_BUSY: ..." from driftwatch's error body, or the status and the start of whatever came back. */
function describe(status: number, text: string): string {
  try {
    const body = JSON.parse(text) as { code?: string; message?: string };
    if (body.message) return `${status}${body.code ? ` ${body.code}` : ''}: ${body.message}`;
  } catch {
    // not JSON: a proxy's page, say
  }
  return `${status}: ${text.slice(0, 200)}`;
}
