import { createRequire, register } from "node:module";
import { sep } from "node:path";
import { pathToFileURL } from "node:url";
import type { GraphSpec } from "./load.ts";
import type { GraphRegistry } from "./registry.ts";
import { loadGraphRegistry } from "./registry.ts";
import { RELOAD_PARAM } from "./reload-hooks.ts";

/**
 * Loads the project's graphs again into a live registry (`langgraph-gql dev`): runs started
 * after a reload use the new graphs, runs in flight finish with the ones they started with.
 * A reload that fails changes nothing (its errors are thrown, the old graphs stay).
 */
export interface GraphReloader {
  reload(specs: GraphSpec[]): Promise<void>;
}

export function createGraphReloader(deps: {
  registry: GraphRegistry;
  projectDir: string;
}): GraphReloader {
  const projectUrl = pathToFileURL(deps.projectDir + sep).href;
  // Compiled, this file is reload.js beside reload-hooks.js; from a checkout both are .ts.
  const hooks = import.meta.url.endsWith(".ts") ? "./reload-hooks.ts" : "./reload-hooks.js";
  register(hooks, { parentURL: import.meta.url, data: { projectUrl } });
  let generation = 0;
  return {
    async reload(specs) {
      generation += 1;
      forgetCommonJsModules(deps.projectDir);
      const fresh = await loadGraphRegistry(specs, { query: `${RELOAD_PARAM}=${generation}` });
      deps.registry.replaceWith(fresh);
    },
  };
}

/** CommonJS files a graph requires are cached by path: drop the project's own ones. */
function forgetCommonJsModules(projectDir: string): void {
  const cache = createRequire(import.meta.url).cache;
  for (const file of Object.keys(cache)) {
    if (file.startsWith(projectDir + sep) && !file.includes(`${sep}node_modules${sep}`)) {
      delete cache[file];
    }
  }
}
