import {
  Annotation,
  type BaseStore,
  InMemoryStore,
  type LangGraphRunnableConfig,
  START,
  StateGraph,
} from "@langchain/langgraph";
import * as checkpointModule from "@langchain/langgraph-checkpoint";
import { InvalidNamespaceError, type SearchItem } from "@langchain/langgraph-checkpoint";
import { type Database, openDatabase } from "../src/db/database.ts";
import { NamespaceOutOfScopeError, PostgresStore } from "../src/store/store.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/db.ts";

let testDb: TestDatabase;
let db: Database;
let store: PostgresStore;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = openDatabase(testDb.url, { maxConnections: 4 });
  store = new PostgresStore({ pool: db.pool });
});

afterAll(async () => {
  await db?.close();
  await testDb?.drop();
});

beforeEach(async () => {
  await db.pool.query("TRUNCATE store_item");
});

/** @langchain/langgraph-checkpoint >= 1.2: BaseStore checks namespaces on reads too, and refuses ":". */
const langgraphValidatesNamespaces =
  typeof (checkpointModule as Record<string, unknown>).validateNamespace === "function";

const keysOf = (items: Array<{ key: string }>) => items.map((i) => i.key).sort();

interface Expiry {
  expires_at: Date | null;
  ttl_minutes: number | null;
}

async function expiryOf(namespace: string[], key: string): Promise<Expiry | undefined> {
  const { rows } = await db.pool.query<Expiry>(
    "SELECT expires_at, ttl_minutes FROM store_item WHERE namespace = $1 AND key = $2",
    [namespace, key],
  );
  return rows[0];
}

async function rowCount(): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>("SELECT count(*) AS n FROM store_item");
  return Number(rows[0]!.n);
}

/** Lets an item put with a sub-millisecond TTL run out; the only wait these tests need. */
const pastTinyTtl = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("PostgresStore basics", () => {
  it("puts, gets, overwrites and deletes an item", async () => {
    expect(await store.get(["users", "u1"], "prefs")).toBeNull();

    await store.put(["users", "u1"], "prefs", { theme: "dark", nested: { a: [1, 2] } });
    const first = await store.get(["users", "u1"], "prefs");
    expect(first).toMatchObject({
      namespace: ["users", "u1"],
      key: "prefs",
      value: { theme: "dark", nested: { a: [1, 2] } },
    });
    expect(first!.createdAt).toBeInstanceOf(Date);
    expect(first!.updatedAt.getTime()).toBe(first!.createdAt.getTime());

    await store.put(["users", "u1"], "prefs", { lang: "en" });
    const second = await store.get(["users", "u1"], "prefs");
    // A put replaces the value, it does not merge into it.
    expect(second!.value).toEqual({ lang: "en" });
    expect(second!.createdAt.getTime()).toBe(first!.createdAt.getTime());
    expect(second!.updatedAt.getTime()).toBeGreaterThanOrEqual(first!.updatedAt.getTime());

    await store.delete(["users", "u1"], "prefs");
    expect(await store.get(["users", "u1"], "prefs")).toBeNull();
    await expect(store.delete(["users", "u1"], "prefs")).resolves.toBeUndefined();
  });

  it("answers the stored item from putItem and whether deleteItem found one", async () => {
    const item = await store.putItem(["docs"], "d1", { title: "T" });
    expect(item).toMatchObject({ namespace: ["docs"], key: "d1", value: { title: "T" } });
    expect(await store.deleteItem(["docs"], "d1")).toBe(true);
    expect(await store.deleteItem(["docs"], "d1")).toBe(false);
  });

  it("refuses namespaces LangGraph refuses, with LangGraph's messages, writing nothing", async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /Namespace cannot be empty/],
      [["a", ""], /Namespace labels cannot be empty strings/],
      [["a.b"], /Namespace labels cannot contain periods/],
      [["langgraph", "x"], /Root label for namespace cannot be "langgraph"/],
    ];
    for (const [namespace, message] of cases) {
      const put = store.put(namespace, "k", { v: 1 });
      await expect(put).rejects.toBeInstanceOf(InvalidNamespaceError);
      await expect(store.put(namespace, "k", { v: 1 })).rejects.toThrow(message);
    }
    expect(await rowCount()).toBe(0);
  });

  it("refuses values jsonb cannot hold (U+0000, a lone surrogate) with a clear error, writing nothing", async () => {
    for (const value of [{ text: "a\u0000b" }, { deep: ["\ud800"] }, { "\udc00": 1 }]) {
      await expect(store.put(["jsonb"], "k", value)).rejects.toThrow(/U\+0000 or an unpaired/);
    }
    // Text that only looks like those escapes is stored as it is.
    await store.put(["jsonb"], "k", { text: "\\u0000 \\ud800" });
    expect((await store.get(["jsonb"], "k"))?.value).toEqual({ text: "\\u0000 \\ud800" });
  });

  it("never lets a dotted label alias the namespace its parts spell", async () => {
    await store.put(["a", "b"], "k", { v: 1 });
    // LangGraph's BaseStore refuses such a label on reads from @langchain/langgraph-checkpoint
    // 1.2 on, as InMemoryStore does; before, it finds nothing. Either way, not ["a", "b"]'s item.
    const read = <T>(result: Promise<T>, nothing: T) =>
      langgraphValidatesNamespaces
        ? expect(result).rejects.toThrow(/Namespace labels cannot contain periods/)
        : expect(result).resolves.toEqual(nothing);
    await read(store.get(["a.b"], "k"), null);
    await read(store.search(["a.b"]), []);
    await read(store.listNamespaces({ prefix: ["a.b"] }), []);
    await read(store.listNamespaces({ suffix: ["a.b"] }), []);
    // batch() checks nothing in LangGraph (graphs reach it through AsyncBatchedStore): ours answers
    // nothing for such labels.
    expect(
      await store.batch([
        { namespace: ["a.b"], key: "k" },
        { namespacePrefix: ["a.b"], limit: 10, offset: 0 },
        { matchConditions: [{ matchType: "prefix", path: ["a.b"] }], limit: 10, offset: 0 },
      ]),
    ).toEqual([null, [], []]);
    expect(await store.get(["a", "b"], "k")).not.toBeNull();
  });

  it("refuses a ':' in a label on writes and reads where the installed LangGraph does (checkpoint >= 1.2)", async () => {
    const put = store.put(["a:b"], "k", { v: 1 });
    if (langgraphValidatesNamespaces) {
      await expect(put).rejects.toBeInstanceOf(InvalidNamespaceError);
      await expect(put).rejects.toThrow(/Namespace labels cannot contain colons/);
      for (const read of [
        store.get(["a:b"], "k"),
        store.search(["a:b"]),
        store.listNamespaces({ prefix: ["a:b"] }),
      ]) {
        await expect(read).rejects.toBeInstanceOf(InvalidNamespaceError);
      }
      expect(await rowCount()).toBe(0);
    } else {
      await put;
      expect((await store.get(["a:b"], "k"))?.value).toEqual({ v: 1 });
    }
  });
});

describe("PostgresStore search", () => {
  it("matches namespace prefixes label by label, taking LIKE wildcards literally", async () => {
    await store.put(["a"], "1", { v: 1 });
    await store.put(["a", "b"], "2", { v: 2 });
    await store.put(["a", "b", "c"], "3", { v: 3 });
    await store.put(["ab"], "4", { v: 4 });
    await store.put(["a%"], "5", { v: 5 });
    await store.put(["a_"], "6", { v: 6 });

    expect(keysOf(await store.search(["a"]))).toEqual(["1", "2", "3"]);
    expect(keysOf(await store.search(["a", "b"]))).toEqual(["2", "3"]);
    expect(keysOf(await store.search(["a", "b", "c"]))).toEqual(["3"]);
    expect(keysOf(await store.search(["a%"]))).toEqual(["5"]);
    expect(keysOf(await store.search(["a_"]))).toEqual(["6"]);
    expect(keysOf(await store.search([], { limit: 100 }))).toEqual(["1", "2", "3", "4", "5", "6"]);
    expect(await store.search(["zzz"])).toEqual([]);
  });

  it("returns the most recently updated first and pages with limit and offset", async () => {
    for (const key of ["k0", "k1", "k2", "k3", "k4"]) await store.put(["p"], key, { key });
    await store.put(["p"], "k1", { key: "k1", touched: true });

    const all = await store.search(["p"], { limit: 10 });
    expect(all[0]!.key).toBe("k1");
    for (let i = 1; i < all.length; i++) {
      expect(all[i - 1]!.updatedAt.getTime()).toBeGreaterThanOrEqual(all[i]!.updatedAt.getTime());
    }
    const pages = [
      await store.search(["p"], { limit: 2, offset: 0 }),
      await store.search(["p"], { limit: 2, offset: 2 }),
      await store.search(["p"], { limit: 2, offset: 4 }),
    ];
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat().map((i) => i.key)).toEqual(all.map((i) => i.key));
    expect(await store.search(["p"], { limit: 2, offset: 5 })).toEqual([]);
    // LangGraph's default page is 10.
    for (let i = 0; i < 12; i++) await store.put(["q"], `k${i}`, { i });
    expect(await store.search(["q"])).toHaveLength(10);
  });

  it("ignores a semantic query without an index and leaves score unset", async () => {
    await store.put(["docs"], "a", { text: "python tutorial" });
    await store.put(["docs"], "b", { text: "typescript guide" });
    const plain = await store.search(["docs"]);
    const queried = await store.search(["docs"], { query: "python" });
    expect(queried).toEqual(plain);
    expect(queried.every((i) => i.score === undefined)).toBe(true);
  });
});

describe("PostgresStore filters", () => {
  // Scalars in every shape Number() and === care about, plus missing fields.
  const values: Record<string, Record<string, unknown>> = {
    i1: { color: "red", score: 5, flag: true },
    i2: { color: "blue", score: 4.5, flag: false },
    i3: { color: "green", score: "12", flag: null },
    i4: { color: "red", score: " 7 ", note: "x" },
    i5: { color: null, score: "abc" },
    i6: { score: null },
    i7: { color: "RED", score: "", flag: true },
    i8: { color: "blue", score: "1e3" },
    i9: { color: "red", score: "Infinity" },
    i10: { color: "blue", score: -2, flag: "true" },
    i11: { color: "5", score: 5.0 },
  };

  // Each filter's answer must equal LangGraph's InMemoryStore's on the same items.
  const filters: Array<Record<string, unknown>> = [
    { color: "red" },
    { color: "5" },
    { score: 5 },
    { color: null },
    { flag: true },
    { flag: "true" },
    { color: "red", flag: true },
    { score: { $eq: 5 } },
    { score: { $eq: "12" } },
    { color: { $eq: null } },
    { score: { $ne: 5 } },
    { color: { $ne: null } },
    { note: { $ne: "x" } },
    { score: { $gt: 4.5 } },
    { score: { $gte: 4.5 } },
    { score: { $lt: 5 } },
    { score: { $lte: 5 } },
    { score: { $gt: 0, $lt: 10 } },
    { score: { $gt: "4" } },
    { score: { $gt: "abc" } },
    { score: { $lt: 1 } },
    { flag: { $gte: 1 } },
    { flag: { $lt: 1 } },
    { score: { $gt: 100 } },
    { score: { $lt: Number.POSITIVE_INFINITY } },
    { color: { $in: ["red", "blue"] } },
    { color: { $in: [null, "green"] } },
    { color: { $nin: ["red", "blue"] } },
    { color: { $in: "red" } },
    { color: { $nin: "red" } },
    { score: {} },
    { color: "red", score: { $gte: 5 } },
    { missing: { $ne: 1 } },
    { missing: 1 },
  ];

  it("gives InMemoryStore's answer for every operator on scalar values", async () => {
    const reference = new InMemoryStore();
    for (const [key, value] of Object.entries(values)) {
      await store.put(["f"], key, value);
      await reference.put(["f"], key, value);
    }
    for (const filter of filters) {
      const ours = keysOf(await store.search(["f"], { filter, limit: 100 }));
      const theirs = keysOf(await reference.search(["f"], { filter, limit: 100 }));
      expect({ filter, keys: ours }).toEqual({ filter, keys: theirs });
    }
  });

  it("matches objects and arrays by containment, and $eq/$ne/$in by value", async () => {
    await store.put(["c"], "a", { tags: ["x", "y"], meta: { lang: "en", v: 2 } });
    await store.put(["c"], "b", { tags: ["x"], meta: { lang: "fr" } });
    await store.put(["c"], "c", { tags: "x", meta: [{ lang: "en" }] });
    const search = async (filter: Record<string, unknown>) =>
      keysOf(await store.search(["c"], { filter }));

    expect(await search({ tags: ["x"] })).toEqual(["a", "b"]);
    expect(await search({ tags: ["y", "x"] })).toEqual(["a"]);
    expect(await search({ tags: "x" })).toEqual(["c"]);
    expect(await search({ meta: { lang: "en" } })).toEqual(["a"]);
    expect(await search({ tags: { $eq: ["x"] } })).toEqual(["b"]);
    expect(await search({ meta: { $eq: { lang: "en" } } })).toEqual([]);
    expect(await search({ meta: { $eq: { v: 2, lang: "en" } } })).toEqual(["a"]);
    expect(await search({ meta: { $ne: { lang: "fr" } } })).toEqual(["a", "c"]);
    expect(await search({ tags: { $in: [["x"], "x"] } })).toEqual(["b", "c"]);
    expect(await search({ tags: { $nin: [["x"], "x"] } })).toEqual(["a"]);
  });

  it("reads filter field names literally, dots included", async () => {
    await store.put(["d"], "a", { "a.b": 1, a: { b: 2 } });
    expect(keysOf(await store.search(["d"], { filter: { "a.b": 1 } }))).toEqual(["a"]);
    expect(await store.search(["d"], { filter: { "a.b": 2 } })).toEqual([]);
  });
});

describe("PostgresStore listNamespaces", () => {
  beforeEach(async () => {
    for (const namespace of [
      ["a", "b", "c"],
      ["a", "b", "d"],
      ["a", "x"],
      ["users", "u1", "memories"],
      ["users", "u2", "memories"],
      ["users", "u2", "prefs"],
      ["z"],
    ]) {
      await store.put(namespace, "k", { v: 1 });
    }
  });

  it("lists distinct namespaces of items in label order", async () => {
    await store.put(["a", "x"], "k2", { v: 2 });
    expect(await store.listNamespaces()).toEqual([
      ["a", "b", "c"],
      ["a", "b", "d"],
      ["a", "x"],
      ["users", "u1", "memories"],
      ["users", "u2", "memories"],
      ["users", "u2", "prefs"],
      ["z"],
    ]);
  });

  it("filters by prefix and suffix, with * matching any one label", async () => {
    expect(await store.listNamespaces({ prefix: ["a", "b"] })).toEqual([
      ["a", "b", "c"],
      ["a", "b", "d"],
    ]);
    expect(await store.listNamespaces({ prefix: ["a"] })).toHaveLength(3);
    expect(await store.listNamespaces({ suffix: ["memories"] })).toEqual([
      ["users", "u1", "memories"],
      ["users", "u2", "memories"],
    ]);
    expect(await store.listNamespaces({ prefix: ["users", "*", "prefs"] })).toEqual([
      ["users", "u2", "prefs"],
    ]);
    expect(await store.listNamespaces({ prefix: ["*", "b"] })).toEqual([
      ["a", "b", "c"],
      ["a", "b", "d"],
    ]);
    expect(await store.listNamespaces({ suffix: ["u2", "*"] })).toEqual([
      ["users", "u2", "memories"],
      ["users", "u2", "prefs"],
    ]);
    expect(await store.listNamespaces({ prefix: ["users"], suffix: ["prefs"] })).toEqual([
      ["users", "u2", "prefs"],
    ]);
    expect(await store.listNamespaces({ prefix: ["a", "b", "c", "d"] })).toEqual([]);
    expect(await store.listNamespaces({ suffix: ["*", "*", "*", "*"] })).toEqual([]);
  });

  it("truncates to maxDepth after matching, and pages with limit and offset", async () => {
    expect(await store.listNamespaces({ maxDepth: 1 })).toEqual([["a"], ["users"], ["z"]]);
    expect(await store.listNamespaces({ prefix: ["users"], maxDepth: 2 })).toEqual([
      ["users", "u1"],
      ["users", "u2"],
    ]);
    expect(await store.listNamespaces({ suffix: ["prefs"], maxDepth: 1 })).toEqual([["users"]]);
    expect(await store.listNamespaces({ limit: 2, offset: 1 })).toEqual([
      ["a", "b", "d"],
      ["a", "x"],
    ]);
  });

  it("forgets a namespace once its last item is deleted", async () => {
    await store.delete(["z"], "k");
    expect(await store.listNamespaces({ prefix: ["z"] })).toEqual([]);
  });
});

describe("PostgresStore batch", () => {
  it("runs reads before writes, keeps the last write per item, in three statements", async () => {
    await store.put(["b"], "old", { v: "old" });
    await store.put(["b"], "gone", { v: "gone" });
    const statements: string[] = [];
    const query = db.pool.query.bind(db.pool);
    const spy = vi.spyOn(db.pool, "query").mockImplementation(((text: string, values: unknown) => {
      statements.push(text);
      return query(text, values as unknown[]);
    }) as never);
    try {
      const results: unknown[] = await store.batch([
        { namespace: ["b"], key: "new", value: { v: 1 } },
        { namespace: ["b"], key: "new" },
        { namespace: ["b"], key: "old" },
        { namespacePrefix: ["b"], filter: { v: "old" }, limit: 10, offset: 0 },
        { matchConditions: [{ matchType: "prefix", path: ["b"] }], limit: 10, offset: 0 },
        { namespace: ["b"], key: "new", value: { v: 2 } },
        { namespace: ["b"], key: "gone", value: null },
        { namespacePrefix: [], limit: 10, offset: 0 },
      ]);
      expect(results[0]).toBeNull();
      // Reads see the store as it was before the batch's own writes.
      expect(results[1]).toBeNull();
      expect(results[2]).toMatchObject({ key: "old", value: { v: "old" } });
      expect(keysOf(results[3] as SearchItem[])).toEqual(["old"]);
      expect(results[4]).toEqual([["b"]]);
      expect(results[6]).toBeNull();
      expect(keysOf(results[7] as SearchItem[])).toEqual(["gone", "old"]);
    } finally {
      spy.mockRestore();
    }
    expect(statements).toHaveLength(3);
    expect((await store.get(["b"], "new"))!.value).toEqual({ v: 2 });
    expect(await store.get(["b"], "gone")).toBeNull();
  });

  it("writes nothing when any operation in the batch is invalid", async () => {
    await expect(
      store.batch([
        { namespace: ["ok"], key: "k", value: { v: 1 } },
        { namespace: ["not.ok"], key: "k", value: { v: 1 } },
      ]),
    ).rejects.toBeInstanceOf(InvalidNamespaceError);
    expect(await rowCount()).toBe(0);
  });
});

describe("PostgresStore TTL", () => {
  it("hides an expired item from every read at once, and sweeps it", async () => {
    await store.put(["t"], "short", { v: 1 }, undefined, { ttl: 1e-6 });
    await store.put(["t"], "long", { v: 2 }, undefined, { ttl: 60 });
    await store.put(["t2"], "short", { v: 3 }, undefined, { ttl: 1e-6 });
    await pastTinyTtl();

    expect(await store.get(["t"], "short")).toBeNull();
    expect(keysOf(await store.search(["t"]))).toEqual(["long"]);
    expect(await store.listNamespaces()).toEqual([["t"]]);
    expect(await store.deleteItem(["t2"], "short")).toBe(false);

    expect(await rowCount()).toBe(2);
    expect(await store.sweepExpired()).toBe(1);
    expect(await rowCount()).toBe(1);
    expect(await store.sweepExpired()).toBe(0);
  });

  it("creates an item afresh when putting over an expired one", async () => {
    const expired = await store.putItem(["t"], "k", { v: 1 }, { ttl: 1e-6 });
    await pastTinyTtl();
    const fresh = await store.putItem(["t"], "k", { v: 2 });
    expect(fresh.createdAt.getTime()).toBeGreaterThan(expired.createdAt.getTime());
    expect(await expiryOf(["t"], "k")).toEqual({ expires_at: null, ttl_minutes: null });
  });

  it("pushes expiry forward on reads unless refreshTtl is false", async () => {
    await store.put(["r"], "k", { v: 1 }, undefined, { ttl: 30 });
    await store.put(["r"], "forever", { v: 2 });
    const soon = async () => {
      await db.pool.query(
        "UPDATE store_item SET expires_at = now() + interval '1 second' WHERE key = 'k'",
      );
    };
    const minutesLeft = async () =>
      ((await expiryOf(["r"], "k"))!.expires_at!.getTime() - Date.now()) / 60_000;

    await soon();
    await store.get(["r"], "k", { refreshTtl: false });
    await store.search(["r"], { refreshTtl: false });
    expect(await minutesLeft()).toBeLessThan(1);

    await store.get(["r"], "k");
    expect(await minutesLeft()).toBeGreaterThan(29);

    await soon();
    await store.search(["r"]);
    expect(await minutesLeft()).toBeGreaterThan(29);
    expect(await expiryOf(["r"], "forever")).toEqual({ expires_at: null, ttl_minutes: null });
  });

  it("applies a configured default TTL and read policy", async () => {
    const configured = new PostgresStore({
      pool: db.pool,
      ttl: { defaultTtl: 10, refreshOnRead: false },
    });
    await configured.put(["d"], "default", { v: 1 });
    await configured.put(["d"], "never", { v: 1 }, undefined, { ttl: null });
    expect((await expiryOf(["d"], "default"))!.ttl_minutes).toBe(10);
    expect((await expiryOf(["d"], "never"))!.expires_at).toBeNull();

    await db.pool.query("UPDATE store_item SET expires_at = now() + interval '1 second'");
    await configured.get(["d"], "default");
    const left = (await expiryOf(["d"], "default"))!.expires_at!.getTime() - Date.now();
    expect(left).toBeLessThan(60_000);
  });

  it("refuses a TTL that is not a positive number of minutes", async () => {
    await expect(store.put(["t"], "k", { v: 1 }, undefined, { ttl: 0 })).rejects.toThrow(/ttl/);
    await expect(store.put(["t"], "k", { v: 1 }, undefined, { ttl: -1 })).rejects.toThrow(/ttl/);
    expect(await rowCount()).toBe(0);
  });
});

describe("PostgresStore scope (the auth seam)", () => {
  it("sees, lists and deletes only inside its namespaces, and refuses writes outside", async () => {
    await store.put(["users", "u1"], "k", { v: 1 });
    await store.put(["users", "u2"], "k", { v: 2 });
    await store.put(["users", "u10"], "k", { v: 3 });
    const scoped = store.scoped({ namespacePrefixes: [["users", "u1"]] });

    expect(await scoped.get(["users", "u1"], "k")).not.toBeNull();
    expect(await scoped.get(["users", "u2"], "k")).toBeNull();
    expect((await scoped.search(["users"])).map((i) => i.namespace)).toEqual([["users", "u1"]]);
    expect(await scoped.listNamespaces()).toEqual([["users", "u1"]]);
    expect(await scoped.deleteItem(["users", "u2"], "k")).toBe(false);
    expect(await store.get(["users", "u2"], "k")).not.toBeNull();
    await expect(scoped.put(["users", "u2"], "k", { v: 9 })).rejects.toBeInstanceOf(
      NamespaceOutOfScopeError,
    );
    await scoped.put(["users", "u1", "deeper"], "k", { v: 4 });

    const nothing = store.scoped({ namespacePrefixes: [] });
    expect(await nothing.search([])).toEqual([]);
  });
});

describe("PostgresStore in a graph", () => {
  const State = Annotation.Root({
    user: Annotation<string>,
    seen: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  });

  it("is the store nodes reach through config.store", async () => {
    const graph = new StateGraph(State)
      .addNode("remember", async (state, config: LangGraphRunnableConfig) => {
        await config.store!.put(["memories", state.user], "m1", { text: "likes tea", n: 1 });
        await config.store!.put(["memories", state.user], "m2", { text: "hates rain", n: 2 });
        return {};
      })
      .addNode("recall", async (state, config: LangGraphRunnableConfig) => {
        const store = config.store as BaseStore;
        const one = await store.get(["memories", state.user], "m1");
        const found = await store.search(["memories"], { filter: { n: { $gte: 2 } } });
        return { seen: [one?.value.text as string, ...found.map((i) => i.value.text as string)] };
      })
      .addEdge(START, "remember")
      .addEdge("remember", "recall")
      .compile();
    graph.store = store;

    const result = await graph.invoke({ user: "u1" });
    expect(result.seen).toEqual(["likes tea", "hates rain"]);
    expect(keysOf(await store.search(["memories", "u1"]))).toEqual(["m1", "m2"]);
  });

  it("keeps the last of parallel nodes' writes to one item (one batch)", async () => {
    const writer = (n: number) => async (_state: unknown, config: LangGraphRunnableConfig) => {
      await config.store!.put(["shared"], "counter", { n });
      return {};
    };
    const graph = new StateGraph(State)
      .addNode("w1", writer(1))
      .addNode("w2", writer(2))
      .addEdge(START, "w1")
      .addEdge(START, "w2")
      .compile({ store });
    await graph.invoke({ user: "u" });
    const item = await store.get(["shared"], "counter");
    expect([1, 2]).toContain(item!.value.n);
    expect(await rowCount()).toBe(1);
  });
});
