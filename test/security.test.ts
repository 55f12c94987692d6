import http from "node:http";
import { resolve } from "node:path";
import type { ExecutionResult } from "graphql";
import pg from "pg";
import WebSocket from "ws";
import { compileFilters, inScope } from "../src/auth/filters.ts";
import { loadAuthModule } from "../src/auth/load.ts";
import { loadConfig } from "../src/config.ts";
import { RunEventsDocument, ServerInfoDocument } from "./gql/graphql.ts";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server.ts";
import { streamClient, subscribe } from "./stream-clients.ts";

/**
 * A deployment secured without code: API keys from the environment, introspection and GraphiQL
 * off, CORS limited to one origin, a small body limit, and GraphQL Armor's limits on documents.
 */

const KEYS = ["key-0123456789abcdef", "key-fedcba9876543210"];
const ORIGIN = "https://app.example.com";

let server: TestServer;
let pool: pg.Pool;

beforeAll(async () => {
  server = await startTestServer({
    env: {
      LANGGRAPH_GQL_API_KEYS: KEYS.join(","),
      INTROSPECTION: "false",
      GRAPHIQL: "false",
      CORS_ORIGINS: ORIGIN,
      MAX_BODY_BYTES: "65536",
    },
  });
  pool = new pg.Pool({ connectionString: server.db.url, max: 1 });
});

afterAll(async () => {
  await pool?.end();
  await server?.stop();
});

async function post(query: string, headers: Record<string, string> = { "x-api-key": KEYS[0]! }) {
  const response = await fetch(server.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as ExecutionResult };
}

function codeOf(result: ExecutionResult): string | undefined {
  expect(result.errors, JSON.stringify(result)).toHaveLength(1);
  return (result.errors![0]!.extensions as { code?: string }).code;
}

async function threadCount(): Promise<number> {
  return (await pool.query("SELECT count(*)::int AS n FROM thread")).rows[0].n;
}

describe("API keys", () => {
  it("accepts a configured key as x-api-key or Bearer, refuses anything else with 401", async () => {
    const accepted: Array<Record<string, string>> = [
      { "x-api-key": KEYS[0]! },
      { authorization: `Bearer ${KEYS[1]}` },
    ];
    for (const headers of accepted) {
      const { status, body } = await post("{ info { version } }", headers);
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
    }
    const refused: Array<Record<string, string>> = [
      {},
      { "x-api-key": "key-0123456789abcdeX" },
      { authorization: `Bearer ${KEYS[0]}x` },
      { authorization: KEYS[0]! },
    ];
    for (const headers of refused) {
      const { status, body } = await post("{ info { version } }", headers);
      expect(status).toBe(401);
      expect(codeOf(body)).toBe("UNAUTHENTICATED");
    }
  });

  it("on graphql-ws: a key in connection_init is acknowledged, none closes with 4401", async () => {
    const outcome = (payload: unknown) =>
      new Promise<string>((done) => {
        const socket = new WebSocket(server.wsUrl, "graphql-transport-ws");
        socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload })));
        socket.on("message", (data) => {
          done(JSON.parse(data.toString()).type);
          socket.close();
        });
        socket.on("close", (code) => done(String(code)));
      });
    expect(await outcome({ "x-api-key": KEYS[1] })).toBe("connection_ack");
    expect(await outcome({ headers: { authorization: `Bearer ${KEYS[0]}` } })).toBe(
      "connection_ack",
    );
    expect(await outcome({})).toBe("4401");
    expect(await outcome({ "x-api-key": "wrong-key-wrong-key" })).toBe("4401");
  });

  it("on SSE: the key goes in a header", async () => {
    const runId = crypto.randomUUID();
    const client = streamClient("sse", server, { "x-api-key": KEYS[0]! });
    const subscription = subscribe(client, RunEventsDocument, { runId });
    await subscription.completed;
    // Past authentication: the run simply does not exist.
    expect(subscription.errors[0]?.extensions?.code).toBe("NOT_FOUND");
    await client.dispose();
  });

  it("reads keys from a file too, and refuses short ones at start-up", () => {
    expect(() => loadConfig({ argv: ["start"], env: { LANGGRAPH_GQL_API_KEYS: "short" } })).toThrow(
      /at least 16 characters/,
    );
    expect(() =>
      loadConfig({ argv: ["start"], env: { LANGGRAPH_GQL_API_KEYS_FILE: "/nonexistent/keys" } }),
    ).toThrow(/not found/);
  });
});

describe("document limits (GraphQL Armor), checked before execution", () => {
  it("refuses deep nesting with BAD_USER_INPUT and executes nothing", async () => {
    const before = await threadCount();
    let selection = "id";
    for (let i = 0; i < 5; i++) selection = `id runs { nodes { thread { ${selection} } } }`;
    const { body } = await post(`mutation { createThread { ${selection} } }`);
    expect(codeOf(body)).toBe("BAD_USER_INPUT");
    expect(body.errors![0]!.message).toMatch(/depth limit of 15/);
    expect(await threadCount()).toBe(before);
  });

  it("refuses too many aliases", async () => {
    const before = await threadCount();
    const aliases = Array.from({ length: 31 }, (_, i) => `t${i}: createThread { id }`).join(" ");
    const { body } = await post(`mutation { ${aliases} }`);
    expect(codeOf(body)).toBe("BAD_USER_INPUT");
    expect(body.errors![0]!.message).toMatch(/aliases/i);
    expect(await threadCount()).toBe(before);
  });

  it("refuses documents over the token limit", async () => {
    const fields = Array.from({ length: 5200 }, () => "__typename").join(" ");
    const { body } = await post(`{ ${fields} }`);
    expect(codeOf(body)).toBe("BAD_USER_INPUT");
    expect(body.errors![0]!.message).toMatch(/Token limit of 5000/);
  });

  it("refuses costly documents", async () => {
    const node = "id status metadata values config createdAt updatedAt";
    let selection = node;
    for (let i = 0; i < 4; i++) selection = `${node} runs { nodes { thread { ${selection} } } }`;
    const wide = Array.from({ length: 20 }, (_, i) => `a${i}: threads { nodes { ${selection} } }`);
    const { body } = await post(`{ ${wide.join(" ")} }`);
    expect(codeOf(body)).toBe("BAD_USER_INPUT");
    expect(body.errors![0]!.message).toMatch(/cost limit/i);
  });

  it("lets ordinary documents through", async () => {
    const result = await server.request(ServerInfoDocument, {}, { "x-api-key": KEYS[0]! });
    expect(result.errors).toBeUndefined();
  });
});

describe("surface switches", () => {
  it("introspection off: __schema is refused, __typename still answers", async () => {
    const { body } = await post("{ __schema { types { name } } }");
    expect(codeOf(body)).toBe("BAD_USER_INPUT");
    expect((await post("{ __typename }")).body.data).toEqual({ __typename: "Query" });
  });

  it("GraphiQL off: a browser gets no IDE", async () => {
    const response = await fetch(server.graphqlUrl, { headers: { accept: "text/html" } });
    expect(await response.text()).not.toMatch(/graphiql/i);
  });

  it("CORS answers the configured origin only", async () => {
    const preflight = (origin: string) =>
      fetch(server.graphqlUrl, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,x-api-key",
        },
      });
    const allowed = await preflight(ORIGIN);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    const other = await preflight("https://evil.example.com");
    expect(other.headers.get("access-control-allow-origin")).not.toBe("https://evil.example.com");
    expect(other.headers.get("access-control-allow-origin")).not.toBe("*");
  });

  it("refuses a body over the limit with 413 before parsing it", async () => {
    const before = await threadCount();
    const padding = "x".repeat(70_000);
    const response = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": KEYS[0]! },
      body: JSON.stringify({ query: "mutation { createThread { id } }", variables: { padding } }),
    });
    expect(response.status).toBe(413);
    expect(codeOf((await response.json()) as ExecutionResult)).toBe("BAD_USER_INPUT");
    expect(await threadCount()).toBe(before);
  });

  it("refuses a POST that does not declare its length (chunked) with 411, creating nothing", async () => {
    const before = await threadCount();
    const url = new URL(server.graphqlUrl);
    const { status, body } = await new Promise<{ status: number; body: string }>((done, fail) => {
      const request = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          headers: { "content-type": "application/json", "x-api-key": KEYS[0]! },
        },
        (response) => {
          let text = "";
          response.on("data", (chunk) => {
            text += chunk;
          });
          response.on("end", () => done({ status: response.statusCode ?? 0, body: text }));
        },
      );
      request.on("error", fail);
      // Without a Content-Length node sends the body chunked, in as many pieces as written.
      request.write('{"query":"mutation { createThread { id } }",');
      request.end(`"variables":{"padding":"${"x".repeat(70_000)}"}}`);
    });
    expect(status).toBe(411);
    expect(codeOf(JSON.parse(body) as ExecutionResult)).toBe("BAD_USER_INPUT");
    expect(await threadCount()).toBe(before);
  });

  it("takes a body just under the limit", async () => {
    const padding = "x".repeat(60_000);
    const response = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": KEYS[0]! },
      body: JSON.stringify({ query: "{ __typename }", variables: { padding } }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { __typename: "Query" } });
  });
});

describe("auth filters", () => {
  // The same filter, in memory (inScope) and in SQL (metadata @> scope), must agree.
  const metadatas = [
    {},
    { owner: "alice" },
    { owner: "bob" },
    { owner: ["alice"] },
    { owner: null },
    { teams: ["red", "blue"] },
    { teams: ["red"] },
    { teams: "red" },
    { owner: "alice", teams: ["red", "blue"], n: 1 },
    { n: 1 },
    { n: "1" },
  ];
  const filters = [
    { owner: "alice" },
    { owner: { $eq: "alice" } },
    { owner: null },
    { teams: { $contains: "red" } },
    { teams: { $contains: ["red", "blue"] } },
    { owner: "alice", teams: { $contains: "blue" } },
    { n: 1 },
    {},
  ];

  it("match in memory exactly as PostgreSQL's @> does", async () => {
    for (const filter of filters) {
      const scope = compileFilters(filter);
      for (const metadata of metadatas) {
        const { rows } = await pool.query("SELECT $1::jsonb @> $2::jsonb AS matches", [
          JSON.stringify(metadata),
          JSON.stringify(scope),
        ]);
        expect(
          inScope(metadata, scope),
          `${JSON.stringify(filter)} on ${JSON.stringify(metadata)}`,
        ).toBe(rows[0].matches);
      }
    }
  });

  it("refuses what LangGraph's filters cannot mean", () => {
    for (const bad of [
      [],
      "owner",
      { owner: { $in: ["a"] } },
      { owner: { $eq: "a", $contains: "b" } },
      { owner: { nested: 1 } },
      { owner: { $eq: { nested: 1 } } },
    ]) {
      expect(() => compileFilters(bad), JSON.stringify(bad)).toThrow();
    }
  });
});

describe("loading langgraph.json's auth.path", () => {
  const fixture = resolve(repoRoot, "test", "fixtures", "auth", "auth.ts");

  it("reads an Auth object's authenticate and handlers", async () => {
    const module = await loadAuthModule({ path: fixture, exportName: "auth" });
    expect(typeof module.authenticate).toBe("function");
    expect(Object.keys(module.handlers).sort()).toEqual(["*", "store"]);
  });

  it("names the problem with a missing file or an export that is not an Auth object", async () => {
    await expect(
      loadAuthModule({ path: `${fixture}.missing`, exportName: "auth" }),
    ).rejects.toThrow(/auth\.path .*file does not exist/);
    await expect(loadAuthModule({ path: fixture, exportName: "nope" })).rejects.toThrow(
      /export "nope" is not an Auth object/,
    );
  });
});
