/**
 * The /v1 API as the page calls it, with the read key when one is needed.
 *
 * The key lives in sessionStorage: it stays with this tab and is gone when
 * the tab closes, where localStorage would keep it on disk for anyone who
 * opens the browser later; and unlike a cookie the browser never attaches it
 * to a request on its own, so no other site can make the page's requests
 * with it. It travels only as an Authorization header, never in a URL, so it
 * ends up in no history, link or access log.
 */
const KEY_ITEM = 'driftwatch.key';

export const storedKey = () => sessionStorage.getItem(KEY_ITEM);
export const saveKey = (key: string) => sessionStorage.setItem(KEY_ITEM, key);
export const forgetKey = () => sessionStorage.removeItem(KEY_ITEM);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The service answers a bounded number of analysis requests at once
// (ANALYSIS_MAX_CONCURRENT, 2 by default) and refuses more with a 503: the
// page asks one at a time beyond that, and waits out a refusal.
const MAX_IN_FLIGHT = 2;
let inFlight = 0;
const queue: (() => void)[] = [];
async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((r) => queue.push(r));
  inFlight++;
  try {
    return await work();
  } finally {
    inFlight--;
    queue.shift()?.();
  }
}

export type Query = Record<string, string | number | boolean | string[] | undefined>;

async function request(path: string, query: Query, accept: string): Promise<Response> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const one of [v].flat()) if (one !== undefined && one !== '') params.append(k, String(one));
  const url = params.size > 0 ? `${path}?${params}` : path;
  const key = storedKey();
  const headers: Record<string, string> = { accept };
  if (key) headers.authorization = `Bearer ${key}`;
  for (let attempt = 0; ; attempt++) {
    const response = await slot(() => fetch(url, { headers }));
    if (response.ok) return response;
    if (response.status === 503 && attempt < 6) {
      const after = Number(response.headers.get('retry-after'));
      await sleep(Math.min(5, after > 0 ? after : 1) * 1000);
      continue;
    }
    let body: { code?: string; message?: string } = {};
    try {
      body = await response.json();
    } catch {
      // not JSON: the status says enough
    }
    throw new ApiError(response.status, body.code ?? String(response.status), body.message ?? response.statusText);
  }
}

export async function get<T>(path: string, query: Query = {}): Promise<T> {
  return (await request(path, query, 'application/json')).json() as Promise<T>;
}

export async function getText(path: string, query: Query = {}): Promise<string> {
  return (await request(path, query, 'text/html')).text();
}
