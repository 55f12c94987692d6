/**
 * What this process last stored or read for a list channel: enough to store the next version as
 * a delta without serialising the whole list again.
 *
 * It is only ever a hint. The elements are compared by reference with the new value (an appended
 * list keeps the previous elements' objects), and the delta it leads to is accepted by Postgres
 * only if the base row still has `hash`; otherwise the put is redone with a FULL row. A missing or
 * stale entry therefore costs a full serialisation, never a wrong value.
 */
export interface ListState {
  version: string;
  length: number;
  /** Content hash of the list at `version` (see frames.ts). */
  hash: Buffer;
  /** Links from `version` back to its chain's FULL row. */
  depth: number;
  /** Element count of that FULL row. */
  rootLength: number;
  /** The elements at `version`, by reference (a copy of the array, not of the elements). */
  items: readonly unknown[];
  /** The stored frame of the last element, to notice it being mutated in place. */
  lastFrame: Buffer | undefined;
}

/**
 * An LRU whose budget counts what its entries hold (list elements), not entries. Keys start with
 * the thread id and a NUL, so a thread's entries can be dropped together.
 */
export class WeightedLru<V> {
  private readonly entries = new Map<string, { value: V; weight: number }>();
  private weight = 0;

  constructor(
    private readonly maxWeight: number,
    private readonly weigh: (value: V) => number,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    this.delete(key);
    const weight = this.weigh(value);
    // An entry larger than the whole budget would only evict everything else.
    if (weight > this.maxWeight) return;
    this.entries.set(key, { value, weight });
    this.weight += weight;
    for (const [oldest, old] of this.entries) {
      if (this.weight <= this.maxWeight) break;
      this.entries.delete(oldest);
      this.weight -= old.weight;
    }
  }

  delete(key: string): void {
    const old = this.entries.get(key);
    if (old === undefined) return;
    this.entries.delete(key);
    this.weight -= old.weight;
  }

  deleteThread(threadId: string): void {
    const prefix = `${threadId}\u0000`;
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.delete(key);
  }
}

/** ListState per (thread, namespace, channel), owned by one saver instance. */
export class ListStateCache extends WeightedLru<ListState> {
  constructor(maxItems: number) {
    super(maxItems, (state) => state.items.length);
  }

  static key(threadId: string, checkpointNs: string, channel: string): string {
    return `${threadId}\u0000${checkpointNs}\u0000${channel}`;
  }
}
