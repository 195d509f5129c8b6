import http from 'node:http';

/** One POST with a keep-alive agent; the answer's status and text, whatever the status. */
export function post(url: string, path: string, body: Buffer | string, agent?: http.Agent, encoding?: string): Promise<{ status: number; text: string }> {
  const target = new URL(`${url}${path}`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(encoding ? { 'content-encoding': encoding } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends pre-serialised event bodies to /v1/events with `concurrency`
 * requests in flight, as fast as the service answers; any answer but 200
 * fails the run. Returns the events accepted, the seconds it took, and the
 * requests' round-trip times (ms) at the median and the 99th percentile.
 * `encoding`: the Content-Encoding the bodies were compressed with.
 */
export async function sendEvents(url: string, bodies: Buffer[], concurrency: number, encoding?: string): Promise<{ accepted: number; seconds: number; p50Ms: number; p99Ms: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  let accepted = 0;
  const latencies: number[] = [];
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < bodies.length) {
          const sent = performance.now();
          const r = await post(url, '/v1/events', bodies[next++], agent, encoding);
          latencies.push(performance.now() - sent);
          if (r.status !== 200) throw new Error(`ingest: ${r.status} ${r.text}`);
          accepted += (JSON.parse(r.text) as { accepted: number }).accepted;
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { accepted, seconds: (performance.now() - started) / 1000, p50Ms: at(0.5), p99Ms: at(0.99) };
}
