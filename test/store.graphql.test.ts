import * as checkpointModule from "@langchain/langgraph-checkpoint";
import type { ExecutionResult } from "graphql";
import pg from "pg";
import {
  DeleteStoreItemDocument,
  PutStoreItemDocument,
  StoreItemDocument,
  StoreItemsDocument,
  type StoreItemsQueryVariables,
  StoreNamespacesDocument,
  type StoreNamespacesQueryVariables,
} from "./gql/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

let server: TestServer;
let pool: pg.Pool;

beforeAll(async () => {
  server = await startTestServer();
  pool = new pg.Pool({ connectionString: server.db.url, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await server?.stop();
});

beforeEach(async () => {
  await pool.query("TRUNCATE store_item");
});

/** The table's whole content, to prove a refused request changed nothing. */
async function snapshot(): Promise<unknown[]> {
  const { rows } = await pool.query(
    "SELECT prefix, key, value, updated_at FROM store_item ORDER BY prefix, key",
  );
  return rows;
}

function expectBadInput(result: ExecutionResult<unknown>, field: string, message: RegExp) {
  expect(result.errors, JSON.stringify(result)).toHaveLength(1);
  expect(result.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
  expect(result.errors![0]!.message).toMatch(message);
}

/** @langchain/langgraph-checkpoint >= 1.2 refuses ":" in namespace labels. */
const langgraphValidatesNamespaces =
  typeof (checkpointModule as Record<string, unknown>).validateNamespace === "function";

const put = (namespace: string[], key: string, value: unknown) =>
  server.query(PutStoreItemDocument, { namespace, key, value });

describe("store over GraphQL", () => {
  it("round-trips a value exactly: nesting, unicode, numbers", async () => {
    const value = {
      text: 'héllo wörld — 你好, مرحبا, 👩🏽‍💻🇯🇵, e\u0301, "quoted" \\ back\\slash\nnew line\ttab',
      "key with spaces & ünïcode 🔑": true,
      numbers: {
        int: 42,
        negative: -17,
        zero: 0,
        float: -273.15,
        pi: Math.PI,
        tiny: 1.5e-7,
        huge: Number.MAX_VALUE,
        maxSafe: 9007199254740991,
        sum: 0.1 + 0.2,
      },
      flags: [true, false, null],
      empty: { object: {}, list: [], string: "" },
      deep: { a: { b: { c: { d: { e: [1, [2, [3, { f: "g" }]]] } } } } },
    };
    const { putStoreItem } = await put(["users", "u-1"], "profile 1", value);
    expect(putStoreItem).toMatchObject({
      namespace: ["users", "u-1"],
      key: "profile 1",
      value,
      score: null,
    });
    expect(putStoreItem.createdAt).toBe(putStoreItem.updatedAt);

    const { storeItem } = await server.query(StoreItemDocument, {
      namespace: ["users", "u-1"],
      key: "profile 1",
    });
    expect(storeItem).toEqual(putStoreItem);
    expect(storeItem!.value).toEqual(value);
  });

  it("keeps createdAt and moves updatedAt on overwrite", async () => {
    const first = (await put(["n"], "k", { v: 1 })).putStoreItem;
    const second = (await put(["n"], "k", { v: 2 })).putStoreItem;
    expect(second.value).toEqual({ v: 2 });
    expect(second.createdAt).toBe(first.createdAt);
    expect(Date.parse(second.updatedAt)).toBeGreaterThanOrEqual(Date.parse(first.updatedAt));
  });

  it("answers null for an item that does not exist", async () => {
    const result = await server.request(StoreItemDocument, { namespace: ["none"], key: "k" });
    expect(result).toEqual({ data: { storeItem: null } });
  });

  it("searches a prefix with a filter, newest first, in pages", async () => {
    for (let n = 0; n < 6; n++) await put(["notes", `u${n % 2}`], `k${n}`, { kind: "note", n });
    await put(["notes", "u0"], "other", { kind: "todo", n: 9 });
    await put(["elsewhere"], "k", { kind: "note", n: 3 });
    const filter = { kind: "note", n: { $gte: 1 } };

    const all = (await server.query(StoreItemsDocument, { namespacePrefix: ["notes"], filter }))
      .storeItems;
    expect(all.map((i) => i.key)).toEqual(["k5", "k4", "k3", "k2", "k1"]);
    expect(all.every((i) => i.score === null)).toBe(true);

    const page = async (offset: number) =>
      (
        await server.query(StoreItemsDocument, {
          namespacePrefix: ["notes"],
          filter,
          first: 2,
          offset,
        })
      ).storeItems.map((i) => i.key);
    expect([await page(0), await page(2), await page(4)]).toEqual([
      ["k5", "k4"],
      ["k3", "k2"],
      ["k1"],
    ]);

    const u1 = await server.query(StoreItemsDocument, {
      namespacePrefix: ["notes", "u1"],
      filter: { n: { $in: [1, 3] } },
    });
    expect(u1.storeItems.map((i) => i.key)).toEqual(["k3", "k1"]);

    // Without an embeddings index a query changes nothing.
    const queried = await server.query(StoreItemsDocument, {
      namespacePrefix: ["notes"],
      filter,
      query: "anything",
    });
    expect(queried.storeItems).toEqual(all);
    const everything = await server.query(StoreItemsDocument, { namespacePrefix: [], first: 100 });
    expect(everything.storeItems).toHaveLength(8);
  });

  it("lists namespaces by prefix, suffix and depth, in pages", async () => {
    for (const namespace of [
      ["users", "u1", "memories"],
      ["users", "u2", "memories"],
      ["users", "u2", "prefs"],
      ["docs"],
    ]) {
      await put(namespace, "k", { v: 1 });
    }
    const list = async (variables: StoreNamespacesQueryVariables) =>
      (await server.query(StoreNamespacesDocument, variables)).storeNamespaces;

    expect(await list({})).toEqual([
      ["docs"],
      ["users", "u1", "memories"],
      ["users", "u2", "memories"],
      ["users", "u2", "prefs"],
    ]);
    expect(await list({ prefix: ["users", "u2"] })).toEqual([
      ["users", "u2", "memories"],
      ["users", "u2", "prefs"],
    ]);
    expect(await list({ suffix: ["memories"] })).toEqual([
      ["users", "u1", "memories"],
      ["users", "u2", "memories"],
    ]);
    expect(await list({ prefix: ["users", "*", "prefs"] })).toEqual([["users", "u2", "prefs"]]);
    expect(await list({ prefix: ["users"], maxDepth: 2 })).toEqual([
      ["users", "u1"],
      ["users", "u2"],
    ]);
    expect(await list({ first: 2, offset: 1 })).toEqual([
      ["users", "u1", "memories"],
      ["users", "u2", "memories"],
    ]);
  });

  it("deletes an item, answering whether there was one", async () => {
    await put(["d"], "k", { v: 1 });
    const vars = { namespace: ["d"], key: "k" };
    expect(await server.query(DeleteStoreItemDocument, vars)).toEqual({ deleteStoreItem: true });
    expect((await server.query(StoreItemDocument, vars)).storeItem).toBeNull();
    expect(await server.query(DeleteStoreItemDocument, vars)).toEqual({ deleteStoreItem: false });
  });

  describe("refuses bad input with BAD_USER_INPUT, changing nothing", () => {
    beforeEach(async () => {
      // An item a mis-encoded namespace could alias: ["a.b"] and ["a", "b"] join alike.
      await put(["a", "b"], "k", { v: 1 });
    });

    const namespaceCases: Array<[string, string[], RegExp]> = [
      ["an empty namespace", [], /namespace cannot be empty/],
      ["an empty label", ["a", ""], /namespace\[1\] is empty/],
      ["a label with a dot", ["a.b"], /namespace\[0\] "a\.b" contains a period/],
      ["the reserved root", ["langgraph", "x"], /cannot start with "langgraph".*reserved/],
    ];

    for (const [what, namespace, message] of namespaceCases) {
      it(`${what} in every namespace argument`, async () => {
        const before = await snapshot();
        const vars = { namespace, key: "k" };
        expectBadInput(
          await server.request(PutStoreItemDocument, { ...vars, value: { v: 2 } }),
          "namespace",
          message,
        );
        expectBadInput(await server.request(StoreItemDocument, vars), "namespace", message);
        expectBadInput(await server.request(DeleteStoreItemDocument, vars), "namespace", message);
        expect(await snapshot()).toEqual(before);
      });
    }

    it("a label the installed LangGraph refuses (':' from checkpoint 1.2 on), in every argument naming labels", async () => {
      const before = await snapshot();
      const vars = { namespace: ["a:b"], key: "k" };
      const requests: Array<[string, Promise<ExecutionResult<unknown>>]> = [
        ["namespace", server.request(PutStoreItemDocument, { ...vars, value: { v: 2 } })],
        ["namespace", server.request(StoreItemDocument, vars)],
        ["namespace", server.request(DeleteStoreItemDocument, vars)],
        ["namespacePrefix", server.request(StoreItemsDocument, { namespacePrefix: ["a:b"] })],
        ["prefix", server.request(StoreNamespacesDocument, { prefix: ["a:b"] })],
        ["suffix", server.request(StoreNamespacesDocument, { suffix: ["a:b"] })],
      ];
      for (const [field, request] of requests) {
        const result = await request;
        if (langgraphValidatesNamespaces) {
          expectBadInput(result, field, new RegExp(`^${field}: .*cannot contain colons`));
        } else {
          expect(result.errors).toBeUndefined();
        }
      }
      if (langgraphValidatesNamespaces) expect(await snapshot()).toEqual(before);
    });

    it("an empty key", async () => {
      const before = await snapshot();
      const vars = { namespace: ["a", "b"], key: "" };
      expectBadInput(
        await server.request(PutStoreItemDocument, { ...vars, value: { v: 2 } }),
        "key",
        /key cannot be empty/,
      );
      expectBadInput(
        await server.request(DeleteStoreItemDocument, vars),
        "key",
        /key cannot be empty/,
      );
      expect(await snapshot()).toEqual(before);
    });

    const valueCases: Array<[string, unknown, RegExp]> = [
      ["a string", "text", /value must be a JSON object, got a string/],
      ["a number", 42, /value must be a JSON object, got a number/],
      ["a list", [{ v: 1 }], /value must be a JSON object, got a list/],
      ["a NUL character", { text: "a\u0000b" }, /value\.text contains a NUL character/],
      ["an unpaired surrogate", { deep: ["\ud800"] }, /value\.deep\[0\] .*unpaired/],
    ];
    for (const [what, value, message] of valueCases) {
      it(`a value that is ${what}`, async () => {
        const before = await snapshot();
        const result = await server.request(PutStoreItemDocument, {
          namespace: ["a", "b"],
          key: "k",
          value,
        });
        expectBadInput(result, "value", message);
        expect(await snapshot()).toEqual(before);
      });
    }

    it("a null value", async () => {
      const before = await snapshot();
      const result = await server.request(PutStoreItemDocument, {
        namespace: ["a", "b"],
        key: "k",
        value: null,
      });
      expect(result.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(result.errors?.[0]?.message).toMatch(/\$value.*must not be null/);
      expect(await snapshot()).toEqual(before);
    });

    const searchCases: Array<[string, Partial<StoreItemsQueryVariables>, string, RegExp]> = [
      ["first 0", { first: 0 }, "first", /first must be between 1 and 1000, got 0/],
      ["first 1001", { first: 1001 }, "first", /first must be between 1 and 1000, got 1001/],
      ["a negative offset", { offset: -1 }, "offset", /offset must be 0 or more, got -1/],
      ["a filter that is a list", { filter: [1] }, "filter", /filter must be a JSON object/],
      [
        "an unknown operator",
        { filter: { n: { $gtee: 1 } } },
        "filter",
        /filter\.n has unknown operator "\$gtee"/,
      ],
      [
        "operators mixed with plain fields",
        { filter: { n: { $gt: 1, x: 2 } } },
        "filter",
        /filter\.n mixes operators with the plain field "x"/,
      ],
      [
        "a non-numeric comparison",
        { filter: { n: { $gt: "1" } } },
        "filter",
        /filter\.n\.\$gt must be a number/,
      ],
      ["a non-list $in", { filter: { n: { $in: 1 } } }, "filter", /filter\.n\.\$in must be a list/],
      [
        "a label with a dot in the prefix",
        { namespacePrefix: ["a.b"] },
        "namespacePrefix",
        /namespacePrefix\[0\] "a\.b" contains a period/,
      ],
    ];
    for (const [what, variables, field, message] of searchCases) {
      it(`storeItems with ${what}`, async () => {
        const result = await server.request(StoreItemsDocument, {
          namespacePrefix: ["a"],
          ...variables,
        });
        expectBadInput(result, field, message);
      });
    }

    const namespacesCases: Array<[string, StoreNamespacesQueryVariables, string, RegExp]> = [
      ["first 0", { first: 0 }, "first", /first must be between 1 and 1000/],
      ["first 1001", { first: 1001 }, "first", /first must be between 1 and 1000/],
      ["a negative offset", { offset: -5 }, "offset", /offset must be 0 or more/],
      ["maxDepth 0", { maxDepth: 0 }, "maxDepth", /maxDepth must be 1 or more, got 0/],
      ["an empty prefix label", { prefix: ["a", ""] }, "prefix", /prefix\[1\] is empty/],
      ["a suffix label with a dot", { suffix: ["x.y"] }, "suffix", /suffix\[0\] "x\.y"/],
    ];
    for (const [what, variables, field, message] of namespacesCases) {
      it(`storeNamespaces with ${what}`, async () => {
        const result = await server.request(StoreNamespacesDocument, variables);
        expectBadInput(result, field, message);
      });
    }
  });
});
