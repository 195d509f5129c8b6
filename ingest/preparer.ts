import { Worker } from 'node:worker_threads';
import type { EventLimits } from '../core/event.ts';
import type { BodyFormat } from './body.ts';
import { packedTransfer, packMessages } from './kafka/pack.ts';
import { planFlush, type FlushPlan, type MessageIn } from './kafka/plan.ts';
import { asBuffer, prepareBody, type PreparedBody, type Stream } from './prepare.ts';
import type { PrepareRequest } from './prepare-worker-impl.ts';

/**
 * Where request bodies are parsed, validated and encoded. With workers, that
 * CPU-heavy part (about 2 µs an event on the fast path, 4 off it) leaves the
 * event loop, which then only moves bytes: the API stays responsive under
 * heavy ingest, and the work overlaps with the store's inserts on another core.
 */
export interface Preparer {
  /** `body` is handed over: a worker preparer moves one that owns its ArrayBuffer (ownsBuffer), leaving it empty. */
  prepare(stream: Stream, body: Uint8Array, format: BodyFormat, limits: EventLimits): Promise<PreparedBody>;
  /** The flush plan of one Kafka partition batch (ingest/kafka/plan.ts). */
  planKafka(stream: Stream, messages: readonly MessageIn[], limits: EventLimits, maxMessageBytes: number): Promise<FlushPlan>;
  close(): Promise<void>;
}

export function inlinePreparer(): Preparer {
  return {
    prepare: async (stream, body, format, limits) => prepareBody(stream, body, format, limits),
    planKafka: async (stream, messages, limits, maxMessageBytes) => planFlush(stream, messages, limits, maxMessageBytes),
    close: async () => {},
  };
}

interface Waiting {
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
}

export function workerPreparer(count: number, youngGenerationMb = 64): Preparer {
  // Compiled (dist/, the installed command) the implementation is JavaScript
  // and loads as it is; from source the .mjs entry loads it through tsx.
  const compiled = import.meta.url.endsWith('.js');
  const url = new URL(compiled ? './prepare-worker-impl.js' : './prepare-worker.mjs', import.meta.url);
  const waiting = new Map<number, Waiting>();
  let nextId = 0;
  let closed = false;
  const spawn = (): Worker => {
    // A larger young generation: the work allocates short-lived objects by the
    // million, and fewer scavenges are the cheapest speed-up there is.
    const worker = new Worker(url, { resourceLimits: { maxYoungGenerationSizeMb: youngGenerationMb } });
    worker.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const w = waiting.get(m.id);
      if (!w) return;
      waiting.delete(m.id);
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.result!);
    });
    worker.on('error', (err: Error) => {
      // A dead worker fails what it held; a new one takes its place.
      for (const [id, w] of waiting) {
        if (owner.get(id) === worker) {
          waiting.delete(id);
          w.reject(err);
        }
      }
      const i = workers.indexOf(worker);
      if (!closed && i !== -1) workers[i] = spawn();
    });
    worker.unref();
    return worker;
  };
  const owner = new Map<number, Worker>();
  const workers = Array.from({ length: count }, spawn);
  let turn = 0;

  const call = <T>(request: PrepareRequest, transfer: ArrayBuffer[] = []): Promise<T> => {
    if (closed) return Promise.reject(new Error('preparer closed'));
    const worker = workers[turn++ % workers.length];
    return new Promise<T>((resolve, reject) => {
      waiting.set(request.id, {
        resolve: (r) => {
          owner.delete(request.id);
          resolve(r as T);
        },
        reject: (e) => {
          owner.delete(request.id);
          reject(e);
        },
      });
      owner.set(request.id, worker);
      worker.postMessage(request, transfer);
    });
  };

  return {
    prepare: (stream, body, format, limits) =>
      call<PreparedBody>({ id: nextId++, kind: 'body', stream, body, format, limits }, ownsBuffer(body) ? [body.buffer as ArrayBuffer] : []),
    async planKafka(stream, messages, limits, maxMessageBytes) {
      const packed = packMessages(messages);
      const plan = await call<FlushPlan>({ id: nextId++, kind: 'kafka', stream, messages: packed, limits, maxMessageBytes }, packedTransfer(packed));
      // Buffers come back as plain Uint8Arrays.
      return { ...plan, dead: plan.dead.map((d) => ({ ...d, key: asBuffer(d.key), value: asBuffer(d.value) })) };
    },
    async close() {
      closed = true;
      await Promise.all(workers.map((w) => w.terminate()));
      for (const w of waiting.values()) w.reject(new Error('preparer closed'));
      waiting.clear();
    },
  };
}

/**
 * Whether `bytes` is the whole of its ArrayBuffer, so it can be moved to a
 * worker rather than copied: request bodies over 4 KiB are (Buffer.concat
 * gives each its own); a small one is a view into Node's shared pool, which
 * must stay. The caller hands the body over: it is empty afterwards.
 */
export function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.byteLength > 0;
}

export function createPreparer(workers: number): Preparer {
  return workers > 0 ? workerPreparer(workers) : inlinePreparer();
}
