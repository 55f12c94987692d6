import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { ExecutionArgs } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { anonymousCaller } from "./auth/caller.ts";
import type { Config } from "./config.ts";
import { type Database, migrate, openDatabase, resolveServer } from "./db/database.ts";
import { loadGraphRegistry } from "./graphs/registry.ts";
import type { Logger } from "./log.ts";
import type { GraphQLContext } from "./schema/builder.ts";
import { createMaskError, useClientErrorCodes } from "./schema/errors.ts";
import { buildSchema } from "./schema/index.ts";
import { createServices, type Services } from "./services.ts";

export interface App {
  yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  httpServer: Server;
  services: Services;
  /** Starts listening; resolves with the base URL (port 0 picks a free port). */
  listen(port: number, host: string): Promise<string>;
  /** Stops taking requests, closes subscriptions, waits for requests in flight (up to graceMs). */
  close(graceMs?: number): Promise<void>;
}

export function buildApp(deps: { services: Services; log: Logger }): App {
  const { services, log } = deps;
  const yoga = createYoga<Record<string, unknown>, GraphQLContext>({
    schema: buildSchema(),
    graphqlEndpoint: "/graphql",
    landingPage: false,
    logging: {
      debug: (...args) => log.debug(args.map(String).join(" ")),
      info: (...args) => log.info(args.map(String).join(" ")),
      warn: (...args) => log.warn(args.map(String).join(" ")),
      // Yoga logs every error a result carries; expected ones (bad input, not found) are the
      // client's business, and createMaskError already logs the unexpected ones.
      error: (...args) => log.debug(args.map(String).join(" ")),
    },
    maskedErrors: { maskError: createMaskError(log) },
    plugins: [useClientErrorCodes()],
    context: (): GraphQLContext => ({ caller: anonymousCaller, services }),
  });

  const httpServer = createServer((req, res) => {
    if (req.url === "/ok" || req.url?.startsWith("/ok?")) {
      void health(services.db, res);
      return;
    }
    void yoga.handle(req as IncomingMessage, res as ServerResponse);
  });

  const wsServer = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint });
  // The yoga-documented recipe: graphql-ws runs every operation through yoga's envelop, so
  // masking, context and (later) auth apply to WebSocket operations exactly as to HTTP ones.
  const wsDisposable = useServer(
    {
      execute: (args) => (args as EnvelopedArgs).rootValue.execute(args) as never,
      subscribe: (args) => (args as EnvelopedArgs).rootValue.subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
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

type EnvelopedArgs = ExecutionArgs & {
  rootValue: {
    execute: (args: ExecutionArgs) => unknown;
    subscribe: (args: ExecutionArgs) => unknown;
  };
};

async function health(db: Database, res: ServerResponse) {
  try {
    await db.pool.query("SELECT 1");
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  } catch (error) {
    res
      .writeHead(503, { "content-type": "application/json" })
      .end(JSON.stringify({ ok: false, error: (error as Error).message }));
  }
}

export interface RunningServer {
  app: App;
  url: string;
  databaseUrl: string;
  stop(): Promise<void>;
}

/**
 * Everything `langgraph-gql start` does before serving: find (or start) the database, apply
 * migrations, load the graphs, make sure each has its default assistant, then listen.
 */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  // Graphs first: a broken langgraph.json should fail before we touch (or start) a database.
  const graphs = await loadGraphRegistry(config.graphs);
  const server = await resolveServer(config.database, (m) => log.info(m));
  let db: Database | undefined;
  try {
    const { applied } = await migrate(server.url, (m) => log.info(m));
    if (applied.length) log.info(`applied migrations: ${applied.join(", ")}`);
    db = openDatabase(server.url);
    const services = createServices({
      db,
      graphs,
      info: { version: config.version, langgraphVersion: langgraphVersion() },
    });
    await services.assistants.ensureDefaultAssistants(graphs.ids());
    const app = buildApp({ services, log });
    const url = await app.listen(config.http.port, config.http.host);
    const opened = db;
    return {
      app,
      url,
      databaseUrl: server.url,
      async stop() {
        await app.close();
        await opened.close();
        await server.stop();
      },
    };
  } catch (error) {
    await db?.close();
    await server.stop();
    throw error;
  }
}

function langgraphVersion(): string {
  const require = createRequire(import.meta.url);
  return (require("@langchain/langgraph/package.json") as { version: string }).version;
}
