/** One queued item: its id (for drop reports) and its JSON, serialised when logged. */
export interface Item {
  id: string;
  json: string;
}

/**
 * A FIFO of at most `capacity` items. A ring buffer, so that taking a batch
 * from the head and dropping the oldest are O(1) with no array shifting on
 * the caller's thread.
 */
export class BoundedQueue {
  private readonly ring: (Item | undefined)[];
  private head = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Adds an item; when full, returns the item given up by `policy` (the oldest, or this one). */
  push(item: Item, policy: 'drop_oldest' | 'drop_newest'): Item | null {
    if (this.size === this.capacity) {
      if (policy === 'drop_newest') return item;
      const oldest = this.ring[this.head]!;
      this.ring[this.head] = item;
      this.head = (this.head + 1) % this.capacity;
      return oldest;
    }
    this.ring[(this.head + this.size) % this.capacity] = item;
    this.size++;
    return null;
  }

  /** Takes up to `maxItems` from the head, stopping before `maxBytes` of JSON (at least one item). */
  take(maxItems: number, maxBytes: number): Item[] {
    const out: Item[] = [];
    let bytes = 0;
    while (this.size > 0 && out.length < maxItems) {
      const item = this.ring[this.head]!;
      if (out.length > 0 && bytes + item.json.length > maxBytes) break;
      bytes += item.json.length + 1;
      out.push(item);
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
    }
    return out;
  }

  /** Empties the queue, returning what it held. */
  drain(): Item[] {
    return this.take(this.size, Infinity);
  }
}
