import type { RunningServer } from "../app.ts";
import { type Config, loadConfig } from "../config.ts";
import { createGraphReloader } from "../graphs/reload.ts";
import { enableTypeScriptModules } from "../graphs/typescript.ts";
import type { Logger } from "../log.ts";
import { describeStartupError } from "./startup-error.ts";
import { watchProject } from "./watch-project.ts";

/**
 * `langgraph-gql dev`: when a project file changes, langgraph.json's graphs are loaded again
 * into the running server, as `langgraph dev` restarts on a change — but the database, the
 * port, open subscriptions and runs in flight stay. A change that breaks a graph is reported
 * and the previous graphs keep serving until the next change.
 */
export function startDevReload(deps: {
  config: Config;
  argv: string[];
  running: RunningServer;
  log: Logger;
}): { close(): Promise<void> } {
  const { config, running, log } = deps;
  const reloader = createGraphReloader({
    registry: running.services.graphs,
    projectDir: config.projectDir,
  });
  let queue = Promise.resolve();
  const reload = async (files: string[]) => {
    const started = Date.now();
    try {
      // langgraph.json itself may have changed: graphs added, removed or moved.
      const fresh = loadConfig({ argv: deps.argv });
      // A TypeScript graph may be new to a project that started with JavaScript ones only.
      await enableTypeScriptModules(fresh.graphs.map((graph) => graph.path));
      await reloader.reload(fresh.graphs);
      await running.services.assistants.ensureDefaultAssistants(
        fresh.graphs.map((g) => g.id),
        fresh.assistantDefaults,
      );
      log.info(
        `reloaded ${fresh.graphs.length} graph(s) in ${Date.now() - started} ms (changed: ${files.join(", ")})`,
      );
    } catch (error) {
      const lines = describeStartupError(error, config);
      if (lines) for (const line of lines) log.error(`reload failed: ${line}`);
      else log.error("reload failed", { error });
      log.warn("the previous graphs keep serving until the next change");
    }
  };
  const ignore = config.database.kind === "embedded" ? [config.database.dataDir] : [];
  const watcher = watchProject(config.projectDir, { ignore }, (files) => {
    // One reload at a time, in the order of the changes.
    queue = queue.then(() => reload(files));
  });
  void watcher.ready.then(() =>
    log.info(`dev: watching ${config.projectDir} for changes to reload the graphs`),
  );
  return {
    async close() {
      await watcher.close();
      await queue;
    },
  };
}
