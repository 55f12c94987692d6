import { WeightedLru } from "../src/lru.ts";

const key = (thread: string, rest: string) => `${thread}\u0000${rest}`;

describe("WeightedLru", () => {
  it("keeps what its budget allows, forgetting the least recently used first", () => {
    const lru = new WeightedLru<number[]>(5, (items) => items.length);
    lru.set("a", [1, 2]);
    lru.set("b", [1, 2]);
    expect(lru.get("a")).toEqual([1, 2]); // "b" is now the least recently used
    lru.set("c", [1, 2]);
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toEqual([1, 2]);
    expect(lru.get("c")).toEqual([1, 2]);
    // Heavier than the whole budget: not kept, and nothing else is evicted for it.
    lru.set("huge", [1, 2, 3, 4, 5, 6]);
    expect(lru.get("huge")).toBeUndefined();
    expect(lru.get("a")).toEqual([1, 2]);
  });

  it("drops one thread's keys and only those, also after evictions and re-sets", () => {
    const lru = new WeightedLru<string>(4, () => 1);
    lru.set(key("t1", "x"), "1x");
    lru.set(key("t1", "y"), "1y");
    lru.set(key("t2", "x"), "2x");
    lru.set("plain", "p");
    lru.set(key("t3", "x"), "3x"); // evicts t1/x
    lru.set(key("t1", "x"), "1x again"); // evicts t1/y
    lru.deleteThread("t1");
    expect(lru.get(key("t1", "x"))).toBeUndefined();
    expect(lru.get(key("t1", "y"))).toBeUndefined();
    expect(lru.get(key("t2", "x"))).toBe("2x");
    expect(lru.get(key("t3", "x"))).toBe("3x");
    expect(lru.get("plain")).toBe("p");
    // Room again for four: t1's entries are gone, not merely hidden.
    lru.set(key("t4", "x"), "4x");
    expect(
      [key("t2", "x"), key("t3", "x"), "plain", key("t4", "x")].map((k) => lru.get(k)),
    ).toEqual(["2x", "3x", "p", "4x"]);
  });
});
