// The model server of the example: a scikit-learn logistic regression
// (scripts/fixtures/shadow_models.py, converted to ONNX) served over HTTP
// by onnxruntime-node. Every prediction is logged to driftwatch through
// @driftwatch/client; a request it cannot score is logged as a failed
// prediction. Its own metrics (requests, latency) are at /metrics for the
// Prometheus that scrapes driftwatch too.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import * as ort from 'onnxruntime-node';
import { Counter, Histogram, Registry } from 'prom-client';
import { DriftwatchClient } from '../../clients/js/src/index.ts';

/** The model's four numeric inputs, in the order it was trained on. */
export const INPUTS = ['annual_income', 'age', 'debt_ratio', 'credit_score'] as const;
export const MODEL = 'credit-onnx';
const MODEL_FILE = new URL('../../test/fixtures/shadow/logreg.onnx', import.meta.url);

class MissingFeature extends Error {
  override name = 'MissingFeature';
}

export interface ModelServer {
  url: string;
  client: DriftwatchClient;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export async function startModelServer(options: { driftwatchUrl: string; port?: number }): Promise<ModelServer> {
  const session = await ort.InferenceSession.create(readFileSync(MODEL_FILE));
  const client = new DriftwatchClient({ url: options.driftwatchUrl });
  const registry = new Registry();
  const requests = new Counter({ name: 'model_server_requests_total', help: 'Prediction requests by outcome (ok, error).', labelNames: ['outcome'], registers: [registry] });
  const seconds = new Histogram({ name: 'model_server_request_duration_seconds', help: 'Time to score one request.', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05], registers: [registry] });

  const server = createServer(async (req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
      return;
    }
    if (req.method !== 'POST' || req.url !== '/predict') return void res.writeHead(404).end();
    let input: { event_id?: string; features: Record<string, number> };
    try {
      input = (await body(req)) as typeof input;
    } catch {
      return void res.writeHead(400).end('{"error":"the body must be JSON"}');
    }
    const end = seconds.startTimer();
    try {
      const p1 = await client.timed({ model: MODEL, features: input.features, event_id: input.event_id }, async () => {
        const row = INPUTS.map((name) => {
          const v = input.features?.[name];
          if (typeof v !== 'number') throw new MissingFeature(`${name} is missing`);
          return v;
        });
        const out = await session.run({ float_input: new ort.Tensor('float32', Float32Array.from(row), [1, INPUTS.length]) });
        return Number((out.probabilities.data as Float32Array)[1]);
      });
      requests.inc({ outcome: 'ok' });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ probability: p1 }));
    } catch (err) {
      requests.inc({ outcome: 'error' });
      res.writeHead(422, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message }));
    } finally {
      end();
    }
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    client,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await client.close();
      await session.release();
    },
  };
}
