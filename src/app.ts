import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { type ExecutionArgs, GraphQLError, type ValidationRule } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { type WebSocket, WebSocketServer } from "ws";
import {
  type Authenticator,
  createAuthenticator,
  requestForConnection,
  requestForHandler,
} from "./auth/authenticate.ts";
import { type Authorizer, createAuthorizer, openAuthorizer } from "./auth/authorizer.ts";
import { anonymousCaller, type Caller } from "./auth/caller.ts";
import { loadAuthModule } from "./auth/load.ts";
import {
  type Config,
  DEFAULT_ROUTES,
  DEFAULT_SECURITY,
  type RoutesConfig,
  type SecurityConfig,
  type StoreTtlSettings,
} from "./config.ts";
import { createCronScheduler } from "./crons/scheduler.ts";
import { type Database, migrate, openDatabase, resolveServer } from "./db/database.ts";
import { CRONS_CHANNEL } from "./db/sql/crons.ts";
import { RUN_EVENTS_CHANNEL, THREAD_ACCESS_CHANNEL } from "./db/sql/events.ts";
import { RUN_CONTROL_CHANNEL, RUNS_CHANNEL } from "./db/sql/runs.ts";
import { WEBHOOKS_CHANNEL } from "./db/sql/webhooks.ts";
import { DomainError, UnauthenticatedError } from "./errors.ts";
import { createGraphiQLPage } from "./graphiql/page.ts";
import { loadGraphRegistry } from "./graphs/registry.ts";
import { registerSdkLogger } from "./graphs/sdk-logger.ts";
import { corsSetting } from "./http/cors.ts";
import { createFront } from "./http/front.ts";
import { createRunHeaderPicker } from "./http/run-headers.ts";
import { loadUserApp, type UserApp } from "./http/user-app.ts";
import type { Logger } from "./log.ts";
import { every } from "./periodic.ts";
import { createBoss, startBoss } from "./queue/boss.ts";
import { Notifier } from "./queue/notifier.ts";
import { createRunWorker, type RunWorker } from "./runs/worker.ts";
import type { GraphQLContext } from "./schema/builder.ts";
import { createMaskError, useClientErrorCodes, withoutHttpExtensions } from "./schema/errors.ts";
import { disabledRootFields, servedSchema, useDisabledRootFields } from "./schema/families.ts";
import { buildSchema } from "./schema/index.ts";
import { useJsonResponses } from "./schema/json-responses.ts";
import { useSharedEventResults } from "./schema/shared-events.ts";
import { useSubscriptionRefusals } from "./schema/stream.ts";
import { createServices, type Services } from "./services.ts";
import type { StoreTtlConfig } from "./store/store.ts";
import { createWebhookDeliverer } from "./webhooks/deliverer.ts";

export interface App {
  yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  httpServer: Server;
  services: Services;
  /** Starts listening; resolves with the base URL (port 0 picks a free port). */
  listen(port: number, host: string): Promise<string>;
  /** Stops taking requests, closes subscriptions, waits for requests in flight (up to graceMs). */
  close(graceMs?: number): Promise<void>;
}

const openAuthenticator = createAuthenticator({ apiKeys: [], authenticate: null });

export function buildApp(deps: {
  services: Services;
  log: Logger;
  keepAliveMs?: number;
  authenticator?: Authenticator;
  security?: SecurityConfig;
  /** langgraph.json's `http` section. */
  routes?: RoutesConfig;
  /** Its `http.app`, loaded (startServer loads it before the database starts). */
  userApp?: UserApp | null;
}): App {
  const { services, log } = deps;
  const authenticator = deps.authenticator ?? openAuthenticator;
  const security = deps.security ?? DEFAULT_SECURITY;
  const routes = deps.routes ?? DEFAULT_ROUTES;
  const userApp = deps.userApp ?? null;
  const fullSchema = buildSchema({ maxJsonDepth: security.maxJsonDepth });
  const disabled = disabledRootFields(fullSchema, routes.disabled);
  const cors = corsSetting(security.corsOrigins, routes.cors);
  const pickRunHeaders = createRunHeaderPicker(routes.configurableHeaders);
  const okPath = `${routes.mountPrefix}/ok`;
  // The platform's disable_meta leaves /ok up but no longer checking anything.
  const checkDatabase = !routes.disabled.includes("meta");
  const yoga = createYoga<Record<string, unknown>, GraphQLContext>({
    schema: servedSchema(fullSchema, disabled),
    graphqlEndpoint: `${routes.mountPrefix}/graphql`,
    landingPage: false,
    // Ours below: yoga's built-in page loads GraphiQL from a CDN.
    graphiql: false,
    // With an http.app the front applies CORS, to the app's routes as well.
    cors: userApp ? false : cors,
    logging: {
      debug: (...args) => log.debug(args.map(String).join(" ")),
      info: (...args) => log.info(args.map(String).join(" ")),
      warn: (...args) => log.warn(args.map(String).join(" ")),
      // Yoga logs every error a result carries; expected ones (bad input, not found) are the
      // client's business, and createMaskError already logs the unexpected ones.
      error: (...args) => log.debug(args.map(String).join(" ")),
    },
    maskedErrors: { maskError: createMaskError(log) },
    // refuseOversizedBody already bounds every body by its declared Content-Length (node's parser
    // reads no further). Yoga's own limit would pipe each body through a TransformStream whose
    // teardown builds an AbortError: about a tenth of a small query's CPU, for no extra safety.
    maxRequestBodySize: false,
    plugins: [
      useClientErrorCodes(),
      useSubscriptionRefusals(),
      useSharedEventResults(),
      useJsonResponses(),
      useDisabledRootFields(disabled),
      ...hardeningPlugins(security),
    ],
    context: async ({
      request,
      caller,
      runHeaders,
    }: {
      request?: Request;
      caller?: Caller;
      runHeaders?: Readonly<Record<string, string>>;
    }) => ({
      // graphql-ws authenticated once, at connection_init; HTTP and SSE authenticate per request.
      caller: caller ?? (await authenticateRequest(authenticator, request)),
      services,
      signal: request?.signal,
      runHeaders: runHeaders ?? pickRunHeaders(request?.headers),
    }),
  });

  const graphiql = security.graphiql
    ? createGraphiQLPage({
        endpoint: yoga.graphqlEndpoint,
        graphId: services.graphs.ids()[0]!,
        credentialsRequired: !authenticator.open,
        log,
      })
    : null;

  const front = userApp
    ? createFront({
        app: userApp,
        cors,
        ourPaths: new Set([yoga.graphqlEndpoint, `${yoga.graphqlEndpoint}/`, okPath]),
        gate:
          routes.customRouteAuth && !authenticator.open
            ? customRouteGate(authenticator, log)
            : null,
        ours: async (request, context) => {
          if (new URL(request.url).pathname === okPath) {
            const { status, body } = await health(services.db, checkDatabase);
            return new Response(body, { status, headers: { "content-type": "application/json" } });
          }
          const problem = bodyProblem(
            request.method,
            request.headers.get("content-length"),
            request.headers.has("transfer-encoding"),
            security.maxBodyBytes,
          );
          if (problem) return problemResponse(problem.status, problem.message, "BAD_USER_INPUT");
          const page = graphiql?.respond(request);
          if (page) return page;
          return yoga.handleRequest(request, context as unknown as Record<string, unknown>);
        },
      })
    : null;
  const httpServer = createServer(
    front ??
      ((req, res) => {
        if (req.url === okPath || req.url?.startsWith(`${okPath}?`)) {
          void health(services.db, checkDatabase).then(({ status, body }) =>
            res.writeHead(status, { "content-type": "application/json" }).end(body),
          );
          return;
        }
        if (refuseOversizedBody(req, res, security.maxBodyBytes)) return;
        if (graphiql?.wants(req)) {
          void graphiql.serve(req, res);
          return;
        }
        void yoga.handle(req as IncomingMessage, res as ServerResponse);
      }),
  );

  const wsServer = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint });
  // Registered before graphql-ws's own listener, so it sees every socket from the start.
  wsServer.on("connection", (socket, request) => coalesceSends(socket, request.socket));
  // The yoga-documented recipe: graphql-ws runs every operation through yoga's envelop, so
  // masking, context and (later) auth apply to WebSocket operations exactly as to HTTP ones.
  const wsDisposable = useServer(
    {
      execute: (args) => (args as EnvelopedArgs).rootValue.execute(args) as never,
      subscribe: (args) => (args as EnvelopedArgs).rootValue.subscribe(args) as never,
      onNext: (_ctx, _id, _payload, _args, result) => withoutHttpExtensions(result),
      onConnect: async (ctx) => {
        const extra = ctx.extra as typeof ctx.extra & ConnectionExtra;
        const connection = () =>
          requestForConnection(
            `http://localhost${ctx.extra.request.url ?? "/graphql"}`,
            ctx.extra.request.headers,
            ctx.connectionParams,
          );
        // Headers reach a run's config as on HTTP: the upgrade request's, and connection_init's.
        extra.runHeaders = routes.configurableHeaders
          ? pickRunHeaders(connection().headers)
          : undefined;
        if (authenticator.open) {
          extra.caller = anonymousCaller;
          return true;
        }
        try {
          extra.caller = await authenticator.authenticate(connection());
          return true;
        } catch (error) {
          if (!(error instanceof DomainError)) {
            log.error("authenticate failed on a graphql-ws connection", { error });
          }
          // 4401/4403 are graphql-ws close codes its client does not retry; the reason carries
          // our error code like extensions.code does on HTTP.
          const code = error instanceof DomainError ? error.code : "INTERNAL_SERVER_ERROR";
          const reason = error instanceof DomainError ? error.message : "authentication failed";
          ctx.extra.socket.close(
            code === "FORBIDDEN" ? 4403 : code === "UNAUTHENTICATED" ? 4401 : 4500,
            `${code}: ${reason}`.slice(0, 120),
          );
          return false;
        }
      },
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          caller: (ctx.extra as ConnectionExtra).caller,
          runHeaders: (ctx.extra as ConnectionExtra).runHeaders,
        });
        const args = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wsServer,
    // Pings every connection (the client's ws answers), so proxies that cut idle connections
    // leave long runs streaming; SSE responses get yoga's ":" comment on the same period.
    deps.keepAliveMs ?? 12_000,
  );

  return {
    yoga,
    httpServer,
    services,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(port, host, () => {
          httpServer.off("error", reject);
          const address = httpServer.address() as AddressInfo;
          const shownHost = host === "0.0.0.0" || host === "::" ? "localhost" : host;
          resolve(`http://${shownHost}:${address.port}`);
        });
      });
    },
    async close(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      await wsDisposable.dispose();
      wsServer.close();
      const timer = setTimeout(() => httpServer.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** What a graphql-ws connection keeps from its connection_init for its operations. */
interface ConnectionExtra {
  caller?: Caller;
  runHeaders?: Readonly<Record<string, string>>;
}

type EnvelopedArgs = ExecutionArgs & {
  rootValue: {
    execute: (args: ExecutionArgs) => unknown;
    subscribe: (args: ExecutionArgs) => unknown;
  };
};

async function authenticateRequest(
  authenticator: Authenticator,
  request: Request | undefined,
): Promise<Caller> {
  if (authenticator.open) return anonymousCaller;
  try {
    if (!request) throw new UnauthenticatedError("no request to authenticate");
    return await authenticator.authenticate(requestForHandler(request));
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    // Thrown from the context factory, so it must carry its HTTP status itself.
    throw new GraphQLError(error.message, {
      extensions: { code: error.code, http: authFailureHttp(error) },
    });
  }
}

function authFailureHttp(error: DomainError) {
  const status = error.code === "FORBIDDEN" ? 403 : error.code === "UNAUTHENTICATED" ? 401 : 400;
  const headers: Record<string, string> =
    status === 401 ? { "www-authenticate": 'Bearer realm="langgraph-gql"' } : {};
  return { status, headers };
}

/**
 * `http.enable_custom_route_auth`: the deployment's authentication (API keys, the auth
 * module's `authenticate`) answers for the http.app's routes too; a refused request never
 * reaches the app.
 */
function customRouteGate(authenticator: Authenticator, log: Logger) {
  return async (request: Request): Promise<Response | null> => {
    try {
      await authenticator.authenticate(requestForHandler(request));
      return null;
    } catch (error) {
      if (!(error instanceof DomainError)) {
        log.error("authenticate failed on a request for the http.app", { error });
        return problemResponse(500, "authentication failed", "INTERNAL_SERVER_ERROR");
      }
      const { status, headers } = authFailureHttp(error);
      return problemResponse(status, error.message, error.code, headers);
    }
  };
}

/**
 * Limits checked before a document executes (GraphQL Armor: depth, aliases, tokens, cost,
 * directives), and introspection/field suggestions off when introspection is disabled. What
 * they refuse comes back as BAD_USER_INPUT through useClientErrorCodes.
 */
function hardeningPlugins(security: SecurityConfig): Plugin[] {
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      maxDepth: { n: security.maxDepth, exposeLimits: true, flattenFragments: true },
      maxAliases: { n: security.maxAliases, exposeLimits: true },
      maxTokens: { n: security.maxTokens, exposeLimits: true },
      costLimit: { maxCost: security.maxCost, exposeLimits: true },
      maxDirectives: { n: security.maxDirectives, exposeLimits: true },
      blockFieldSuggestion: { enabled: !security.introspection },
    }) as Plugin,
  ];
  if (!security.introspection) {
    plugins.push({ onValidate: ({ addValidationRule }) => addValidationRule(noIntrospection) });
  }
  return plugins;
}

/**
 * Refuses `__schema` and `__type` (`__typename` stays: clients need it for unions). graphql's
 * own NoSchemaIntrospectionCustomRule cannot be used here: it checks types with instanceof, and
 * yoga validates with graphql's CommonJS build while our imports resolve to its ESM build.
 */
const noIntrospection: ValidationRule = (context) => ({
  Field(node) {
    if (node.name.value === "__schema" || node.name.value === "__type") {
      context.reportError(
        new GraphQLError(`introspection is disabled on this server (${node.name.value})`, {
          nodes: node,
        }),
      );
    }
  },
});

/** Below this much unsent data on a socket, a graphql-ws send is acknowledged at once. */
const EARLY_ACK_BYTES = 64 * 1024;

/**
 * Two costs of graphql-ws's sending, for streams:
 * - it awaits each message's write callback before taking the next event. That callback comes
 *   from the event loop, after every pending promise callback has run: a graph producing tokens
 *   in promise callbacks held its first token until the whole burst was produced. While the
 *   socket has little unsent data the send is acknowledged at once instead (past that, the real
 *   callback keeps the backpressure);
 * - every message is its own socket write, hence its own system call. A message sent with none
 *   held leaves at once; those sent after it, until the promise callbacks already queued have
 *   run, are held (corked) and leave in one write. A microtask, not the next tick: a graph
 *   streaming in promise callbacks can keep the tick going for its whole run.
 */
function coalesceSends(ws: WebSocket, raw: Duplex): void {
  type Callback = (error?: Error) => void;
  const send = ws.send.bind(ws) as (data: unknown, options: object, cb?: Callback) => void;
  let corked = false;
  const uncork = () => {
    corked = false;
    raw.uncork();
  };
  ws.send = ((data: unknown, optionsOrCallback?: object | Callback, callback?: Callback) => {
    const done =
      typeof optionsOrCallback === "function" ? (optionsOrCallback as Callback) : callback;
    const options = typeof optionsOrCallback === "object" ? optionsOrCallback : {};
    const early = done !== undefined && raw.writableLength < EARLY_ACK_BYTES;
    send(data, options, early ? undefined : done);
    if (!corked && !raw.destroyed) {
      corked = true;
      raw.cork();
      queueMicrotask(uncork);
    }
    if (early) done();
  }) as WebSocket["send"];
}

/** 413 for a declared body over the limit; 411 for a POST that does not declare its length. */
function bodyProblem(
  method: string,
  declared: string | null | undefined,
  chunked: boolean,
  maxBytes: number,
): { status: number; message: string } | null {
  if (declared != null && Number(declared) > maxBytes) {
    return { status: 413, message: `request body over the limit of ${maxBytes} bytes` };
  }
  if (declared == null && method === "POST" && chunked) {
    return { status: 411, message: "a POST body must declare its Content-Length" };
  }
  return null;
}

function refuseOversizedBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): boolean {
  const problem = bodyProblem(
    req.method ?? "GET",
    req.headers["content-length"],
    Boolean(req.headers["transfer-encoding"]),
    maxBytes,
  );
  if (!problem) return false;
  res
    .writeHead(problem.status, { "content-type": "application/json", connection: "close" })
    .end(problemBody(problem.message, "BAD_USER_INPUT"));
  req.resume();
  return true;
}

/** A refusal outside GraphQL, shaped like a GraphQL error response. */
function problemBody(message: string, code: string): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

function problemResponse(
  status: number,
  message: string,
  code: string,
  headers: Record<string, string> = {},
): Response {
  // The body of a refused request is left unread: the connection cannot carry another one.
  return new Response(problemBody(message, code), {
    status,
    headers: { ...headers, "content-type": "application/json", connection: "close" },
  });
}

/** /ok: 200 when the database answers, 503 when it does not; without the check, always 200. */
async function health(db: Database, check: boolean): Promise<{ status: number; body: string }> {
  if (!check) return { status: 200, body: '{"ok":true}' };
  try {
    await db.pool.query("SELECT 1");
    return { status: 200, body: '{"ok":true}' };
  } catch (error) {
    return { status: 503, body: JSON.stringify({ ok: false, error: (error as Error).message }) };
  }
}

export interface RunningServer {
  /** Null for a worker-only process. */
  app: App | null;
  services: Services;
  worker: RunWorker | null;
  url: string | null;
  databaseUrl: string;
  stop(): Promise<void>;
}

/**
 * Everything `langgraph-gql start` (API and workers) or `worker` (workers only) does: find (or
 * start) the database, apply migrations, load the graphs, make sure each has its default
 * assistant, start the run workers, then listen. stop() undoes it in reverse.
 */
export async function startServer(
  config: Config,
  log: Logger,
  roles: { api: boolean; worker: boolean } = { api: true, worker: true },
): Promise<RunningServer> {
  for (const notice of config.notices) log[notice.level](notice.message);
  // Graph and auth modules may ask for the SDK's logger as they load.
  registerSdkLogger(log);
  // Graphs first: a broken langgraph.json should fail before we touch (or start) a database.
  const graphs = await loadGraphRegistry(config.graphs);
  const authModule = config.auth ? await loadAuthModule(config.auth) : null;
  const userApp =
    roles.api && config.routes.app
      ? await loadUserApp(config.routes.app, config.routes.mountPrefix)
      : null;
  const authorizer: Authorizer = authModule
    ? createAuthorizer(authModule.handlers)
    : openAuthorizer;
  const server = await resolveServer(config.database, (m) => log.info(m));
  const cleanup: Array<() => Promise<unknown>> = [() => server.stop()];
  const stopAll = async () => {
    for (const step of cleanup.reverse())
      await step().catch((error) => log.warn("stop step failed", { error }));
  };
  try {
    const { applied } = await migrate(server.url, (m) => log.info(m));
    if (applied.length) log.info(`applied migrations: ${applied.join(", ")}`);
    const db = openDatabase(server.url);
    cleanup.push(() => db.close());
    const notifier = new Notifier({
      url: server.url,
      channels: [
        RUNS_CHANNEL,
        RUN_CONTROL_CHANNEL,
        CRONS_CHANNEL,
        WEBHOOKS_CHANNEL,
        RUN_EVENTS_CHANNEL,
        THREAD_ACCESS_CHANNEL,
      ],
      log,
    });
    await notifier.start();
    cleanup.push(() => notifier.stop());
    const boss = createBoss({ url: server.url, log });
    await startBoss(boss, server.url);
    cleanup.push(() => boss.stop({ graceful: false, wait: true }));
    const services = createServices({
      db,
      graphs,
      info: { version: config.version, langgraphVersion: langgraphVersion() },
      boss,
      notifier,
      log,
      webhooks: config.webhooks,
      streams: config.streams,
      authorizer,
      sendWebhooks: config.routes.webhooks,
      storeTtl: storeTtlConfig(config.store.ttl),
      threadTtl: config.threadTtl,
      admission: {
        maxPendingRuns: config.runs.maxPendingRuns,
        retryAfterSeconds: config.runs.retryAfterSeconds,
      },
    });
    services.streams.start();
    cleanup.push(async () => services.streams.stop());
    await services.assistants.ensureDefaultAssistants(graphs.ids(), config.assistantDefaults);
    const { threadTtl } = services;
    if (threadTtl) {
      threadTtl.start();
      cleanup.push(() => threadTtl.stop());
    }
    const storeSweepMinutes = config.store.ttl?.sweepIntervalMinutes;
    if (storeSweepMinutes) {
      const storeSweep = every(
        storeSweepMinutes * 60_000,
        () => services.store.sweepExpired(),
        log,
        "store TTL sweep",
      );
      cleanup.push(() => storeSweep.stop());
    }
    let worker: RunWorker | null = null;
    if (roles.worker) {
      worker = createRunWorker({
        db,
        boss,
        notifier,
        executor: services.executor,
        runs: services.runs,
        log,
        options: {
          concurrency: config.runs.concurrency,
          leaseSeconds: config.runs.leaseSeconds,
          runTimeoutSeconds: config.runs.timeoutSeconds,
          maxAttempts: config.runs.maxAttempts,
        },
        onFinish: services.runHooks.onFinish,
      });
      await worker.start();
      const started = worker;
      cleanup.push(() => started.stop());
      // Webhooks go out from worker processes (pushed after the run worker, so they stop first).
      if (config.routes.webhooks) {
        const deliverer = createWebhookDeliverer({
          db,
          boss,
          notifier,
          log,
          options: { ...config.webhooks, userAgent: `langgraph-gql/${config.version}` },
        });
        await deliverer.start();
        cleanup.push(() => deliverer.stop());
      }
    }
    if (config.crons.enabled) {
      // Any number of processes may fire crons; each due slot still starts one run.
      const scheduler = createCronScheduler({
        db,
        runs: services.runs,
        notifier,
        log,
        options: { tickSeconds: config.crons.tickSeconds },
      });
      await scheduler.start();
      cleanup.push(() => scheduler.stop());
    }
    let app: App | null = null;
    let url: string | null = null;
    if (roles.api) {
      const authenticator = createAuthenticator({
        apiKeys: config.apiKeys,
        authenticate: authModule?.authenticate ?? null,
        cache: config.authCache,
      });
      (authenticator.open ? log.warn : log.info)(`authentication: ${authenticator.description}`);
      app = buildApp({
        services,
        log,
        keepAliveMs: config.streams.keepAliveSeconds * 1000,
        authenticator,
        security: config.security,
        routes: config.routes,
        userApp,
      });
      const opened = app;
      // Registered last, so it stops first: no new requests while workers drain.
      cleanup.push(() => opened.close());
      // Before the API closes its subscriptions, so that onDisconnect CANCEL spares their runs.
      cleanup.push(async () => services.streams.stop());
      url = await app.listen(config.http.port, config.http.host);
    }
    return { app, services, worker, url, databaseUrl: server.url, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function storeTtlConfig(ttl: StoreTtlSettings | null): StoreTtlConfig | undefined {
  if (!ttl) return undefined;
  return {
    refreshOnRead: ttl.refreshOnRead,
    ...(ttl.defaultTtlMinutes !== null ? { defaultTtl: ttl.defaultTtlMinutes } : {}),
  };
}

function langgraphVersion(): string {
  const require = createRequire(import.meta.url);
  return (require("@langchain/langgraph/package.json") as { version: string }).version;
}
