/**
 * An LRU whose budget counts what its entries hold (`weigh`: list elements, say), not entries.
 * Keys that start with a thread id and a NUL can be dropped together (deleteThread), without a
 * look at any other key: a stateless run's end drops its thread from every cache.
 */
export class WeightedLru<V> {
  private readonly entries = new Map<string, { value: V; weight: number }>();
  /** Keys by the thread id they start with (keys without a NUL are in none). */
  private readonly byThread = new Map<string, Set<string>>();
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
    const weight = this.weigh(value);
    const old = this.entries.get(key);
    // An entry larger than the whole budget would only evict everything else.
    if (weight > this.maxWeight) {
      this.delete(key);
      return;
    }
    if (old !== undefined) {
      // Replaced in place and moved to the newest end; its thread already lists it.
      this.entries.delete(key);
      this.weight += weight - old.weight;
      old.value = value;
      old.weight = weight;
      this.entries.set(key, old);
    } else {
      this.entries.set(key, { value, weight });
      this.weight += weight;
      const thread = threadOf(key);
      if (thread !== null) {
        const keys = this.byThread.get(thread);
        if (keys) keys.add(key);
        else this.byThread.set(thread, new Set([key]));
      }
    }
    if (this.weight <= this.maxWeight) return;
    for (const oldest of this.entries.keys()) {
      if (this.weight <= this.maxWeight) break;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const old = this.entries.get(key);
    if (old === undefined) return;
    this.entries.delete(key);
    this.weight -= old.weight;
    const thread = threadOf(key);
    const keys = thread === null ? undefined : this.byThread.get(thread);
    keys?.delete(key);
    if (keys?.size === 0) this.byThread.delete(thread!);
  }

  deleteThread(threadId: string): void {
    for (const key of [...(this.byThread.get(threadId) ?? [])]) this.delete(key);
  }
}

function threadOf(key: string): string | null {
  const end = key.indexOf("\u0000");
  return end < 0 ? null : key.slice(0, end);
}
