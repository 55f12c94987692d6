import { type AssistantService, createAssistantService } from "./assistants/service.ts";
import type { Database } from "./db/database.ts";
import type { GraphRegistry } from "./graphs/registry.ts";

export interface ServerInfo {
  version: string;
  langgraphVersion: string;
}

/** Everything a request or a worker may call, built once per process from explicit dependencies. */
export interface Services {
  db: Database;
  graphs: GraphRegistry;
  info: ServerInfo;
  assistants: AssistantService;
}

export function createServices(deps: {
  db: Database;
  graphs: GraphRegistry;
  info: ServerInfo;
}): Services {
  return {
    db: deps.db,
    graphs: deps.graphs,
    info: deps.info,
    assistants: createAssistantService({ db: deps.db }),
  };
}
