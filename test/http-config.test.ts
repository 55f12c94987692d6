import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { API_FAMILIES, ConfigError, loadConfig } from "../src/config.ts";
import { loadUserApp } from "../src/http/user-app.ts";
import { disabledRootFields, ROOT_FIELD_FAMILIES, servedSchema } from "../src/schema/families.ts";
import { buildSchema } from "../src/schema/index.ts";
import { repoRoot } from "./helpers/server.ts";

/** langgraph.json's `http` section: parsing, the served schema, loading the http.app. */

const fixtures = resolve(repoRoot, "test", "fixtures", "http");

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lgql-http-config-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(http: unknown): Promise<string> {
  const file = join(dir, "langgraph.json");
  await writeFile(file, JSON.stringify({ graphs: { a: "./a.ts:g" }, http }));
  return file;
}

async function routes(http: unknown, env: Record<string, string> = {}) {
  return loadConfig({ argv: ["--config", await configFile(http)], env }).routes;
}

describe("parsing langgraph.json http", () => {
  it("has the defaults without an http section", async () => {
    expect(await routes(undefined)).toEqual({
      app: null,
      mountPrefix: "",
      cors: null,
      disabled: [],
      webhooks: true,
      configurableHeaders: null,
      customRouteAuth: false,
    });
  });

  it("reads every key it serves, in the platform's spelling", async () => {
    const parsed = await routes({
      app: "./src/app.ts:app",
      mount_prefix: "/api/v1",
      cors: {
        allow_origins: ["https://a.example.com"],
        allow_origin_regex: "https://.*\\.example\\.org",
        allow_methods: ["GET", "POST"],
        allow_headers: ["content-type"],
        allow_credentials: true,
        expose_headers: ["x-request-id"],
        max_age: 300,
      },
      disable_assistants: false,
      disable_threads: true,
      disable_runs: false,
      disable_store: true,
      disable_meta: true,
      disable_ui: true,
      disable_mcp: true,
      disable_a2a: false,
      disable_webhooks: true,
      configurable_headers: { includes: ["X-User-*"], excludes: ["x-user-secret"] },
      logging_headers: { excludes: ["*"] },
      middleware_order: "middleware_first",
      enable_custom_route_auth: true,
    });
    expect(parsed).toEqual({
      app: { path: join(dir, "src/app.ts"), exportName: "app" },
      mountPrefix: "/api/v1",
      cors: {
        origins: ["https://a.example.com"],
        originPattern: "https://.*\\.example\\.org",
        methods: ["GET", "POST"],
        headers: ["content-type"],
        credentials: true,
        exposeHeaders: ["x-request-id"],
        maxAgeSeconds: 300,
      },
      disabled: ["threads", "store", "meta"],
      webhooks: false,
      configurableHeaders: { includes: ["x-user-*"], excludes: ["x-user-secret"] },
      customRouteAuth: true,
    });
  });

  it("notes at start the keys that leave nothing to do here", async () => {
    const file = await configFile({ disable_ui: true, disable_mcp: false, logging_headers: {} });
    const notices = loadConfig({ argv: ["--config", file], env: {} }).notices.map((n) => n.message);
    expect(notices).toEqual(
      expect.arrayContaining([
        "langgraph.json http.disable_ui: this server serves no /ui routes; nothing to disable",
        "langgraph.json http.disable_mcp: this server serves no /mcp routes; nothing to disable",
        "langgraph.json http.logging_headers: this server writes no request log; no header is ever logged",
      ]),
    );
  });

  it("takes configurable_headers' include/exclude as the platform's documentation spells them", async () => {
    expect(
      (await routes({ configurable_headers: { include: ["x-a"], exclude: ["x-b"] } }))
        .configurableHeaders,
    ).toEqual({ includes: ["x-a"], excludes: ["x-b"] });
  });

  it("fills in a partial http.cors: any origin, what the preflight asks, no credentials", async () => {
    expect((await routes({ cors: { max_age: 5 } })).cors).toEqual({
      origins: ["*"],
      originPattern: null,
      methods: null,
      headers: null,
      credentials: false,
      exposeHeaders: [],
      maxAgeSeconds: 5,
    });
    expect((await routes({ cors: { allow_origin_regex: "https://x" } })).cors).toMatchObject({
      origins: [],
      originPattern: "https://x",
    });
  });

  it("lets CORS_ORIGINS decide the origins over http.cors, keeping its other settings", async () => {
    const http = {
      cors: {
        allow_origins: ["https://from-file.example.com"],
        allow_origin_regex: ".*",
        allow_credentials: true,
      },
    };
    expect((await routes(http, { CORS_ORIGINS: "https://ops.example.com" })).cors).toMatchObject({
      origins: ["https://ops.example.com"],
      originPattern: null,
      credentials: true,
    });
    expect((await routes(http, { CORS_ORIGINS: "" })).cors).toMatchObject({
      origins: [],
      originPattern: null,
    });
    // Without http.cors, CORS_ORIGINS keeps its meaning (security.corsOrigins).
    const config = loadConfig({
      argv: ["--config", await configFile(undefined)],
      env: { CORS_ORIGINS: "https://ops.example.com" },
    });
    expect(config.routes.cors).toBeNull();
    expect(config.security.corsOrigins).toEqual(["https://ops.example.com"]);
  });

  it.each([
    [{ mount_prefix: "api" }, 'http.mount_prefix: must look like "/api"'],
    [{ mount_prefix: "/api/" }, 'http.mount_prefix: must look like "/api"'],
    [{ app: "./app.ts" }, 'http.app must look like "./path/to/file.ts:exportName"'],
    [{ disable_threads: "yes" }, "http.disable_threads:"],
    [{ cors: { allow_origins: "*" } }, "http.cors.allow_origins:"],
    [
      { cors: { allow_origin_regex: "(" } },
      "http.cors.allow_origin_regex: is not a valid regular expression",
    ],
    [
      { cors: { allow_origin: ["*"] } },
      "http.cors.allow_origin is not a key of LangGraph's http config",
    ],
    [{ disable_crons: true }, "http.disable_crons is not a key of LangGraph's http config"],
    [{ middleware_order: "auth_first" }, 'http.middleware_order: "auth_first" is not supported'],
    [{ middleware_order: "sometimes" }, "http.middleware_order:"],
    [
      { logging_headers: { includes: ["x-request-id"] } },
      "http.logging_headers: includes asks for headers in the request log",
    ],
    [{ configurable_headers: { includes: [""] } }, "http.configurable_headers.includes.0:"],
    [
      Object.fromEntries(API_FAMILIES.map((family) => [`disable_${family}`, true])),
      "http.disable_* turn off every part of the GraphQL API",
    ],
  ])("refuses %j naming the file and the key", async (http, problem) => {
    const file = await configFile(http);
    const load = () => loadConfig({ argv: ["--config", file], env: {} });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(file);
    expect(load).toThrow(problem);
  });
});

describe("the served schema", () => {
  it("puts every root field in one http.disable_* family", () => {
    const schema = buildSchema();
    const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()];
    const fields = roots.flatMap((root) =>
      Object.keys(root?.getFields() ?? {}).map((name) => `${root!.name}.${name}`),
    );
    expect(fields.sort()).toEqual(Object.keys(ROOT_FIELD_FAMILIES).sort());
  });

  it("leaves the disabled families' root fields out of a copy; the full schema stays whole", () => {
    const full = buildSchema();
    const disabled = disabledRootFields(full, ["threads", "meta"]);
    expect([...disabled.keys()].sort()).toEqual(
      Object.entries(ROOT_FIELD_FAMILIES)
        .filter(([, family]) => family === "threads" || family === "meta")
        .map(([field]) => field)
        .sort(),
    );
    const served = servedSchema(full, disabled);
    expect(served.getQueryType()!.getFields().threads).toBeUndefined();
    expect(served.getQueryType()!.getFields().info).toBeUndefined();
    expect(served.getMutationType()!.getFields().createThread).toBeUndefined();
    expect(served.getSubscriptionType()!.getFields().threadEvents).toBeUndefined();
    expect(served.getQueryType()!.getFields().runs).toBeDefined();
    // Types stay, so the fields left keep their shape.
    expect(served.getType("Thread")).toBeDefined();
    // The full schema (what schema.graphql prints) is left as it was.
    expect(full.getQueryType()!.getFields().threads).toBeDefined();
  });

  it("drops a root type left without fields", () => {
    const full = buildSchema();
    const served = servedSchema(full, disabledRootFields(full, ["runs", "threads"]));
    expect(served.getSubscriptionType()).toBeUndefined();
  });
});

describe("loading http.app", () => {
  const spec = (file: string, exportName: string) => ({ path: join(fixtures, file), exportName });

  it.each([
    ["missing.ts", "app", "file does not exist"],
    ["app.ts", "nope", 'export "nope" not found; the module exports "app", "notAnApp"'],
    ["app.ts", "notAnApp", 'export "notAnApp" is not an HTTP app'],
    ["../graphs/broken/throws-on-import.ts", "graph", "module failed to import"],
  ])("refuses %s:%s naming http.app and the file", async (file, exportName, problem) => {
    const loading = loadUserApp(spec(file, exportName), "");
    await expect(loading).rejects.toThrow(ConfigError);
    await expect(loading).rejects.toThrow(`http.app (${join(fixtures, file)}): ${problem}`);
  });

  it("mounts a Hono app under the prefix; what it has no route for goes on", async () => {
    const app = await loadUserApp(spec("app.ts", "app"), "/api");
    expect(app.kind).toBe("hono");
    const passed: string[] = [];
    const next = (request: Request) => {
      passed.push(new URL(request.url).pathname);
      return new Response("ours", { status: 200 });
    };
    const hello = await app.handle(new Request("http://x/api/hello"), {}, next);
    expect(await hello.json()).toEqual({ hello: "world" });
    // The app's middleware wraps what it passes on under its prefix, as on the platform.
    const inside = await app.handle(new Request("http://x/api/graphql"), {}, next);
    expect(await inside.text()).toBe("ours");
    expect(inside.headers.get("x-app-middleware")).toBe("seen");
    const outside = await app.handle(new Request("http://x/hello"), {}, next);
    expect(await outside.text()).toBe("ours");
    expect(outside.headers.get("x-app-middleware")).toBeNull();
    expect(passed).toEqual(["/api/graphql", "/hello"]);
  });

  it("passes on a plain fetch app's 404, unless the app read the body", async () => {
    const path = join(dir, "reader.ts");
    await writeFile(
      path,
      `export default async (request: Request) =>
        request.method === "POST" ? (await request.text(), new Response("read", { status: 404 }))
          : new Response("no", { status: 404 });`,
    );
    const app = await loadUserApp({ path, exportName: "default" }, "");
    expect(app.kind).toBe("fetch");
    const next = () => new Response("ours");
    expect(await (await app.handle(new Request("http://x/a"), {}, next)).text()).toBe("ours");
    const post = new Request("http://x/a", { method: "POST", body: "data" });
    expect(await (await app.handle(post, {}, next)).text()).toBe("read");
  });
});
