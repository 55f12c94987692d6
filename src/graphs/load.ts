import { stat } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import type { LangGraphRunnableConfig, Pregel } from "@langchain/langgraph";
import { v5 as uuidv5 } from "uuid";

/** One entry of langgraph.json's `graphs`, resolved by config.ts. */
export interface GraphSpec {
  id: string;
  /** Absolute path of the module. */
  path: string;
  /** The export holding the graph ("default" for a default export). */
  exportName: string;
  description?: string;
}

/**
 * A compiled graph as the rest of the server sees it. Deliberately loose: graphs come from user
 * modules, so their state types are unknown here, and `Pregel` also covers functional-API
 * `entrypoint`s, which are not `CompiledStateGraph`s.
 */
export type LoadedGraph = Pregel<any, any, any, any, any, any, any, any, any, any, any>;

export type GraphFactory = (config: LangGraphRunnableConfig) => unknown;

/** What a module export turned out to be. Factories are kept as functions and called per use. */
export type LoadedExport =
  | { kind: "graph"; graph: LoadedGraph }
  | { kind: "factory"; factory: GraphFactory };

export class GraphLoadError extends Error {
  override name = "GraphLoadError";
  readonly graphId: string;
  readonly file: string;

  constructor(graphId: string, file: string, problem: string, options?: { cause?: unknown }) {
    super(`graph "${graphId}" (${file}): ${problem}`, options);
    this.graphId = graphId;
    this.file = file;
  }
}

/**
 * Several graphs failed to load: each one's error, one line each. An AggregateError, which the
 * CLI reports one line per inner error.
 */
export class GraphLoadErrors extends AggregateError {
  override name = "GraphLoadErrors";
  declare readonly errors: GraphLoadError[];

  constructor(errors: GraphLoadError[]) {
    super(errors, errors.map((error) => error.message).join("\n"));
  }
}

/** LangGraph's own namespace for graph ids, so default assistant ids match the platform's. */
const GRAPH_NAMESPACE = "6ba7b821-9dad-11d1-80b4-00c04fd430c8";

/** The id of the assistant every graph gets by default: uuid v5 of the graph id. */
export function defaultAssistantId(graphId: string): string {
  return uuidv5(graphId, GRAPH_NAMESPACE);
}

/**
 * Imports a spec's module and classifies its export. Throws GraphLoadError on any problem.
 * `query` is added to the module's URL: a new one imports the module afresh (dev reloads).
 */
export async function loadGraphExport(
  spec: GraphSpec,
  options: { query?: string } = {},
): Promise<LoadedExport> {
  const fail = (problem: string, cause?: unknown): never => {
    throw new GraphLoadError(
      spec.id,
      spec.path,
      problem,
      cause === undefined ? undefined : { cause },
    );
  };

  const info = await stat(spec.path).catch(() => null);
  if (!info) fail("file does not exist");
  else if (!info.isFile()) fail("path is not a file");

  let module: Record<string, unknown>;
  try {
    const url = pathToFileURL(spec.path);
    if (options.query) url.search = options.query;
    module = await import(url.href);
  } catch (error) {
    return fail(`module failed to import: ${messageOf(error)}`, error);
  }

  const exportName = spec.exportName || "default";
  if (!(exportName in module)) {
    const available = Object.keys(module);
    return fail(
      `export "${exportName}" not found; the module exports ${
        available.length ? available.map((k) => `"${k}"`).join(", ") : "nothing"
      }`,
    );
  }

  let value = module[exportName];
  if (typeof value === "function" && !isGraphBuilder(value)) {
    return { kind: "factory", factory: value as GraphFactory };
  }
  if (isThenable(value)) {
    try {
      value = await value;
    } catch (error) {
      return fail(`export "${exportName}" is a promise that rejected: ${messageOf(error)}`, error);
    }
  }
  const graph = toCompiledGraph(value);
  if (!graph) {
    return fail(
      `export "${exportName}" is not a graph (${describe(value)}); expected a compiled graph, ` +
        "a StateGraph, a promise of one, or a function (config) => graph",
    );
  }
  return { kind: "graph", graph };
}

/** Calls a factory and checks what it produced; the error names the graph like load errors do. */
export async function callGraphFactory(
  spec: GraphSpec,
  factory: GraphFactory,
  config: LangGraphRunnableConfig,
): Promise<LoadedGraph> {
  let value: unknown;
  try {
    value = await factory(config);
  } catch (error) {
    throw new GraphLoadError(spec.id, spec.path, `graph factory threw: ${messageOf(error)}`, {
      cause: error,
    });
  }
  const graph = toCompiledGraph(value);
  if (!graph) {
    throw new GraphLoadError(
      spec.id,
      spec.path,
      `graph factory "${spec.exportName}" returned ${describe(value)}, not a graph`,
    );
  }
  return graph;
}

/**
 * Normalises what a module or factory handed us into a compiled graph, or null:
 * a Pregel as is; a builder (StateGraph/Graph) compiled; a wrapper such as langchain's
 * `createAgent` result (a `ReactAgent` holding the compiled graph under `.graph`) unwrapped,
 * because the server needs the Pregel itself (checkpointer, getState, subgraphs).
 */
export function toCompiledGraph(value: unknown): LoadedGraph | null {
  if (typeof value !== "object" || value === null) return null;
  const inner = (value as { graph?: unknown }).graph;
  if (isPregel(inner)) return inner;
  if (isPregel(value)) return value;
  if (isGraphBuilder(value)) {
    const compiled = (value as { compile: () => unknown }).compile();
    return isPregel(compiled) ? compiled : null;
  }
  return null;
}

/** LangGraph's own brand check (`lg_is_pregel`), which survives duplicate package copies. */
export function isPregel(value: unknown): value is LoadedGraph {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { lg_is_pregel?: unknown }).lg_is_pregel === true
  );
}

function isGraphBuilder(value: unknown): boolean {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    !isPregel(value) &&
    typeof (value as { compile?: unknown }).compile === "function" &&
    typeof (value as { addNode?: unknown }).addNode === "function"
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const name = (value as object).constructor?.name;
    return name && name !== "Object" ? `an instance of ${name}` : "a plain object";
  }
  return typeof value === "undefined" ? "undefined" : `a ${typeof value}`;
}

/** On one line: start-up prints one line per failing graph (a compiler's message has several). */
function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().replace(/\s*\n\s*/g, " ");
}
