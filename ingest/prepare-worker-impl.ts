import { parentPort } from 'node:worker_threads';
import type { EventLimits } from '../core/event.ts';
import type { BodyFormat } from './body.ts';
import { planFlush, type MessageIn } from './kafka/plan.ts';
import { asBuffer, prepareBody, type Stream } from './prepare.ts';

export type PrepareRequest =
  | { id: number; kind: 'body'; stream: Stream; body: Uint8Array; format: BodyFormat; limits: EventLimits }
  | { id: number; kind: 'kafka'; stream: Stream; messages: MessageIn[]; limits: EventLimits; maxMessageBytes: number };

parentPort!.on('message', (request: PrepareRequest) => {
  try {
    const result =
      request.kind === 'body'
        ? prepareBody(request.stream, request.body, request.format, request.limits)
        : planFlush(
            request.stream,
            request.messages.map((m) => ({ offset: m.offset, key: asBuffer(m.key), value: asBuffer(m.value) })),
            request.limits,
            request.maxMessageBytes,
          );
    parentPort!.postMessage({ id: request.id, result });
  } catch (err) {
    parentPort!.postMessage({ id: request.id, error: (err as Error).message });
  }
});
