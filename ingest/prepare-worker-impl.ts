import { parentPort } from 'node:worker_threads';
import type { EventLimits } from '../core/event.ts';
import type { BodyFormat } from './body.ts';
import { unpackMessages, type PackedMessages } from './kafka/pack.ts';
import { planFlush, type FlushPlan } from './kafka/plan.ts';
import { prepareBody, type Stream } from './prepare.ts';

export type PrepareRequest =
  | { id: number; kind: 'body'; stream: Stream; body: Uint8Array; format: BodyFormat; limits: EventLimits }
  | { id: number; kind: 'kafka'; stream: Stream; messages: PackedMessages; limits: EventLimits; maxMessageBytes: number };

/**
 * Dead letters' bytes are views into the batch's packed buffer; copied out,
 * so answering sends just their bytes, not the whole batch back.
 */
function detachDeadLetters(plan: FlushPlan): FlushPlan {
  // new Uint8Array(view) copies into an ArrayBuffer of exactly that size (Buffer.from would use the shared pool).
  const copy = (b: Buffer | null) => (b === null ? null : Buffer.from(new Uint8Array(b).buffer));
  return { ...plan, dead: plan.dead.map((d) => ({ ...d, key: copy(d.key), value: copy(d.value) })) };
}

parentPort!.on('message', (request: PrepareRequest) => {
  try {
    const result =
      request.kind === 'body'
        ? prepareBody(request.stream, request.body, request.format, request.limits)
        : detachDeadLetters(planFlush(request.stream, unpackMessages(request.messages), request.limits, request.maxMessageBytes));
    // The encoded rows are moved, not copied, to the event loop: each batch has its own ArrayBuffer.
    const encoded = 'encoded' in result ? result.encoded : result.ok ? result.prepared.encoded : null;
    parentPort!.postMessage({ id: request.id, result }, encoded ? [encoded.buffer as ArrayBuffer] : []);
  } catch (err) {
    parentPort!.postMessage({ id: request.id, error: (err as Error).message });
  }
});
