import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseArgs, parseEnv } from "node:util";
import { z } from "zod";
import type { GraphSpec } from "./graphs/load.ts";

/**
 * The one place that reads process.env, the command line and langgraph.json. Everything else
 * receives a parsed `Config`. All problems are reported at once, naming the file and the key.
 */

export type Command = "start" | "worker" | "migrate";

export type DatabaseConfig =
  | { kind: "external"; url: string }
  | { kind: "embedded"; dataDir: string };

export interface Config {
  command: Command;
  /** The langgraph.json this config came from, and its folder (graph paths are relative to it). */
  configFile: string;
  projectDir: string;
  http: { host: string; port: number };
  database: DatabaseConfig;
  graphs: GraphSpec[];
  /** `env` of langgraph.json, applied to the process before graphs load (as the LangGraph CLI does). */
  graphEnv: Record<string, string>;
  /** `auth.path` of langgraph.json, resolved; used by the auth layer. */
  auth: { path: string; exportName: string } | null;
  /**
   * API keys a request must present (x-api-key or Authorization: Bearer); empty: none needed.
   * From LANGGRAPH_GQL_API_KEYS (comma-separated) and LANGGRAPH_GQL_API_KEYS_FILE (one per line).
   */
  apiKeys: string[];
  /** Hardening of the GraphQL surface (see the README's "Securing a deployment"). */
  security: SecurityConfig;
  /** langgraph.json's `http` section: the user's app, CORS, disabled route families, ... */
  routes: RoutesConfig;
  /** Raw `store` section of langgraph.json (index/ttl settings). */
  store: Record<string, unknown> | null;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  version: string;
  runs: {
    /** Runs one process executes at once (LangGraph Platform's N_JOBS_PER_WORKER). */
    concurrency: number;
    timeoutSeconds: number;
    leaseSeconds: number;
    maxAttempts: number;
  };
  crons: {
    /** Whether this process fires due crons (every process may; each due slot fires once). */
    enabled: boolean;
    /**
     * Safety-net period of the scheduler: it also wakes at the earliest next run and whenever a
     * cron changes, so this only bounds how late a lost wake-up can make a fire.
     */
    tickSeconds: number;
  };
  webhooks: {
    /** Signing secret (Standard Webhooks): "whsec_" + base64 key bytes, or any other string. */
    secret: string | null;
    /** Deliver to loopback, private and link-local addresses too (off: SSRF protection). */
    allowPrivateTargets: boolean;
    /** Attempts per delivery, the first included, before it is given up as FAILED. */
    maxAttempts: number;
    /** One attempt's limit: connecting, sending, and receiving the response status. */
    timeoutSeconds: number;
    /** Delay before the first retry; doubles with each further retry (with jitter). */
    retryBaseSeconds: number;
    retryMaxSeconds: number;
  };
  streams: {
    /** A run's stream events stay resumable (`after`) this long after the run ends. */
    retentionSeconds: number;
    /** A streaming run commits its events at most once per this many ms (never per token). */
    flushMs: number;
    /** graphql-ws pings every connection this often (0: never), so idle proxies keep it open. */
    keepAliveSeconds: number;
  };
}

export interface SecurityConfig {
  graphiql: boolean;
  introspection: boolean;
  /** Origins allowed by CORS: ["*"] any, [] none (same-origin only). */
  corsOrigins: string[];
  /** Larger request bodies are refused with 413 before they are parsed. */
  maxBodyBytes: number;
  /** Limits checked before execution; a document over any of them is refused. */
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxCost: number;
  maxDirectives: number;
}

/** The surface when nothing is configured: open, with limits no real client reaches. */
export const DEFAULT_SECURITY: SecurityConfig = {
  graphiql: true,
  introspection: true,
  corsOrigins: ["*"],
  // LangGraph inputs carry whole message lists (and sometimes images).
  maxBodyBytes: 10 * 1024 * 1024,
  // Our deepest real query (state of a subgraph task inside a task) nests 8 levels.
  maxDepth: 15,
  maxAliases: 30,
  maxTokens: 5000,
  maxCost: 20_000,
  maxDirectives: 50,
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

const graphEntry = z.union([
  z.string(),
  z.object({ path: z.string(), description: z.string().optional() }).loose(),
]);

const langgraphJson = z
  .object({
    graphs: z.record(z.string(), graphEntry),
    env: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
    auth: z.object({ path: z.string().optional() }).loose().optional(),
    store: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

const envSchema = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  PORT: z.coerce.number().int().min(0).max(65535).optional(),
  HOST: z.string().min(1).optional(),
  LANGGRAPH_GQL_DATA_DIR: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).optional(),
  N_JOBS_PER_WORKER: z.coerce.number().int().min(1).max(1000).optional(),
  RUN_TIMEOUT_SECONDS: z.coerce.number().int().min(1).optional(),
  RUN_LEASE_SECONDS: z.coerce.number().min(1).optional(),
  RUN_MAX_ATTEMPTS: z.coerce.number().int().min(1).optional(),
  CRON_SCHEDULER: z.stringbool().optional(),
  CRON_TICK_SECONDS: z.coerce.number().min(0.05).max(3600).optional(),
  WEBHOOK_SECRET: z
    .string()
    .min(1)
    .refine((s) => !s.startsWith("whsec_") || /^[A-Za-z0-9+/]+={0,2}$/.test(s.slice(6)), {
      message: 'a "whsec_" secret must be followed by base64 key bytes',
    })
    .optional(),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: z.stringbool().optional(),
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).optional(),
  WEBHOOK_TIMEOUT_SECONDS: z.coerce.number().positive().max(300).optional(),
  WEBHOOK_RETRY_BASE_SECONDS: z.coerce.number().positive().optional(),
  WEBHOOK_RETRY_MAX_SECONDS: z.coerce.number().positive().optional(),
  RUN_EVENT_RETENTION_SECONDS: z.coerce.number().int().min(1).optional(),
  RUN_EVENT_FLUSH_MS: z.coerce.number().int().min(0).max(10_000).optional(),
  STREAM_KEEPALIVE_SECONDS: z.coerce.number().min(0).max(3600).optional(),
  LANGGRAPH_GQL_API_KEYS: z.string().optional(),
  LANGGRAPH_GQL_API_KEYS_FILE: z.string().min(1).optional(),
  GRAPHIQL: z.stringbool().optional(),
  INTROSPECTION: z.stringbool().optional(),
  CORS_ORIGINS: z.string().optional(),
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).optional(),
  GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(1).optional(),
  GRAPHQL_MAX_ALIASES: z.coerce.number().int().min(0).optional(),
  GRAPHQL_MAX_TOKENS: z.coerce.number().int().min(10).optional(),
  GRAPHQL_MAX_COST: z.coerce.number().int().min(1).optional(),
  GRAPHQL_MAX_DIRECTIVES: z.coerce.number().int().min(0).optional(),
});

export interface LoadConfigOptions {
  argv?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const argv = options.argv ?? process.argv.slice(2);
  const cwd = options.cwd ?? process.cwd();
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string", short: "c" },
      port: { type: "string", short: "p" },
      host: { type: "string" },
    },
  });
  const command = (positionals[0] ?? "start") as Command;
  if (!["start", "worker", "migrate"].includes(command)) {
    throw new ConfigError(`unknown command "${command}": use start, worker or migrate`);
  }

  const configFile = resolve(cwd, values.config ?? "langgraph.json");
  const projectDir = dirname(configFile);
  const file = readLanggraphJson(configFile);
  const graphEnv = readGraphEnv(file.env, configFile, projectDir);
  // Like the LangGraph CLI, langgraph.json's env fills in what the process environment lacks.
  const env = { ...graphEnv, ...(options.env ?? process.env) };

  const parsedEnv = envSchema.safeParse(env);
  if (!parsedEnv.success) {
    throw new ConfigError(
      `invalid environment: ${parsedEnv.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const port = values.port !== undefined ? Number(values.port) : (parsedEnv.data.PORT ?? 4000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`--port must be a port number, got "${values.port}"`);
  }

  const database: DatabaseConfig = parsedEnv.data.DATABASE_URL
    ? { kind: "external", url: parsedEnv.data.DATABASE_URL }
    : {
        kind: "embedded",
        dataDir: resolve(projectDir, parsedEnv.data.LANGGRAPH_GQL_DATA_DIR ?? ".data"),
      };

  return {
    command,
    configFile,
    projectDir,
    http: { host: values.host ?? parsedEnv.data.HOST ?? "0.0.0.0", port },
    database,
    graphs: graphSpecs(file.graphs, configFile, projectDir),
    graphEnv,
    auth: file.auth?.path ? importSpec(file.auth.path, "auth.path", configFile, projectDir) : null,
    apiKeys: readApiKeys(parsedEnv.data, projectDir),
    security: {
      graphiql: parsedEnv.data.GRAPHIQL ?? DEFAULT_SECURITY.graphiql,
      introspection: parsedEnv.data.INTROSPECTION ?? DEFAULT_SECURITY.introspection,
      corsOrigins:
        parsedEnv.data.CORS_ORIGINS !== undefined
          ? list(parsedEnv.data.CORS_ORIGINS)
          : DEFAULT_SECURITY.corsOrigins,
      maxBodyBytes: parsedEnv.data.MAX_BODY_BYTES ?? DEFAULT_SECURITY.maxBodyBytes,
      maxDepth: parsedEnv.data.GRAPHQL_MAX_DEPTH ?? DEFAULT_SECURITY.maxDepth,
      maxAliases: parsedEnv.data.GRAPHQL_MAX_ALIASES ?? DEFAULT_SECURITY.maxAliases,
      maxTokens: parsedEnv.data.GRAPHQL_MAX_TOKENS ?? DEFAULT_SECURITY.maxTokens,
      maxCost: parsedEnv.data.GRAPHQL_MAX_COST ?? DEFAULT_SECURITY.maxCost,
      maxDirectives: parsedEnv.data.GRAPHQL_MAX_DIRECTIVES ?? DEFAULT_SECURITY.maxDirectives,
    },
    routes: readHttpSection(
      (file as Record<string, unknown>).http,
      configFile,
      projectDir,
      parsedEnv.data.CORS_ORIGINS === undefined ? undefined : list(parsedEnv.data.CORS_ORIGINS),
    ),
    store: file.store ?? null,
    logLevel: parsedEnv.data.LOG_LEVEL ?? "info",
    version: packageVersion(),
    runs: {
      concurrency: parsedEnv.data.N_JOBS_PER_WORKER ?? 10,
      timeoutSeconds: parsedEnv.data.RUN_TIMEOUT_SECONDS ?? 3600,
      // Renewed every third of this: a crashed worker's runs resume elsewhere this soon.
      leaseSeconds: parsedEnv.data.RUN_LEASE_SECONDS ?? 30,
      maxAttempts: parsedEnv.data.RUN_MAX_ATTEMPTS ?? 3,
    },
    crons: {
      enabled: parsedEnv.data.CRON_SCHEDULER ?? true,
      tickSeconds: parsedEnv.data.CRON_TICK_SECONDS ?? 10,
    },
    webhooks: {
      secret: parsedEnv.data.WEBHOOK_SECRET ?? null,
      allowPrivateTargets: parsedEnv.data.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? false,
      maxAttempts: parsedEnv.data.WEBHOOK_MAX_ATTEMPTS ?? 5,
      timeoutSeconds: parsedEnv.data.WEBHOOK_TIMEOUT_SECONDS ?? 10,
      // 10 s, 20 s, 40 s, 80 s: five attempts span about two and a half minutes.
      retryBaseSeconds: parsedEnv.data.WEBHOOK_RETRY_BASE_SECONDS ?? 10,
      retryMaxSeconds: parsedEnv.data.WEBHOOK_RETRY_MAX_SECONDS ?? 3600,
    },
    streams: {
      retentionSeconds: parsedEnv.data.RUN_EVENT_RETENTION_SECONDS ?? 3600,
      // Real models emit a token every 10-30 ms: 20 ms batches them while a subscriber in
      // another process still sees tokens about as they come (local ones get them from memory).
      flushMs: parsedEnv.data.RUN_EVENT_FLUSH_MS ?? 20,
      // graphql-ws's own default; SSE gets yoga's keep-alive comment on the same period.
      keepAliveSeconds: parsedEnv.data.STREAM_KEEPALIVE_SECONDS ?? 12,
    },
  };
}

function list(value: string): string[] {
  return value
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
}

function readApiKeys(
  env: { LANGGRAPH_GQL_API_KEYS?: string; LANGGRAPH_GQL_API_KEYS_FILE?: string },
  projectDir: string,
): string[] {
  const keys = list(env.LANGGRAPH_GQL_API_KEYS ?? "");
  if (env.LANGGRAPH_GQL_API_KEYS_FILE) {
    const file = resolve(projectDir, env.LANGGRAPH_GQL_API_KEYS_FILE);
    if (!existsSync(file)) {
      throw new ConfigError(`LANGGRAPH_GQL_API_KEYS_FILE: ${file} not found`);
    }
    for (const line of readFileSync(file, "utf8").split(/\r?\n/)) {
      const key = line.trim();
      if (key && !key.startsWith("#")) keys.push(key);
    }
  }
  const short = keys.find((key) => key.length < 16);
  if (short !== undefined) {
    throw new ConfigError(
      "API keys must be at least 16 characters (one configured key is shorter)",
    );
  }
  return keys;
}

function readLanggraphJson(configFile: string): z.infer<typeof langgraphJson> {
  if (!existsSync(configFile)) throw new ConfigError(`${configFile}: file not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configFile, "utf8"));
  } catch (error) {
    throw new ConfigError(`${configFile}: invalid JSON: ${(error as Error).message}`);
  }
  const parsed = langgraphJson.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `${i.path.join(".") || "(root)"}: ${i.message}`,
    );
    throw new ConfigError(`${configFile}: ${problems.join("; ")}`);
  }
  return parsed.data;
}

function readGraphEnv(
  env: string | Record<string, string> | undefined,
  configFile: string,
  projectDir: string,
): Record<string, string> {
  if (env === undefined) return {};
  if (typeof env !== "string") return env;
  const envFile = resolve(projectDir, env);
  if (!existsSync(envFile)) {
    throw new ConfigError(`${configFile}: env file ${envFile} not found`);
  }
  return parseEnv(readFileSync(envFile, "utf8")) as Record<string, string>;
}

function graphSpecs(
  graphs: Record<string, z.infer<typeof graphEntry>>,
  configFile: string,
  projectDir: string,
): GraphSpec[] {
  const ids = Object.keys(graphs);
  if (ids.length === 0) throw new ConfigError(`${configFile}: "graphs" names no graph`);
  return ids.map((id) => {
    const entry = graphs[id]!;
    const spec = typeof entry === "string" ? entry : entry.path;
    const { path, exportName } = importSpec(spec, `graphs.${id}`, configFile, projectDir);
    const description = typeof entry === "string" ? undefined : entry.description;
    return { id, path, exportName, ...(description ? { description } : {}) };
  });
}

/** "./file.ts:export" -> absolute path and export name (LangGraph CLI format). */
function importSpec(spec: string, key: string, configFile: string, projectDir: string) {
  const colon = spec.lastIndexOf(":");
  if (colon <= 0 || colon === spec.length - 1) {
    throw new ConfigError(
      `${configFile}: ${key} must look like "./path/to/file.ts:exportName", got "${spec}"`,
    );
  }
  const file = spec.slice(0, colon);
  return {
    path: isAbsolute(file) ? file : resolve(projectDir, file),
    exportName: spec.slice(colon + 1),
  };
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

// --- langgraph.json `http` ------------------------------------------------------------------

/** Root-field families `http.disable_*` can leave out of the served API (the platform's route groups). */
export const API_FAMILIES = ["assistants", "threads", "runs", "store", "meta"] as const;
export type ApiFamily = (typeof API_FAMILIES)[number];

/** `http.cors` in the platform's shape, with CORS_ORIGINS applied (see readHttpSection). */
export interface CorsPolicy {
  /** Allowed origins; "*" allows any. */
  origins: string[];
  /** `allow_origin_regex`: an origin it matches whole is allowed too. */
  originPattern: string | null;
  /** Null: whatever the preflight asks for. */
  methods: string[] | null;
  headers: string[] | null;
  credentials: boolean;
  exposeHeaders: string[];
  maxAgeSeconds: number | null;
}

/** Header name patterns: literal names with `*` for any run of characters. */
export interface HeaderPatterns {
  includes: string[];
  excludes: string[];
}

export interface RoutesConfig {
  /** `http.app`: a fetch app (Hono, as the official server takes) answering before our routes. */
  app: { path: string; exportName: string } | null;
  /** `http.mount_prefix`: every route, ours and the app's, served under it ("" for none). */
  mountPrefix: string;
  /** `http.cors`; null: CORS from CORS_ORIGINS alone (`security.corsOrigins`). */
  cors: CorsPolicy | null;
  /** Families whose root fields the served schema leaves out (`http.disable_*`). */
  disabled: ApiFamily[];
  /** False with `http.disable_webhooks`: runs still run, their webhooks are not sent. */
  webhooks: boolean;
  /** `http.configurable_headers`: request headers a run gets in `config.configurable`. */
  configurableHeaders: HeaderPatterns | null;
  /** `http.enable_custom_route_auth`: requests for the app's routes must authenticate too. */
  customRouteAuth: boolean;
}

const headerPatterns = z.strictObject({
  includes: z.array(z.string().min(1)).nullish(),
  excludes: z.array(z.string().min(1)).nullish(),
  // The platform's documentation spells them in the singular, and its server reads both.
  include: z.array(z.string().min(1)).nullish(),
  exclude: z.array(z.string().min(1)).nullish(),
});

const httpSection = z.strictObject({
  app: z.string().optional(),
  mount_prefix: z
    .string()
    .regex(/^(\/[^/?#\s]+)+$/, 'must look like "/api" (a leading "/", no trailing one)')
    .optional(),
  cors: z
    .strictObject({
      allow_origins: z.array(z.string().min(1)).optional(),
      allow_origin_regex: z
        .string()
        .refine(isRegExp, { message: "is not a valid regular expression" })
        .optional(),
      allow_methods: z.array(z.string().min(1)).optional(),
      allow_headers: z.array(z.string().min(1)).optional(),
      allow_credentials: z.boolean().optional(),
      expose_headers: z.array(z.string().min(1)).optional(),
      max_age: z.number().int().min(0).optional(),
    })
    .nullish(),
  disable_assistants: z.boolean().optional(),
  disable_threads: z.boolean().optional(),
  disable_runs: z.boolean().optional(),
  disable_store: z.boolean().optional(),
  disable_meta: z.boolean().optional(),
  // We serve no /ui, /mcp or /a2a routes: disabled or not, there is nothing to serve.
  disable_ui: z.boolean().optional(),
  disable_mcp: z.boolean().optional(),
  disable_a2a: z.boolean().optional(),
  disable_webhooks: z.boolean().optional(),
  configurable_headers: headerPatterns.nullish(),
  logging_headers: headerPatterns
    .refine((p) => !(p.includes ?? p.include)?.length, {
      message:
        "includes asks for headers in the request log, and this server writes no request log (no header is ever logged); keep only excludes",
    })
    .nullish(),
  middleware_order: z
    .enum(["middleware_first", "auth_first"])
    .refine((order) => order === "middleware_first", {
      message:
        '"auth_first" is not supported: the http.app app always sees a request before authentication (enable_custom_route_auth makes its routes authenticate first)',
    })
    .nullish(),
  enable_custom_route_auth: z.boolean().optional(),
});

/**
 * langgraph.json's `http` section. CORS_ORIGINS, when set, decides the allowed origins (it
 * replaces `allow_origins` and `allow_origin_regex`, as the process environment wins over
 * langgraph.json elsewhere); the rest of `http.cors` still applies.
 */
function readHttpSection(
  raw: unknown,
  configFile: string,
  projectDir: string,
  envOrigins: string[] | undefined,
): RoutesConfig {
  const parsed = httpSection.nullish().safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => {
      const at = ["http", ...issue.path].join(".");
      if (issue.code === "unrecognized_keys") {
        return issue.keys.map((key) => `${at}.${key} is not a key of LangGraph's http config`);
      }
      return [`${at}: ${issue.message}`];
    });
    throw new ConfigError(`${configFile}: ${problems.join("; ")}`);
  }
  const http = parsed.data ?? {};
  const disabled = API_FAMILIES.filter((family) => http[`disable_${family}`] === true);
  if (disabled.length === API_FAMILIES.length) {
    throw new ConfigError(
      `${configFile}: http.disable_* turn off every part of the GraphQL API; keep at least one`,
    );
  }
  const patterns = http.configurable_headers;
  return {
    app: http.app ? importSpec(http.app, "http.app", configFile, projectDir) : null,
    mountPrefix: http.mount_prefix ?? "",
    cors: http.cors
      ? {
          origins:
            envOrigins ?? http.cors.allow_origins ?? (http.cors.allow_origin_regex ? [] : ["*"]),
          originPattern: envOrigins ? null : (http.cors.allow_origin_regex ?? null),
          methods: http.cors.allow_methods ?? null,
          headers: http.cors.allow_headers ?? null,
          credentials: http.cors.allow_credentials ?? false,
          exposeHeaders: http.cors.expose_headers ?? [],
          maxAgeSeconds: http.cors.max_age ?? null,
        }
      : null,
    disabled,
    webhooks: http.disable_webhooks !== true,
    configurableHeaders: patterns
      ? {
          includes: (patterns.includes ?? patterns.include ?? []).map((p) => p.toLowerCase()),
          excludes: (patterns.excludes ?? patterns.exclude ?? []).map((p) => p.toLowerCase()),
        }
      : null,
    customRouteAuth: http.enable_custom_route_auth === true,
  };
}

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** No `http` section: our routes at the root, nothing disabled, webhooks sent. */
export const DEFAULT_ROUTES: RoutesConfig = {
  app: null,
  mountPrefix: "",
  cors: null,
  disabled: [],
  webhooks: true,
  configurableHeaders: null,
  customRouteAuth: false,
};
