import { parentPort } from 'node:worker_threads';
import type { EventLimits } from '../core/event.ts';
import type { BodyFormat } from './body.ts';
import { prepareBody, type Stream } from './prepare.ts';

export interface PrepareRequest {
  id: number;
  stream: Stream;
  body: Uint8Array;
  format: BodyFormat;
  limits: EventLimits;
}

parentPort!.on('message', (request: PrepareRequest) => {
  try {
    const result = prepareBody(request.stream, request.body, request.format, request.limits);
    parentPort!.postMessage({ id: request.id, result });
  } catch (err) {
    parentPort!.postMessage({ id: request.id, error: (err as Error).message });
  }
});
