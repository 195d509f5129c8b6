/**
 * The wait before the next attempt after `failures` failures in a row:
 * exponential (initial * 2^(failures-1), capped at max) with "equal jitter"
 * (half of it fixed, half random), so that many senders restarted together
 * do not come back in step, while each still waits longer after each
 * failure. A Retry-After from the service is a floor.
 */
export function backoffMs(failures: number, initialMs: number, maxMs: number, retryAfterMs: number | null, random = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

/** Retry-After (RFC 9110): delay-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | null {
  if (header === null) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
