// Worker: POSTs pre-serialised bodies to the service with a fixed number of
// requests in flight, so the load generator costs the server's core little.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const { url, bodies, concurrency } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const target = new URL(url);

function post(body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text).accepted) : reject(new Error(`${res.statusCode} ${text}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const started = performance.now();
let next = 0;
let accepted = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < bodies.length) {
      const n = await post(Buffer.from(bodies[next++]));
      accepted += n;
    }
  }),
);
parentPort.postMessage({ accepted, seconds: (performance.now() - started) / 1000 });
agent.destroy();
