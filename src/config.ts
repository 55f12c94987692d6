import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, isAbsolute, resolve } from "node:path";
import { parseArgs, parseEnv } from "node:util";
import { z } from "zod";
import type { GraphSpec } from "./graphs/load.ts";
import type { WebhookUrlPolicy } from "./webhooks/policy.ts";

/**
 * The one place that reads process.env, the command line and langgraph.json. Everything else
 * receives a parsed `Config`. All problems are reported at once, naming the file and the key.
 */

export type Command = "start" | "dev" | "worker" | "migrate";

export const COMMANDS: Record<Command, string> = {
  start: "serve the API and execute runs (production)",
  dev: "like start, for development: GraphiQL on, listens on 127.0.0.1, reloads graphs when their files change",
  worker: "execute runs only (no HTTP), beside API processes on the same DATABASE_URL",
  migrate: "apply database migrations and exit (start, dev and worker also apply them)",
};

/** What the command line asks for; parsed before langgraph.json is read (--help needs none). */
export type CommandLine =
  | { kind: "help" }
  | { kind: "version" }
  | {
      kind: "run";
      command: Command;
      config?: string;
      port?: string;
      host?: string;
    };

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
  /** `auth.cache` of langgraph.json: authenticate results kept per process, keyed by headers. */
  authCache: AuthCacheConfig | null;
  /**
   * API keys a request must present (x-api-key or Authorization: Bearer); empty: none needed.
   * From LANGGRAPH_GQL_API_KEYS (comma-separated) and LANGGRAPH_GQL_API_KEYS_FILE (one per line).
   */
  apiKeys: string[];
  /** Hardening of the GraphQL surface (see the README's "Securing a deployment"). */
  security: SecurityConfig;
  /** langgraph.json's `http` section: the user's app, CORS, disabled route families, ... */
  routes: RoutesConfig;
  /** `store` of langgraph.json (`index` is refused at start). */
  store: { ttl: StoreTtlSettings | null };
  /** `checkpointer.ttl` of langgraph.json: threads idle this long are deleted by a sweep. */
  threadTtl: ThreadTtlSettings | null;
  /**
   * LANGGRAPH_CONFIG: per graph id, the config and context its default assistant is created
   * with (as LangGraph's server reads it: `{graphId: {context?, ...config}}`).
   */
  assistantDefaults: Record<string, AssistantDefaults>;
  /** What start-up should log about langgraph.json keys it accepted (see main/app). */
  notices: ConfigNotice[];
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  version: string;
  runs: {
    /** Runs one process executes at once (LangGraph Platform's N_JOBS_PER_WORKER). */
    concurrency: number;
    timeoutSeconds: number;
    leaseSeconds: number;
    maxAttempts: number;
    /**
     * Admission control: a new run is refused (OVERLOADED, retry after `retryAfterSeconds`)
     * while at least this many runs wait, due, for a worker. 0: never refused.
     */
    maxPendingRuns: number;
    retryAfterSeconds: number;
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
    /** langgraph.json webhooks.url: the URLs runs and crons may be given. */
    urlPolicy: WebhookUrlPolicy | null;
    /** langgraph.json webhooks.headers, `${{ env.VAR }}` resolved: sent with every delivery. */
    headers: Record<string, string>;
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

/** LangGraph's store TTLConfig, minutes throughout (fractions allowed). */
export interface StoreTtlSettings {
  /** Applied to items put without a ttl; null: such items never expire. */
  defaultTtlMinutes: number | null;
  /** Reads push a TTL'd item's expiry forward unless the read says otherwise. */
  refreshOnRead: boolean;
  /** Expired items (already invisible) are deleted this often; null: never. */
  sweepIntervalMinutes: number | null;
}

/** LangGraph's ThreadTTLConfig with strategy "delete", minutes throughout. */
export interface ThreadTtlSettings {
  /** A thread not updated (created, run, edited) for this long is deleted. */
  defaultTtlMinutes: number;
  sweepIntervalMinutes: number;
  /** Threads one sweep deletes at most. */
  sweepLimit: number;
}

export interface AuthCacheConfig {
  /** Header names whose values key a cached result; a request with none of them is not cached. */
  headers: string[];
  ttlSeconds: number;
  maxSize: number;
}

export interface AssistantDefaults {
  config: Record<string, unknown>;
  context: Record<string, unknown>;
}

export interface ConfigNotice {
  level: "debug" | "info" | "warn";
  message: string;
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
  /** Levels of objects and arrays a JSON argument may nest (checked before any resolver). */
  maxJsonDepth: number;
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
  // LangGraph payloads nest about ten levels (state > messages > message > content blocks >
  // tool-call args); a JSON Schema in a config, a few tens. Far deeper values are hostile, and
  // some thousands of levels overflow a stack on their way to jsonb.
  maxJsonDepth: 100,
};

/** Above this, JSON.stringify and PostgreSQL's jsonb parser come close to their stack limits. */
const MAX_JSON_DEPTH_CEILING = 1000;

export class ConfigError extends Error {
  override name = "ConfigError";
}

const graphEntry = z.union([
  z.string(),
  z.strictObject({ path: z.string(), description: z.string().nullish() }),
]);

/** Minutes, as LangGraph's TTL settings give them; fractions allowed (tests sweep in seconds). */
const minutes = z.number().positive();

/** `store`: `ttl` works with our store; `index` (semantic search) is its own feature. */
const storeSection = z.strictObject({
  index: z.unknown().optional(),
  ttl: z
    .strictObject({
      refresh_on_read: z.boolean().optional(),
      default_ttl: minutes.nullish(),
      sweep_interval_minutes: minutes.nullish(),
    })
    .nullish(),
});

/** `checkpointer`: `ttl` with strategy "delete" works; a custom saver or serde does not. */
const checkpointerSection = z.strictObject({
  path: z.unknown().optional(),
  serde: z.unknown().optional(),
  ttl: z
    .strictObject({
      strategy: z.enum(["delete", "keep_latest"]).optional(),
      default_ttl: minutes.nullish(),
      sweep_interval_minutes: minutes.nullish(),
      sweep_limit: z.number().int().positive().nullish(),
    })
    .nullish(),
});

const authSection = z.strictObject({
  path: z.string().optional(),
  disable_studio_auth: z.boolean().optional(),
  // The OpenAPI security block of the platform's REST document.
  openapi: z.record(z.string(), z.unknown()).optional(),
  cache: z
    .strictObject({
      cache_keys: z.array(z.string().min(1)).min(1),
      ttl_seconds: z.number().positive().optional(),
      max_size: z.number().int().positive().optional(),
    })
    .optional(),
});

/** `webhooks`: which URLs runs may name, and headers every delivery carries. */
const webhooksSection = z.strictObject({
  env_prefix: z.string().min(1).optional(),
  url: z
    .strictObject({
      require_https: z.boolean().optional(),
      allowed_domains: z.array(z.string().min(1)).optional(),
      allowed_ports: z.array(z.number().int().min(1).max(65535)).optional(),
      max_url_length: z.number().int().positive().optional(),
      // Relative URLs (calls to this server's own routes) are never accepted here.
      disable_loopback: z.boolean().optional(),
    })
    .optional(),
  headers: z
    .record(
      z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "not an HTTP header name" }),
      z.string().regex(/^[^\r\n]*$/, { message: "a header value cannot hold a line break" }),
    )
    .optional(),
});

/** Keys that only shape the platform's Docker image: nothing to do when running in place. */
const buildOnlyKeys = {
  dockerfile_lines: z.array(z.string()).optional(),
  docker_compose_file: z.string().optional(),
  base_image: z.string().nullish(),
  image_distro: z.enum(["debian", "wolfi", "bookworm"]).nullish(),
  keep_pkg_tools: z.union([z.boolean(), z.array(z.string())]).nullish(),
  pip_config_file: z.string().nullish(),
  pip_installer: z.string().nullish(),
  python_version: z.string().optional(),
  api_version: z.string().nullish(),
  _INTERNAL_docker_tag: z.string().nullish(),
  source: z.record(z.string(), z.unknown()).nullish(),
};

/**
 * Every key of the LangGraph CLI's langgraph.json (its Python and JS schemas): each one either
 * works, or is refused below by name. An unknown key is refused too, so a typo never silently
 * changes what runs.
 */
const langgraphJson = z.strictObject({
  $schema: z.string().optional(),
  graphs: z.record(z.string(), graphEntry),
  // The JS CLI also takes a list of variable names the environment must provide.
  env: z.union([z.string(), z.record(z.string(), z.string()), z.array(z.string())]).optional(),
  auth: authSection.nullish(),
  store: storeSection.nullish(),
  checkpointer: checkpointerSection.nullish(),
  // Its own section of config.ts.
  http: z.unknown().optional(),
  ui: z.record(z.string(), z.string()).nullish(),
  ui_config: z.strictObject({ shared: z.array(z.string()).optional() }).nullish(),
  node_version: z
    .string()
    .regex(/^\d+$/, { message: 'must be a Node.js major version such as "22"' })
    .nullish(),
  node_loader: z.string().nullish(),
  dependencies: z.array(z.string()).optional(),
  encryption: z.unknown().optional(),
  webhooks: webhooksSection.nullish(),
  ...buildOnlyKeys,
});

type LanggraphJson = z.infer<typeof langgraphJson>;

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
  MAX_PENDING_RUNS: z.coerce.number().int().min(0).optional(),
  OVERLOAD_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).max(3600).optional(),
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
  LANGGRAPH_CONFIG: z.string().optional(),
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
  MAX_JSON_DEPTH: z.coerce.number().int().min(1).max(MAX_JSON_DEPTH_CEILING).optional(),
});

export interface LoadConfigOptions {
  argv?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** The running Node.js version, checked against `node_version` (default: this process's). */
  nodeVersion?: string;
}

/** Parses argv; unknown commands and options are ConfigErrors naming them. */
export function parseCommandLine(argv: string[]): CommandLine {
  let parsed: ReturnType<typeof parseCommandLineArgs>;
  try {
    parsed = parseCommandLineArgs(argv);
  } catch (error) {
    // node:util's messages name the option ("Unknown option '--prot'...").
    throw new ConfigError(`${(error as Error).message.split(". ")[0]} (see langgraph-gql --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === "help") return { kind: "help" };
  if (values.version) return { kind: "version" };
  const command = positionals[0] ?? "start";
  if (!(command in COMMANDS)) {
    throw new ConfigError(
      `unknown command "${command}": use ${Object.keys(COMMANDS).join(", ")} (see langgraph-gql --help)`,
    );
  }
  if (positionals.length > 1) {
    throw new ConfigError(`unexpected argument "${positionals[1]}" (see langgraph-gql --help)`);
  }
  const { config, port, host } = values;
  return { kind: "run", command: command as Command, config, port, host };
}

function parseCommandLineArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string", short: "c" },
      port: { type: "string", short: "p" },
      host: { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const commandLine = parseCommandLine(options.argv ?? process.argv.slice(2));
  if (commandLine.kind !== "run") {
    throw new ConfigError(`loadConfig needs a command, not --${commandLine.kind}`);
  }
  const { command, ...values } = commandLine;
  const dev = command === "dev";

  const configFile = resolve(cwd, values.config ?? "langgraph.json");
  const projectDir = dirname(configFile);
  const file = readLanggraphJson(configFile);
  const graphEnv = readGraphEnv(file.env, configFile, projectDir);
  // Like the LangGraph CLI, langgraph.json's env fills in what the process environment lacks.
  const env = { ...graphEnv, ...(options.env ?? process.env) };
  requireListedEnv(file.env, env, configFile);
  checkNodeVersion(file.node_version, options.nodeVersion ?? process.versions.node, configFile);

  const parsedEnv = envSchema.safeParse(env);
  if (!parsedEnv.success) {
    throw new ConfigError(
      `invalid environment: ${parsedEnv.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const port = values.port !== undefined ? Number(values.port) : (parsedEnv.data.PORT ?? 4000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`--port must be a port number (0-65535), got "${values.port}"`);
  }

  const graphs = graphSpecs(file.graphs, configFile, projectDir);
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
    // dev answers on this machine only, as `langgraph dev` does; start serves the network.
    http: { host: values.host ?? parsedEnv.data.HOST ?? (dev ? "127.0.0.1" : "0.0.0.0"), port },
    database,
    graphs,
    graphEnv,
    auth: file.auth?.path ? importSpec(file.auth.path, "auth.path", configFile, projectDir) : null,
    authCache: authCacheSettings(file.auth),
    apiKeys: readApiKeys(parsedEnv.data, projectDir),
    security: {
      graphiql: dev || (parsedEnv.data.GRAPHIQL ?? DEFAULT_SECURITY.graphiql),
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
      maxJsonDepth: parsedEnv.data.MAX_JSON_DEPTH ?? DEFAULT_SECURITY.maxJsonDepth,
    },
    routes: readHttpSection(
      file.http,
      configFile,
      projectDir,
      parsedEnv.data.CORS_ORIGINS === undefined ? undefined : list(parsedEnv.data.CORS_ORIGINS),
    ),
    store: { ttl: storeTtlSettings(file.store) },
    threadTtl: threadTtlSettings(file.checkpointer),
    assistantDefaults: readAssistantDefaults(
      parsedEnv.data.LANGGRAPH_CONFIG,
      graphs.map((graph) => graph.id),
    ),
    notices: configNotices(file),
    logLevel: parsedEnv.data.LOG_LEVEL ?? "info",
    version: packageVersion(),
    runs: {
      concurrency: parsedEnv.data.N_JOBS_PER_WORKER ?? 10,
      timeoutSeconds: parsedEnv.data.RUN_TIMEOUT_SECONDS ?? 3600,
      // Renewed every third of this: a crashed worker's runs resume elsewhere this soon.
      leaseSeconds: parsedEnv.data.RUN_LEASE_SECONDS ?? 30,
      maxAttempts: parsedEnv.data.RUN_MAX_ATTEMPTS ?? 3,
      maxPendingRuns: parsedEnv.data.MAX_PENDING_RUNS ?? 1000,
      retryAfterSeconds: parsedEnv.data.OVERLOAD_RETRY_AFTER_SECONDS ?? 1,
    },
    crons: {
      enabled: parsedEnv.data.CRON_SCHEDULER ?? true,
      tickSeconds: parsedEnv.data.CRON_TICK_SECONDS ?? 10,
    },
    webhooks: {
      secret: parsedEnv.data.WEBHOOK_SECRET ?? null,
      urlPolicy: webhookUrlPolicy(file.webhooks),
      headers: webhookHeaders(file.webhooks, env, configFile),
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

function readLanggraphJson(configFile: string): LanggraphJson {
  if (!existsSync(configFile)) throw new ConfigError(`${configFile}: file not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configFile, "utf8"));
  } catch (error) {
    throw new ConfigError(`${configFile}: invalid JSON: ${(error as Error).message}`);
  }
  const parsed = langgraphJson.safeParse(raw);
  const problems = parsed.success
    ? refusedKeys(parsed.data)
    : parsed.error.issues.flatMap((issue) =>
        issue.code === "unrecognized_keys"
          ? issue.keys.map((key) => `${[...issue.path, key].join(".")}: not a langgraph.json key`)
          : [`${issue.path.join(".") || "(root)"}: ${issue.message}`],
      );
  if (problems.length > 0) throw new ConfigError(`${configFile}: ${problems.join("; ")}`);
  return parsed.data!;
}

/** Keys of the LangGraph CLI's format that this server cannot honour, each with the reason. */
function refusedKeys(file: LanggraphJson): string[] {
  const problems: string[] = [];
  if (file.store?.index != null) {
    problems.push(
      "store.index: semantic search (an embeddings index) is not supported yet; remove the key",
    );
  }
  if (file.checkpointer?.path != null) {
    problems.push(
      "checkpointer.path: a custom checkpointer is not supported; threads live in this server's PostgreSQL checkpointer",
    );
  }
  if (file.checkpointer?.serde != null) {
    problems.push(
      "checkpointer.serde: configures the Python serializer; LangGraph JS state needs none, remove the key",
    );
  }
  if (file.checkpointer?.ttl?.strategy === "keep_latest") {
    problems.push(
      'checkpointer.ttl.strategy: "keep_latest" is not supported; use "delete" (threads idle for default_ttl are deleted)',
    );
  }
  if (file.encryption != null) {
    problems.push(
      "encryption: custom at-rest encryption (a Python Encryption handler) is not supported",
    );
  }
  if (file.node_loader != null && file.node_loader !== "tsx") {
    problems.push(
      `node_loader: "${file.node_loader}" is not supported; graphs load through tsx (remove the key or set "tsx")`,
    );
  }
  return problems;
}

/** What start-up logs about accepted keys that change nothing here, or not yet. */
function configNotices(file: LanggraphJson): ConfigNotice[] {
  const notices: ConfigNotice[] = [];
  const debug = (message: string) => notices.push({ level: "debug", message });
  const ui = Object.keys(file.ui ?? {});
  if (ui.length > 0) {
    notices.push({
      level: "warn",
      message: `langgraph.json ui: generative UI components (${ui.join(", ")}) are not served yet; clients cannot load them from this server`,
    });
  }
  const buildOnly = Object.keys(buildOnlyKeys).filter(
    (key) => file[key as keyof typeof buildOnlyKeys] != null,
  );
  if (buildOnly.length > 0) {
    debug(
      `langgraph.json ${buildOnly.join(", ")}: only shape the platform's Docker image; nothing to do here`,
    );
  }
  if (file.dependencies) {
    debug(
      "langgraph.json dependencies: the platform installs them into its image; graphs here use the project's own node_modules",
    );
  }
  if (file.node_version) {
    debug(
      `langgraph.json node_version ${file.node_version}: running on Node.js ${process.versions.node}`,
    );
  }
  if (file.ui_config) debug("langgraph.json ui_config: applies to ui, which is not served yet");
  if (file.auth?.disable_studio_auth !== undefined) {
    debug(
      "langgraph.json auth.disable_studio_auth: there is no LangSmith Studio sign-in here; every request goes through the API keys and auth.path",
    );
  }
  if (file.auth?.openapi) {
    debug(
      "langgraph.json auth.openapi: describes the platform's OpenAPI document, not served here",
    );
  }
  if (file.auth?.cache && !file.auth.path) {
    debug("langgraph.json auth.cache: caches auth.path's authenticate, which is not set");
  }
  if (file.store?.ttl && file.store.ttl.sweep_interval_minutes == null) {
    debug(
      "langgraph.json store.ttl: no sweep_interval_minutes, so expired items are hidden but never deleted",
    );
  }
  if (file.checkpointer?.ttl && file.checkpointer.ttl.default_ttl == null) {
    debug("langgraph.json checkpointer.ttl: no default_ttl, so no thread expires");
  }
  notices.push(...httpNotices(file.http));
  return notices;
}

function readGraphEnv(
  env: LanggraphJson["env"],
  configFile: string,
  projectDir: string,
): Record<string, string> {
  if (env === undefined || Array.isArray(env)) return {};
  if (typeof env !== "string") return env;
  const envFile = resolve(projectDir, env);
  if (!existsSync(envFile)) {
    throw new ConfigError(`${configFile}: env file ${envFile} not found`);
  }
  return parseEnv(readFileSync(envFile, "utf8")) as Record<string, string>;
}

/** `env` as a list (the JS CLI's form) names variables the environment must provide. */
function requireListedEnv(
  env: LanggraphJson["env"],
  values: Record<string, string | undefined>,
  configFile: string,
) {
  if (!Array.isArray(env)) return;
  const missing = env.filter((name) => !values[name]);
  if (missing.length > 0) {
    throw new ConfigError(
      `${configFile}: env: missing environment variables ${missing.join(", ")}`,
    );
  }
}

/**
 * `node_version` picks the platform image's Node.js; here the server runs on whatever Node.js
 * started it, so an older major than asked for is refused and anything newer is accepted.
 */
function checkNodeVersion(wanted: string | null | undefined, running: string, configFile: string) {
  if (wanted == null) return;
  const runningMajor = Number(running.replace(/^v/, "").split(".")[0]);
  if (runningMajor < Number(wanted)) {
    throw new ConfigError(
      `${configFile}: node_version: asks for Node.js ${wanted}, but this is Node.js ${running}; run the server with Node.js ${wanted} or later`,
    );
  }
}

function storeTtlSettings(store: LanggraphJson["store"]): StoreTtlSettings | null {
  const ttl = store?.ttl;
  if (!ttl) return null;
  return {
    defaultTtlMinutes: ttl.default_ttl ?? null,
    refreshOnRead: ttl.refresh_on_read ?? true,
    sweepIntervalMinutes: ttl.sweep_interval_minutes ?? null,
  };
}

/** LangGraph's defaults: a sweep every 5 minutes, of at most 1000 threads. */
function threadTtlSettings(checkpointer: LanggraphJson["checkpointer"]): ThreadTtlSettings | null {
  const ttl = checkpointer?.ttl;
  if (!ttl?.default_ttl) return null;
  return {
    defaultTtlMinutes: ttl.default_ttl,
    sweepIntervalMinutes: ttl.sweep_interval_minutes ?? 5,
    sweepLimit: ttl.sweep_limit ?? 1000,
  };
}

function webhookUrlPolicy(webhooks: LanggraphJson["webhooks"]): WebhookUrlPolicy | null {
  const url = webhooks?.url;
  if (!url) return null;
  return {
    requireHttps: url.require_https ?? false,
    allowedDomains: url.allowed_domains ?? [],
    allowedPorts: url.allowed_ports ?? [],
    maxUrlLength: url.max_url_length ?? null,
  };
}

/**
 * webhooks.headers with each `${{ env.VAR }}` replaced by the variable's value. Only variables
 * named with `env_prefix` (default LG_WEBHOOK_) may be read, so a header cannot leak others.
 */
function webhookHeaders(
  webhooks: LanggraphJson["webhooks"],
  env: Record<string, string | undefined>,
  configFile: string,
): Record<string, string> {
  const prefix = webhooks?.env_prefix ?? "LG_WEBHOOK_";
  const headers: Record<string, string> = {};
  for (const [name, template] of Object.entries(webhooks?.headers ?? {})) {
    headers[name] = template.replace(
      /\$\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g,
      (_, variable) => {
        const key = `webhooks.headers.${name}`;
        if (!variable.startsWith(prefix)) {
          throw new ConfigError(
            `${configFile}: ${key}: may only read variables starting with ${prefix} (webhooks.env_prefix), not ${variable}`,
          );
        }
        const value = env[variable];
        if (value === undefined) {
          throw new ConfigError(
            `${configFile}: ${key}: environment variable ${variable} is not set`,
          );
        }
        return value;
      },
    );
  }
  return headers;
}

function authCacheSettings(auth: LanggraphJson["auth"]): AuthCacheConfig | null {
  const cache = auth?.cache;
  if (!cache || !auth?.path) return null;
  return {
    headers: cache.cache_keys.map((name) => name.toLowerCase()),
    ttlSeconds: cache.ttl_seconds ?? 60,
    maxSize: cache.max_size ?? 1000,
  };
}

/**
 * LANGGRAPH_CONFIG, as LangGraph's server reads it: a JSON object from graph id to the config
 * its default assistant gets, `context` apart.
 */
function readAssistantDefaults(
  raw: string | undefined,
  graphIds: string[],
): Record<string, AssistantDefaults> {
  if (raw === undefined || raw.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(`LANGGRAPH_CONFIG: invalid JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(parsed)) {
    throw new ConfigError(
      'LANGGRAPH_CONFIG: must be a JSON object of graph id -> assistant config, e.g. {"agent": {"configurable": {"model": "x"}}}',
    );
  }
  const defaults: Record<string, AssistantDefaults> = {};
  for (const [graphId, value] of Object.entries(parsed)) {
    if (!graphIds.includes(graphId)) {
      throw new ConfigError(
        `LANGGRAPH_CONFIG: graph "${graphId}" is not in langgraph.json (graphs: ${graphIds.join(", ")})`,
      );
    }
    if (!isPlainObject(value)) {
      throw new ConfigError(`LANGGRAPH_CONFIG: "${graphId}" must be an object (a config)`);
    }
    const { context = {}, ...config } = value;
    if (!isPlainObject(context)) {
      throw new ConfigError(`LANGGRAPH_CONFIG: "${graphId}".context must be an object`);
    }
    defaults[graphId] = { config, context };
  }
  return defaults;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const PYTHON_EXTENSIONS = [".py", ".pyx", ".pyd", ".pyi"];

function graphSpecs(
  graphs: LanggraphJson["graphs"],
  configFile: string,
  projectDir: string,
): GraphSpec[] {
  const ids = Object.keys(graphs);
  if (ids.length === 0) throw new ConfigError(`${configFile}: "graphs" names no graph`);
  return ids.map((id) => {
    const entry = graphs[id]!;
    const spec = typeof entry === "string" ? entry : entry.path;
    const { path, exportName } = importSpec(spec, `graphs.${id}`, configFile, projectDir);
    if (PYTHON_EXTENSIONS.includes(extname(path))) {
      throw new ConfigError(
        `${configFile}: graphs.${id}: ${path} is a Python graph; this server runs LangGraph JS graphs only`,
      );
    }
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

export function packageVersion(): string {
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

/** http keys accepted with nothing for this server to do. */
function httpNotices(raw: unknown): ConfigNotice[] {
  const http = (raw ?? {}) as Record<string, unknown>;
  const notices: ConfigNotice[] = [];
  for (const key of ["disable_ui", "disable_mcp", "disable_a2a"]) {
    if (http[key] !== undefined) {
      notices.push({
        level: "debug",
        message: `langgraph.json http.${key}: this server serves no /${key.slice(8)} routes; nothing to disable`,
      });
    }
  }
  if (http.logging_headers) {
    notices.push({
      level: "debug",
      message:
        "langgraph.json http.logging_headers: this server writes no request log; no header is ever logged",
    });
  }
  return notices;
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
