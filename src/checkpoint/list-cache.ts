import { WeightedLru } from "../lru.ts";

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

/** ListState per (thread, namespace, channel), owned by one saver instance. */
export class ListStateCache extends WeightedLru<ListState> {
  constructor(maxItems: number) {
    super(maxItems, (state) => state.items.length);
  }

  static key(threadId: string, checkpointNs: string, channel: string): string {
    return `${threadId}\u0000${checkpointNs}\u0000${channel}`;
  }
}
