import { type RunningServer, startServer } from "../app.ts";
import type { Config } from "../config.ts";
import { migrate, resolveServer } from "../db/database.ts";
import { enableTypeScriptModules } from "../graphs/typescript.ts";
import type { Logger } from "../log.ts";
import { keepGoingOnUnhandledRejections } from "../unhandled.ts";
import { startDevReload } from "./dev-reload.ts";
import { checkPortFree } from "./port.ts";

/** `langgraph-gql migrate`: the database (embedded or DATABASE_URL) brought up to date. */
export async function runMigrate(config: Config, log: Logger): Promise<void> {
  const server = await resolveServer(config.database, (m) => log.info(m));
  try {
    const { applied } = await migrate(server.url, (m) => log.info(m));
    log.info(applied.length ? `applied: ${applied.join(", ")}` : "database is up to date");
  } finally {
    await server.stop();
  }
}

/** `start`, `dev` and `worker`: runs until SIGINT or SIGTERM. */
export async function runServer(config: Config, argv: string[], log: Logger): Promise<void> {
  const started = Date.now();
  // Before anything connects: a rejection nobody handled is logged, and the process stays up.
  keepGoingOnUnhandledRejections(log);
  const api = config.command !== "worker";
  // Listening is start-up's last step: a taken port must not cost a database start first.
  if (api) await checkPortFree(config.http.port, config.http.host);
  await enableTypeScriptModules(modulePaths(config));
  const running = await startServer(config, log, { api, worker: true });
  const ready = `ready in ${Date.now() - started} ms`;
  if (running.url) {
    log.info(
      `langgraph-gql ${config.version} serving ${config.graphs.length} graph(s) at ${running.url}${config.routes.mountPrefix}/graphql (${ready}); executing up to ${config.runs.concurrency} runs at once`,
    );
  } else {
    log.info(
      `langgraph-gql ${config.version} worker executing up to ${config.runs.concurrency} runs at once (${ready})`,
    );
  }
  if (config.database.kind === "embedded") {
    log.info(`database: embedded PostgreSQL, data in ${config.database.dataDir}`);
  }
  const dev = config.command === "dev" ? startDevReload({ config, argv, running, log }) : null;
  stopOnSignals(running, log, () => dev?.close());
}

/** Every module langgraph.json names: they decide whether TypeScript must load. */
function modulePaths(config: Config): string[] {
  return [
    ...config.graphs.map((graph) => graph.path),
    ...(config.auth ? [config.auth.path] : []),
    ...(config.routes.app ? [config.routes.app.path] : []),
  ];
}

function stopOnSignals(
  running: RunningServer,
  log: Logger,
  beforeStop: () => Promise<void> | undefined,
) {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal}: shutting down`);
    Promise.resolve(beforeStop())
      .then(() => running.stop())
      .then(
        () => process.exit(0),
        (error) => {
          log.error("shutdown failed", { error });
          process.exit(1);
        },
      );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}
