import { describeStartupError } from "./cli/startup-error.ts";
import { usage } from "./cli/usage.ts";
import { type Config, loadConfig, packageVersion, parseCommandLine } from "./config.ts";
import { createLogger } from "./log.ts";

/**
 * The `langgraph-gql` command. The server's modules (LangGraph, yoga, Prisma: over a second to
 * import) load only once a command needs them, so --help, --version and a bad langgraph.json
 * answer at once.
 */
export async function main(argv: string[]): Promise<void> {
  let config: Config | null = null;
  try {
    const commandLine = parseCommandLine(argv);
    if (commandLine.kind === "help") return void process.stdout.write(usage(packageVersion()));
    if (commandLine.kind === "version") return void process.stdout.write(`${packageVersion()}\n`);
    config = loadConfig({ argv });
    const log = createLogger(config.logLevel);
    // Graphs read their settings (API keys, model names) from process.env, as under the
    // LangGraph CLI; langgraph.json's env only fills in what the environment does not set.
    for (const [key, value] of Object.entries(config.graphEnv)) process.env[key] ??= value;
    const { runMigrate, runServer } = await import("./cli/serve.ts");
    if (config.command === "migrate") await runMigrate(config, log);
    else await runServer(config, argv, log);
  } catch (error) {
    const lines = describeStartupError(error, config);
    const report = lines ?? [
      error instanceof Error ? (error.stack ?? error.message) : String(error),
    ];
    for (const line of report) process.stderr.write(`langgraph-gql: ${line}\n`);
    process.exit(1);
  }
}
