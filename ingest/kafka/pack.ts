import type { MessageIn } from './plan.ts';

/**
 * One partition batch's messages in one buffer of their own, to be moved
 * (not copied) to a worker thread. A client's message values are views into
 * the fetch response they came in; structured-cloning those would copy the
 * whole response for every batch, not just the batch's bytes.
 */
export interface PackedMessages {
  offsets: string[];
  /** Keys and values back to back. */
  bytes: Uint8Array;
  /** Per message: key start, key length, value start, value length; a length of -1 is null. */
  bounds: Int32Array;
}

export function packMessages(messages: readonly MessageIn[]): PackedMessages {
  let size = 0;
  for (const m of messages) size += (m.key?.length ?? 0) + (m.value?.length ?? 0);
  const bytes = new Uint8Array(size);
  const bounds = new Int32Array(messages.length * 4);
  let at = 0;
  messages.forEach((m, i) => {
    for (const [slot, part] of [[0, m.key], [2, m.value]] as const) {
      bounds[i * 4 + slot] = at;
      bounds[i * 4 + slot + 1] = part === null ? -1 : part.length;
      if (part !== null) {
        bytes.set(part, at);
        at += part.length;
      }
    }
  });
  return { offsets: messages.map((m) => m.offset), bytes, bounds };
}

/** The messages again, as views into the packed bytes (no copy). */
export function unpackMessages(packed: PackedMessages): MessageIn[] {
  const { bytes, bounds } = packed;
  const view = (start: number, length: number) => (length < 0 ? null : Buffer.from(bytes.buffer, bytes.byteOffset + start, length));
  return packed.offsets.map((offset, i) => ({
    offset,
    key: view(bounds[i * 4], bounds[i * 4 + 1]),
    value: view(bounds[i * 4 + 2], bounds[i * 4 + 3]),
  }));
}

/** The transfer list for postMessage. */
export const packedTransfer = (packed: PackedMessages): ArrayBuffer[] => [packed.bytes.buffer as ArrayBuffer, packed.bounds.buffer as ArrayBuffer];
