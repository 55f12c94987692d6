import { startServer } from "./app.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { migrate, resolveServer } from "./db/database.ts";
import { GraphLoadError } from "./graphs/load.ts";
import { createLogger, type Logger } from "./log.ts";

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  // Graphs read their settings (API keys, model names) from process.env, as under the LangGraph
  // CLI; langgraph.json's env only fills in what the environment does not already set.
  for (const [key, value] of Object.entries(config.graphEnv)) process.env[key] ??= value;

  if (config.command === "migrate") return runMigrate(config, log);
  return runStart(config, log, { api: config.command === "start", worker: true });
}

async function runMigrate(config: Config, log: Logger) {
  const server = await resolveServer(config.database, (m) => log.info(m));
  try {
    const { applied } = await migrate(server.url, (m) => log.info(m));
    log.info(applied.length ? `applied: ${applied.join(", ")}` : "database is up to date");
  } finally {
    await server.stop();
  }
}

async function runStart(config: Config, log: Logger, roles: { api: boolean; worker: boolean }) {
  const started = Date.now();
  const running = await startServer(config, log, roles);
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

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal}: shutting down`);
    running.stop().then(
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

main().catch((error) => {
  if (error instanceof ConfigError || error instanceof GraphLoadError) {
    process.stderr.write(`langgraph-gql: ${error.message}\n`);
  } else {
    process.stderr.write(`langgraph-gql: ${error instanceof Error ? error.stack : error}\n`);
  }
  process.exit(1);
});
