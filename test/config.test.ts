import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../src/config.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lgql-config-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(content: unknown): Promise<string> {
  const file = join(dir, "langgraph.json");
  await writeFile(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

describe("loadConfig", () => {
  it("reads graphs in LangGraph CLI format, relative to the config file", async () => {
    const file = await configFile({
      graphs: { agent: "./src/agent.ts:graph", other: { path: "./o.ts:make", description: "d" } },
    });
    const config = loadConfig({ argv: ["start", "--config", file], env: {} });
    expect(config.graphs).toEqual([
      { id: "agent", path: join(dir, "src/agent.ts"), exportName: "graph" },
      { id: "other", path: join(dir, "o.ts"), exportName: "make", description: "d" },
    ]);
    expect(config.http).toEqual({ host: "0.0.0.0", port: 4000 });
    expect(config.database).toEqual({ kind: "embedded", dataDir: join(dir, ".data") });
  });

  it("uses DATABASE_URL, PORT and HOST; flags win over the environment", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" } });
    const env = { DATABASE_URL: "postgresql://x@h/db", PORT: "5000", HOST: "127.0.0.1" };
    expect(loadConfig({ argv: ["--config", file], env })).toMatchObject({
      command: "start",
      database: { kind: "external", url: "postgresql://x@h/db" },
      http: { host: "127.0.0.1", port: 5000 },
    });
    expect(
      loadConfig({ argv: ["--config", file, "--port", "6000", "--host", "::1"], env }).http,
    ).toEqual({
      host: "::1",
      port: 6000,
    });
  });

  it("takes env from an object or a .env file, the process environment winning", async () => {
    await writeFile(join(dir, ".env"), "MODEL=fake\nDATABASE_URL=postgresql://from-file/db\n");
    const file = await configFile({ graphs: { a: "./a.ts:g" }, env: ".env" });
    const config = loadConfig({ argv: ["--config", file], env: { MODEL: "real" } });
    expect(config.graphEnv).toEqual({ MODEL: "fake", DATABASE_URL: "postgresql://from-file/db" });
    expect(config.database).toEqual({ kind: "external", url: "postgresql://from-file/db" });
  });

  it("accepts auth.path for the auth layer", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" }, auth: { path: "./auth.ts:auth" } });
    expect(loadConfig({ argv: ["--config", file], env: {} }).auth).toEqual({
      path: join(dir, "auth.ts"),
      exportName: "auth",
    });
  });

  it.each([
    [null, "file not found"],
    ["{ nope", "invalid JSON"],
    [{}, "graphs"],
    [{ graphs: {} }, "names no graph"],
    [{ graphs: { a: "./a.ts" } }, 'graphs.a must look like "./path/to/file.ts:exportName"'],
    [{ graphs: { a: "./a.ts:g" }, env: "./missing.env" }, "missing.env not found"],
  ])("refuses %j naming the file and the problem", async (content, problem) => {
    const file = content === null ? join(dir, "langgraph.json") : await configFile(content);
    expect(() => loadConfig({ argv: ["--config", file], env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ argv: ["--config", file], env: {} })).toThrow(file);
    expect(() => loadConfig({ argv: ["--config", file], env: {} })).toThrow(problem);
  });

  it("refuses a bad port and an unknown command", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" } });
    expect(() => loadConfig({ argv: ["--config", file, "--port", "x"], env: {} })).toThrow(
      "--port",
    );
    expect(() => loadConfig({ argv: ["--config", file], env: { PORT: "99999" } })).toThrow("PORT");
    expect(() => loadConfig({ argv: ["serve", "--config", file], env: {} })).toThrow("serve");
  });

  it("reads the admission limit, 1000 waiting runs unless told, 0 turning it off", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" } });
    const runs = (env: Record<string, string>) =>
      loadConfig({ argv: ["--config", file], env }).runs;
    expect(runs({})).toMatchObject({ maxPendingRuns: 1000, retryAfterSeconds: 1 });
    expect(runs({ MAX_PENDING_RUNS: "0", OVERLOAD_RETRY_AFTER_SECONDS: "5" })).toMatchObject({
      maxPendingRuns: 0,
      retryAfterSeconds: 5,
    });
    for (const env of [
      { MAX_PENDING_RUNS: "-1" },
      { MAX_PENDING_RUNS: "many" },
      { OVERLOAD_RETRY_AFTER_SECONDS: "0" },
    ]) {
      const key = Object.keys(env)[0]!;
      expect(() => loadConfig({ argv: ["--config", file], env })).toThrow(ConfigError);
      expect(() => loadConfig({ argv: ["--config", file], env })).toThrow(key);
    }
  });

  it("reads MAX_JSON_DEPTH, 100 by default, refusing what would let a value overflow a stack", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" } });
    const load = (env: Record<string, string>) => loadConfig({ argv: ["--config", file], env });
    expect(load({}).security.maxJsonDepth).toBe(100);
    expect(load({ MAX_JSON_DEPTH: "300" }).security.maxJsonDepth).toBe(300);
    for (const bad of ["0", "1001", "deep"]) {
      expect(() => load({ MAX_JSON_DEPTH: bad })).toThrow(ConfigError);
      expect(() => load({ MAX_JSON_DEPTH: bad })).toThrow("MAX_JSON_DEPTH");
    }
  });
});

/** The platform's `${{ env.NAME }}` placeholder of webhooks.headers. */
const envTemplate = (name: string) => `\${{ env.${name} }}`;

describe("langgraph.json keys", () => {
  const load = (file: string, env: Record<string, string> = {}, nodeVersion = "22.12.0") =>
    loadConfig({ argv: ["--config", file], env, nodeVersion });

  async function refuses(content: object, ...expected: string[]) {
    const file = await configFile({ graphs: { a: "./a.ts:g" }, ...content });
    let error: unknown;
    try {
      load(file);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.startsWith(`${file}: `)).toBe(true);
    expect(message).not.toContain("\n");
    for (const text of expected) expect(message).toContain(text);
  }

  it("refuses a key that is not a langgraph.json key, at any depth, naming it", async () => {
    await refuses({ graph: {} }, "graph: not a langgraph.json key");
    await refuses(
      { store: { ttl: { default_tll: 5 } } },
      "store.ttl.default_tll: not a langgraph.json key",
    );
    await refuses(
      { graphs: { a: { path: "./a.ts:g", descripton: "typo" } } },
      "graphs.a.descripton: not a langgraph.json key",
    );
  });

  it("accepts $schema, graph descriptions and http (configured elsewhere)", async () => {
    const file = await configFile({
      $schema: "https://langgra.ph/schema.json",
      graphs: { a: { path: "./a.ts:g", description: null }, b: "./b.ts:g" },
      http: { cors: { allow_origins: ["*"] } },
    });
    expect(load(file).graphs.map((graph) => graph.id)).toEqual(["a", "b"]);
  });

  it("refuses Python graphs by name", async () => {
    await refuses({ graphs: { py: "./agent.py:graph" } }, "graphs.py", "Python graph");
  });

  it("takes env as an object, or as a list of variables the environment must set", async () => {
    const object = await configFile({ graphs: { a: "./a.ts:g" }, env: { MODEL: "fake" } });
    expect(load(object).graphEnv).toEqual({ MODEL: "fake" });
    const listed = await configFile({ graphs: { a: "./a.ts:g" }, env: ["MODEL", "API_TOKEN"] });
    expect(load(listed, { MODEL: "m", API_TOKEN: "t" }).graphEnv).toEqual({});
    expect(() => load(listed, { MODEL: "m" })).toThrow(
      `${listed}: env: missing environment variables API_TOKEN`,
    );
    await refuses({ env: 3 }, "env:");
  });

  it("reads store.ttl, LangGraph's defaults filling the gaps, and refuses store.index", async () => {
    const file = await configFile({
      graphs: { a: "./a.ts:g" },
      store: { ttl: { default_ttl: 10080, sweep_interval_minutes: 120 } },
    });
    expect(load(file).store).toEqual({
      ttl: { defaultTtlMinutes: 10080, refreshOnRead: true, sweepIntervalMinutes: 120 },
    });
    const bare = await configFile({
      graphs: { a: "./a.ts:g" },
      store: { ttl: { refresh_on_read: false } },
    });
    const config = load(bare);
    expect(config.store.ttl).toEqual({
      defaultTtlMinutes: null,
      refreshOnRead: false,
      sweepIntervalMinutes: null,
    });
    expect(config.notices).toContainEqual({
      level: "debug",
      message: expect.stringContaining("store.ttl: no sweep_interval_minutes"),
    });
    await refuses({ store: { ttl: { default_ttl: 0 } } }, "store.ttl.default_ttl");
    await refuses(
      { store: { index: { embed: "openai:text-embedding-3-small", dims: 1536 } } },
      "store.index: semantic search",
    );
  });

  it("reads checkpointer.ttl with LangGraph's defaults, and refuses what it cannot do", async () => {
    const file = await configFile({
      graphs: { a: "./a.ts:g" },
      checkpointer: { ttl: { strategy: "delete", default_ttl: 43200 } },
    });
    expect(load(file).threadTtl).toEqual({
      defaultTtlMinutes: 43200,
      sweepIntervalMinutes: 5,
      sweepLimit: 1000,
    });
    const tuned = await configFile({
      graphs: { a: "./a.ts:g" },
      checkpointer: { ttl: { default_ttl: 60, sweep_interval_minutes: 1, sweep_limit: 10 } },
    });
    expect(load(tuned).threadTtl).toEqual({
      defaultTtlMinutes: 60,
      sweepIntervalMinutes: 1,
      sweepLimit: 10,
    });
    const none = await configFile({ graphs: { a: "./a.ts:g" }, checkpointer: { ttl: {} } });
    expect(load(none).threadTtl).toBeNull();
    await refuses(
      { checkpointer: { ttl: { strategy: "keep_latest", default_ttl: 60 } } },
      'checkpointer.ttl.strategy: "keep_latest" is not supported',
    );
    await refuses({ checkpointer: { ttl: { strategy: "archive" } } }, "checkpointer.ttl.strategy");
    await refuses({ checkpointer: { path: "./saver.ts:saver" } }, "checkpointer.path");
    await refuses({ checkpointer: { serde: { pickle_fallback: false } } }, "checkpointer.serde");
  });

  it("reads auth.cache, and accepts disable_studio_auth and openapi with a note", async () => {
    const file = await configFile({
      graphs: { a: "./a.ts:g" },
      auth: {
        path: "./auth.ts:auth",
        disable_studio_auth: true,
        openapi: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
        cache: { cache_keys: ["Authorization"], ttl_seconds: 30 },
      },
    });
    const config = load(file);
    expect(config.authCache).toEqual({ headers: ["authorization"], ttlSeconds: 30, maxSize: 1000 });
    const notes = config.notices.map((notice) => notice.message).join("\n");
    expect(notes).toContain("auth.disable_studio_auth");
    expect(notes).toContain("auth.openapi");
    await refuses(
      { auth: { path: "./auth.ts:auth", cache: { cache_keys: [] } } },
      "auth.cache.cache_keys",
    );
    await refuses(
      { auth: { path: "./auth.ts:auth", disable_studio_auth: "yes" } },
      "auth.disable_studio_auth",
    );
  });

  it("refuses a node_version newer than the running Node.js, and accepts older ones", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" }, node_version: "24" });
    expect(() => load(file, {}, "22.12.0")).toThrow(
      `${file}: node_version: asks for Node.js 24, but this is Node.js 22.12.0`,
    );
    expect(load(file, {}, "24.0.1").graphs).toHaveLength(1);
    expect(load(file, {}, "25.1.0").graphs).toHaveLength(1);
    await refuses({ node_version: "lts" }, "node_version");
  });

  it("accepts dependencies (the project's node_modules serve them) when they are a list", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" }, dependencies: ["."] });
    expect(load(file).notices).toContainEqual({
      level: "debug",
      message: expect.stringContaining("langgraph.json dependencies:"),
    });
    await refuses({ dependencies: "." }, "dependencies");
  });

  it("accepts the keys that only build the platform's image, with one note naming them", async () => {
    const file = await configFile({
      graphs: { a: "./a.ts:g" },
      dockerfile_lines: ["RUN apt-get install -y libmagic-dev"],
      docker_compose_file: "./compose.yaml",
      base_image: "langchain/langgraphjs-api",
      image_distro: "wolfi",
      keep_pkg_tools: ["pip"],
      pip_config_file: "./pip.conf",
      pip_installer: "uv",
      python_version: "3.12",
      api_version: "0.4",
      _INTERNAL_docker_tag: "latest",
      source: { kind: "uv", root: "." },
    });
    const notes = load(file).notices.filter((notice) => notice.message.includes("Docker image"));
    expect(notes).toEqual([
      {
        level: "debug",
        message:
          "langgraph.json dockerfile_lines, docker_compose_file, base_image, image_distro, keep_pkg_tools, pip_config_file, pip_installer, python_version, api_version, _INTERNAL_docker_tag, source: only shape the platform's Docker image; nothing to do here",
      },
    ]);
    await refuses({ image_distro: "alpine" }, "image_distro");
    await refuses({ dockerfile_lines: "RUN true" }, "dockerfile_lines");
  });

  it("warns that ui is not served yet, naming its components; accepts ui_config", async () => {
    const file = await configFile({
      graphs: { a: "./a.ts:g" },
      ui: { weather: "./weather.tsx", chart: "./chart.tsx" },
      ui_config: { shared: ["react"] },
    });
    expect(load(file).notices).toContainEqual({
      level: "warn",
      message: expect.stringMatching(/^langgraph.json ui: .*\(weather, chart\) are not served yet/),
    });
    await refuses({ ui: { weather: 3 } }, "ui.weather");
  });

  it("accepts node_loader tsx (what loads graphs here) and refuses other loaders", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" }, node_loader: "tsx" });
    expect(load(file).graphs).toHaveLength(1);
    await refuses({ node_loader: "ts-node" }, 'node_loader: "ts-node" is not supported');
  });

  it("refuses encryption by name", async () => {
    await refuses({ encryption: { path: "./encryption.py:encryption" } }, "encryption:");
  });

  it("reads webhooks.url and webhooks.headers, resolving only prefixed variables", async () => {
    const file = await configFile({
      graphs: { a: "./a.ts:g" },
      webhooks: {
        url: { require_https: true, allowed_domains: ["*.example.com"], allowed_ports: [443] },
        headers: { "x-token": `Bearer ${envTemplate("LG_WEBHOOK_TOKEN")}`, "x-static": "s" },
      },
    });
    const config = load(file, { LG_WEBHOOK_TOKEN: "t0k" });
    expect(config.webhooks).toMatchObject({
      urlPolicy: {
        requireHttps: true,
        allowedDomains: ["*.example.com"],
        allowedPorts: [443],
        maxUrlLength: null,
      },
      headers: { "x-token": "Bearer t0k", "x-static": "s" },
    });
    expect(() => load(file)).toThrow(
      `${file}: webhooks.headers.x-token: environment variable LG_WEBHOOK_TOKEN is not set`,
    );
    const plain = await configFile({ graphs: { a: "./a.ts:g" } });
    expect(load(plain).webhooks).toMatchObject({ urlPolicy: null, headers: {} });
  });

  it("refuses webhook headers reading unprefixed variables, and malformed ones", async () => {
    const file = await configFile({
      graphs: { a: "./a.ts:g" },
      webhooks: { env_prefix: "HOOK_", headers: { "x-key": envTemplate("DATABASE_URL") } },
    });
    expect(() => load(file, { DATABASE_URL: "postgresql://secret" })).toThrow(
      `${file}: webhooks.headers.x-key: may only read variables starting with HOOK_`,
    );
    await refuses({ webhooks: { headers: { "bad header": "v" } } }, "webhooks.headers");
    await refuses({ webhooks: { url: { allowed_ports: [0] } } }, "webhooks.url.allowed_ports");
  });
});

describe("LANGGRAPH_CONFIG", () => {
  const graphs = { graphs: { agent: "./a.ts:g", other: "./b.ts:g" } };

  it("gives each named graph's default assistant its config, context apart", async () => {
    const file = await configFile(graphs);
    const value = JSON.stringify({
      agent: { configurable: { model: "x" }, recursion_limit: 5, context: { user: "u" } },
    });
    expect(
      loadConfig({ argv: ["--config", file], env: { LANGGRAPH_CONFIG: value } }).assistantDefaults,
    ).toEqual({
      agent: {
        config: { configurable: { model: "x" }, recursion_limit: 5 },
        context: { user: "u" },
      },
    });
    expect(loadConfig({ argv: ["--config", file], env: {} }).assistantDefaults).toEqual({});
  });

  it("is read from langgraph.json's env too", async () => {
    const file = await configFile({
      ...graphs,
      env: { LANGGRAPH_CONFIG: '{"other": {"tags": ["t"]}}' },
    });
    expect(loadConfig({ argv: ["--config", file], env: {} }).assistantDefaults).toEqual({
      other: { config: { tags: ["t"] }, context: {} },
    });
  });

  it.each([
    ["{agent:", "LANGGRAPH_CONFIG: invalid JSON"],
    ['["agent"]', "LANGGRAPH_CONFIG: must be a JSON object of graph id -> assistant config"],
    ['{"agnet": {}}', 'LANGGRAPH_CONFIG: graph "agnet" is not in langgraph.json'],
    ['{"agent": 3}', 'LANGGRAPH_CONFIG: "agent" must be an object'],
    ['{"agent": {"context": "x"}}', 'LANGGRAPH_CONFIG: "agent".context must be an object'],
  ])("refuses %s by name", async (value, problem) => {
    const file = await configFile(graphs);
    expect(() =>
      loadConfig({ argv: ["--config", file], env: { LANGGRAPH_CONFIG: value } }),
    ).toThrow(problem);
  });
});
