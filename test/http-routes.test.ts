import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type ExecutionResult, parse } from "graphql";
import { createClient } from "graphql-ws";
import pg from "pg";
import WebSocket from "ws";
import type { RunInput } from "./gql/graphql.ts";
import { cli } from "./helpers/cli.ts";
import { databaseUrl } from "./helpers/db-url.ts";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server.ts";
import { streamClient, subscribe } from "./stream-clients.ts";

/**
 * langgraph.json's `http` section on the real server: a Hono app mounted before our routes,
 * CORS in the platform's shape, run headers, a mount prefix, disabled route families, custom
 * route auth and disabled webhooks.
 */

const fixtures = resolve(repoRoot, "test", "fixtures", "http");
const KEY = "key-0123456789abcdef";

async function post(
  url: string,
  query: string,
  options: { variables?: Record<string, unknown>; headers?: Record<string, string> } = {},
) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...options.headers },
    body: JSON.stringify({ query, variables: options.variables }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as ExecutionResult<Record<string, any>>,
  };
}

const waitRunValues = `mutation ($input: RunInput!) { waitRun(input: $input) { run { id } values } }`;

const customEvents = parse(`subscription ($input: RunInput!) {
  streamRun(input: $input) { __typename ... on CustomEvent { data } }
}`) as TypedDocumentNode<unknown, { input: RunInput }>;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lgql-http-routes-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a Hono app at http.app, with http.cors and configurable_headers", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ configFile: join(fixtures, "langgraph.hono.json") });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("answers the app's routes with the app", async () => {
    const response = await fetch(`${server.url}/hello`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ hello: "world" });
    expect(response.headers.get("x-app-middleware")).toBe("seen");
  });

  it("passes what the app has no route for to /graphql and /ok, inside the app's middleware", async () => {
    const { status, headers, body } = await post(server.graphqlUrl, "{ info { graphs } }");
    expect(status).toBe(200);
    expect(body).toEqual({ data: { info: { graphs: ["headers", "waits"] } } });
    expect(headers.get("x-app-middleware")).toBe("seen");
    const ok = await fetch(`${server.url}/ok`);
    expect(await ok.json()).toEqual({ ok: true });
    expect((await fetch(`${server.url}/nowhere`)).status).toBe(404);
  });

  it("serves GraphiQL at /graphql to a browser the app has no route for", async () => {
    const response = await fetch(server.graphqlUrl, { headers: { accept: "text/html" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("x-app-middleware")).toBe("seen");
    expect(await response.text()).toContain("<title>langgraph-gql</title>");
  });

  it("hands POST bodies to the app intact", async () => {
    const bytes = randomBytes(300_000);
    const response = await fetch(`${server.url}/echo`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
    });
    expect(await response.json()).toEqual({
      bytes: bytes.length,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      contentType: "application/octet-stream",
    });
  });

  it("streams the app's streaming responses", async () => {
    const response = await fetch(`${server.url}/stream`);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    // The app sends its second chunk only once released: a buffered response never gets here.
    while (!text.includes("first\n")) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error(`the response ended before its first chunk: ${text}`);
      text += chunk.value;
    }
    await fetch(`${server.url}/release`, { method: "POST" });
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      text += chunk.value;
    }
    expect(text).toBe("first\nsecond\n");
  });

  it.each(["sse", "ws"] as const)(
    "streams a subscription over %s while the graph still runs",
    async (transport) => {
      const client = streamClient(transport, server);
      try {
        const releaseFile = join(dir, `release-${transport}`);
        const stream = subscribe(client, customEvents, {
          input: {
            assistantId: "waits",
            input: {},
            streamMode: ["CUSTOM"],
            config: { configurable: { releaseFile } },
          },
        });
        // The graph ends its wait only once this client has its first event.
        await stream.until(
          (events) => events.some((e) => e.__typename === "CustomEvent"),
          "the first event",
        );
        await writeFile(releaseFile, "");
        await stream.completed;
        expect(
          stream.events
            .filter((e) => e.__typename === "CustomEvent")
            .map((e) => (e as { data: unknown }).data),
        ).toEqual([{ phase: "started" }, { phase: "released" }]);
      } finally {
        await client.dispose();
      }
    },
  );

  it("applies http.cors to our routes and the app's", async () => {
    const preflight = await fetch(server.graphqlUrl, {
      method: "OPTIONS",
      headers: {
        origin: "https://admin.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(Object.fromEntries(preflight.headers)).toMatchObject({
      "access-control-allow-origin": "https://admin.example.com",
      "access-control-allow-methods": "GET, POST",
      "access-control-allow-headers": "content-type, x-api-key",
      "access-control-allow-credentials": "true",
      "access-control-max-age": "600",
      vary: expect.stringContaining("Origin"),
    });

    const refused = await fetch(server.graphqlUrl, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.org", "access-control-request-method": "POST" },
    });
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();

    const actual = await post(server.graphqlUrl, "{ info { version } }", {
      headers: { origin: "https://app.example.com" },
    });
    expect(actual.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(actual.headers.get("access-control-allow-credentials")).toBe("true");
    expect(actual.headers.get("access-control-expose-headers")).toBe("x-app-middleware");

    const app = await fetch(`${server.url}/hello`, {
      headers: { origin: "https://app.example.com" },
    });
    expect(app.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
  });

  it("copies the headers configurable_headers names into a run's config.configurable", async () => {
    const { body } = await post(server.graphqlUrl, waitRunValues, {
      variables: {
        input: {
          assistantId: "headers",
          input: {},
          config: { configurable: { "x-user-id": "from-body", mine: 1 } },
        },
      },
      headers: {
        "x-user-id": "u-1",
        "x-user-secret": "excluded",
        "x-other": "not included",
        "user-agent": "tests/1",
        authorization: "Bearer never-copied",
      },
    });
    expect(body.errors).toBeUndefined();
    const seen = body.data!.waitRun.values.configurable as Record<string, unknown>;
    // A header wins over the body's value, as on the platform.
    expect(seen).toMatchObject({ "x-user-id": "u-1", "user-agent": "tests/1", mine: 1 });
    expect(seen).not.toHaveProperty("x-user-secret");
    expect(seen).not.toHaveProperty("x-other");
    expect(seen).not.toHaveProperty("authorization");
  });

  it("takes run headers over graphql-ws from the upgrade request and connection_init", async () => {
    const client = createClient({
      url: server.wsUrl,
      webSocketImpl: class extends WebSocket {
        constructor(url: string, protocols: string[]) {
          super(url, protocols, { headers: { "user-agent": "ws-tests/1" } });
        }
      },
      retryAttempts: 0,
      connectionParams: { headers: { "x-user-id": "ws-user" } },
    });
    try {
      const result = await client
        .iterate({
          query: waitRunValues,
          variables: { input: { assistantId: "headers", input: {} } },
        })
        .next();
      const value = result.value as ExecutionResult<Record<string, any>>;
      expect(value.errors).toBeUndefined();
      expect(value.data!.waitRun.values.configurable).toMatchObject({
        "x-user-id": "ws-user",
        "user-agent": "ws-tests/1",
      });
    } finally {
      await client.dispose();
    }
  });
});

describe("a fetch app under http.mount_prefix, with disabled families and custom route auth", () => {
  let server: TestServer;
  let pool: pg.Pool;
  beforeAll(async () => {
    server = await startTestServer({
      configFile: join(fixtures, "langgraph.fetch.json"),
      env: { LANGGRAPH_GQL_API_KEYS: KEY },
    });
    pool = new pg.Pool({ connectionString: server.db.url, max: 1 });
    // The /ok test below cuts this pool's connection.
    pool.on("error", () => undefined);
  });
  afterAll(async () => {
    await pool?.end();
    await server?.stop();
  });
  const api = () => `${server.url}/api/graphql`;
  const auth = { "x-api-key": KEY };

  it("answers the app's routes under the prefix, once the request authenticates", async () => {
    const anonymous = await fetch(`${server.url}/api/custom`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({
      errors: [{ extensions: { code: "UNAUTHENTICATED" } }],
    });
    const keyed = await fetch(`${server.url}/api/custom`, { method: "POST", headers: auth });
    expect(keyed.status).toBe(200);
    expect(await keyed.json()).toEqual({ custom: true, method: "POST" });
  });

  it("serves /graphql and /ok under the prefix only", async () => {
    const { status, body } = await post(api(), "{ assistants { totalCount } }", { headers: auth });
    expect(status).toBe(200);
    expect(body).toEqual({ data: { assistants: { totalCount: 1 } } });
    expect((await post(api(), "{ assistants { totalCount } }")).status).toBe(401);
    // Health checks need no key.
    expect(await (await fetch(`${server.url}/api/ok`)).json()).toEqual({ ok: true });
    expect((await fetch(`${server.url}/ok`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${server.url}/graphql`, { headers: auth })).status).toBe(404);
  });

  it.each([
    ["{ threads { totalCount } }", "Query.threads", "threads"],
    ['{ storeItem(namespace: ["a"], key: "k") { key } }', "Query.storeItem", "store"],
    ["{ info { version } }", "Query.info", "meta"],
    ["mutation { createThread { id } }", "Mutation.createThread", "threads"],
    ["fragment F on Query { thread(id: 1) { id } } { ...F }", "Query.thread", "threads"],
  ])("refuses %s by name: a disabled family's field", async (query, field, family) => {
    const { body } = await post(api(), query, { headers: auth });
    expect(body.data).toBeUndefined();
    expect(body.errors).toEqual([
      expect.objectContaining({
        message: `${field} is disabled on this server (http.disable_${family} in langgraph.json)`,
        extensions: expect.objectContaining({ code: "BAD_USER_INPUT", field }),
      }),
    ]);
  });

  it("leaves the disabled fields out of the schema it serves", async () => {
    const { body } = await post(
      api(),
      "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
      { headers: auth },
    );
    const names = (type: { fields: Array<{ name: string }> }) => type.fields.map((f) => f.name);
    const query = names(body.data!.__schema.queryType);
    const mutation = names(body.data!.__schema.mutationType);
    expect(query).toEqual(expect.arrayContaining(["assistants", "runs", "crons", "graphs"]));
    for (const gone of ["threads", "thread", "info", "storeItem", "storeItems"]) {
      expect(query).not.toContain(gone);
    }
    expect(mutation).toContain("createRun");
    expect(mutation).not.toContain("createThread");
    expect(mutation).not.toContain("putStoreItem");
  });

  // In a server process of its own: under vitest, graphql-ws and our code load two copies of
  // graphql, and graphql-ws then takes no validation error (of any kind) for one.
  it("refuses a disabled subscription over graphql-ws, at the prefixed path", async () => {
    const child = cli(["start", "--config", join(fixtures, "langgraph.fetch.json")], {
      DATABASE_URL: server.db.url,
      PORT: "0",
      HOST: "127.0.0.1",
      LANGGRAPH_GQL_API_KEYS: KEY,
    });
    try {
      const [, graphqlUrl] = await child.waitFor(/serving .* at (http:\/\/\S+\/graphql)/);
      expect(new URL(graphqlUrl!).pathname).toBe("/api/graphql");
      const client = streamClient(
        "ws",
        { graphqlUrl: graphqlUrl!, wsUrl: graphqlUrl!.replace(/^http/, "ws") },
        auth,
      );
      try {
        const stream = subscribe(
          client,
          parse("subscription { threadEvents(threadId: 1) { __typename } }") as TypedDocumentNode<
            unknown,
            Record<string, never>
          >,
          {},
        );
        await stream.completed;
        expect(stream.errors).toEqual([
          expect.objectContaining({
            message:
              "Subscription.threadEvents is disabled on this server (http.disable_threads in langgraph.json)",
            extensions: expect.objectContaining({
              code: "BAD_USER_INPUT",
              field: "Subscription.threadEvents",
            }),
          }),
        ]);
      } finally {
        await client.dispose();
      }
    } finally {
      child.child.kill("SIGTERM");
      await child.exited;
    }
  });

  it("runs a run with a webhook without sending it (disable_webhooks)", async () => {
    const { body } = await post(api(), waitRunValues, {
      variables: {
        input: { assistantId: "headers", input: {}, webhook: "https://hooks.example.com/done" },
      },
      headers: auth,
    });
    expect(body.errors).toBeUndefined();
    const runId = body.data!.waitRun.run.id;
    // A delivery is recorded in the transaction that ends the run, before waitRun answers.
    const { rows } = await pool.query(
      "SELECT count(*)::int AS n FROM webhook_delivery WHERE run_id = $1",
      [runId],
    );
    expect(rows[0].n).toBe(0);
  });

  // Last: it takes the database away from the server for a moment.
  it("answers /ok without asking the database (disable_meta, as on the platform)", async () => {
    const admin = new pg.Client({ connectionString: databaseUrl(server.db.url, "postgres") });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE "${server.db.name}" ALLOW_CONNECTIONS false`);
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        [server.db.name],
      );
      const ok = await fetch(`${server.url}/api/ok`);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ ok: true });
    } finally {
      await admin.query(`ALTER DATABASE "${server.db.name}" ALLOW_CONNECTIONS true`);
      await admin.end();
    }
  });
});

describe("http.cors with allow_origin_regex and a mount prefix, no app", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ configFile: join(fixtures, "langgraph.cors.json") });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const api = () => `${server.url}/v1/graphql`;

  it("answers a preflight from an origin the pattern matches whole, and only those", async () => {
    const preflight = (origin: string) =>
      fetch(api(), {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type, x-api-key",
        },
      });
    const allowed = await preflight("https://app.example.com");
    expect(allowed.status).toBe(204);
    expect(Object.fromEntries(allowed.headers)).toMatchObject({
      "access-control-allow-origin": "https://app.example.com",
      // Without allow_methods / allow_headers, what the preflight asks for.
      "access-control-allow-methods": "POST",
      "access-control-allow-headers": "content-type, x-api-key",
      "access-control-max-age": "60",
    });
    expect(allowed.headers.get("access-control-allow-credentials")).toBeNull();
    for (const origin of ["https://app.example.com.evil.org", "http://app.example.com"]) {
      expect((await preflight(origin)).headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("serves the API under the prefix with CORS headers for an allowed origin", async () => {
    const { body, headers } = await post(api(), "{ info { graphs } }", {
      headers: { origin: "https://admin.example.com" },
    });
    expect(body).toEqual({ data: { info: { graphs: ["headers"] } } });
    expect(headers.get("access-control-allow-origin")).toBe("https://admin.example.com");
    expect(await (await fetch(`${server.url}/v1/ok`)).json()).toEqual({ ok: true });
    expect((await fetch(`${server.url}/ok`)).status).toBe(404);
  });
});
