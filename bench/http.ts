import http from 'node:http';

/** One POST with a keep-alive agent; the answer's status and text, whatever the status. */
export function post(url: string, path: string, body: Buffer | string, agent?: http.Agent): Promise<{ status: number; text: string }> {
  const target = new URL(`${url}${path}`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
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
 * fails the run. Returns the events accepted and the seconds it took.
 */
export async function sendEvents(url: string, bodies: Buffer[], concurrency: number): Promise<{ accepted: number; seconds: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  let accepted = 0;
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < bodies.length) {
          const r = await post(url, '/v1/events', bodies[next++], agent);
          if (r.status !== 200) throw new Error(`ingest: ${r.status} ${r.text}`);
          accepted += (JSON.parse(r.text) as { accepted: number }).accepted;
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { accepted, seconds: (performance.now() - started) / 1000 };
}
