import type {
  BaseCheckpointSaver,
  BaseStore,
  CompiledGraph,
  LangGraphRunnableConfig,
} from "@langchain/langgraph";
import { NotFoundError } from "../errors.ts";
import { rememberContextAnnotations } from "./context-annotation.ts";
import {
  callGraphFactory,
  GraphLoadError,
  GraphLoadErrors,
  type GraphSpec,
  type LoadedExport,
  type LoadedGraph,
  loadGraphExport,
} from "./load.ts";
import { extractGraphSchemas, type GraphSchemas, type JsonSchema } from "./schemas.ts";

export interface GraphDrawing {
  /** `{ id, type: "schema" | "runnable", data }`, as LangGraph's drawable graph serialises them. */
  nodes: unknown[];
  /** `{ source, target, conditional?, data? }`. */
  edges: unknown[];
  mermaid: string;
}

export interface SubgraphSchemas {
  /** Node names from the root, joined by "|" for nested subgraphs, e.g. "research|search". */
  namespace: string;
  input: JsonSchema | null;
  output: JsonSchema | null;
  state: JsonSchema | null;
  config: JsonSchema | null;
}

/** A NotFoundError, so the GraphQL layer reports it as NOT_FOUND. */
export class UnknownGraphError extends NotFoundError {
  override name = "UnknownGraphError";
  readonly graphId: string;

  constructor(graphId: string) {
    super(`graph "${graphId}" is not registered`, { field: "graphId" });
    this.graphId = graphId;
  }
}

interface Entry {
  spec: GraphSpec;
  loaded: LoadedExport;
}

/**
 * The graphs of one langgraph.json, loaded. Holds no persistence: `get` returns the graph as
 * the module built it and callers attach the checkpointer and store (see `withPersistence`).
 *
 * Derived data (schemas, drawings) is cached per graph instance in WeakMaps: a static graph is
 * one instance for the life of the registry, so it is computed once; a factory builds a new
 * instance per call, so its results are never reused across configs and are collected with it.
 */
export class GraphRegistry {
  #entries: Map<string, Entry>;
  readonly #schemas = new WeakMap<object, GraphSchemas>();
  readonly #drawings = new WeakMap<object, Map<string, GraphDrawing>>();

  constructor(entries: Entry[]) {
    this.#entries = new Map(entries.map((entry) => [entry.spec.id, entry]));
  }

  /** Takes over another registry's graphs (a dev reload); derived data follows the instances. */
  replaceWith(other: GraphRegistry): void {
    this.#entries = other.#entries;
  }

  ids(): string[] {
    return [...this.#entries.keys()];
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  spec(id: string): GraphSpec {
    return this.#entry(id).spec;
  }

  /** True when the export is a `(config) => graph` factory, built anew on every `get`. */
  isFactory(id: string): boolean {
    return this.#entry(id).loaded.kind === "factory";
  }

  /**
   * The compiled graph. A factory is called with `config` (the run's or assistant's config);
   * a static graph is the shared instance, so do not mutate it: use `withPersistence`.
   */
  async get(id: string, config?: LangGraphRunnableConfig): Promise<LoadedGraph> {
    const { spec, loaded } = this.#entry(id);
    if (loaded.kind === "graph") return loaded.graph;
    return callGraphFactory(spec, loaded.factory, config ?? { configurable: {} });
  }

  async schemas(id: string, config?: LangGraphRunnableConfig): Promise<GraphSchemas> {
    return this.#schemasOf(await this.get(id, config));
  }

  async drawing(
    id: string,
    options: { xray?: number | boolean; config?: LangGraphRunnableConfig } = {},
  ): Promise<GraphDrawing> {
    const graph = await this.get(id, options.config);
    // xray 0/false means "do not expand"; LangGraph treats any truthy number as a depth.
    const xray = options.xray === 0 || options.xray === false ? undefined : options.xray;
    const key = String(xray ?? 0);
    let perGraph = this.#drawings.get(graph);
    const cached = perGraph?.get(key);
    if (cached) return cached;

    // Pregel's own signature lacks xray; StateGraph's (CompiledGraph) has it, and a plain
    // Pregel (functional API) ignores it.
    const drawable = await (graph as unknown as CompiledGraph<string>).getGraphAsync({
      ...options.config,
      xray,
    });
    const json = drawable.toJSON() as { nodes: unknown[]; edges: unknown[] };
    const drawing: GraphDrawing = {
      nodes: json.nodes,
      edges: json.edges,
      mermaid: drawable.drawMermaid(),
    };
    if (!perGraph) {
      perGraph = new Map();
      this.#drawings.set(graph, perGraph);
    }
    perGraph.set(key, drawing);
    return drawing;
  }

  /**
   * Subgraphs and their schemas, namespaced by node names joined with "|".
   *
   * Without `namespace`: the root's subgraphs, and with `recurse` all nested ones too.
   * With `namespace`: the subgraph at that path, and with `recurse` the ones below it.
   * LangGraph's `getSubgraphs(namespace, recurse)` only finds a nested path when `recurse` is
   * set and never returns what lies below a given namespace, so a namespace is resolved here
   * from the full recursive listing instead. A checkpoint namespace from a stream event
   * ("research:<task id>|search:<task id>") is accepted too: node names cannot contain ":".
   */
  async subgraphs(
    id: string,
    options: { namespace?: string; recurse?: boolean; config?: LangGraphRunnableConfig } = {},
  ): Promise<SubgraphSchemas[]> {
    const graph = await this.get(id, options.config);
    const recurse = options.recurse ?? false;
    const wanted = options.namespace
      ?.split("|")
      .map((segment) => segment.split(":")[0])
      .join("|");
    const result: SubgraphSchemas[] = [];
    for await (const [namespace, subgraph] of graph.getSubgraphsAsync(
      undefined,
      wanted ? true : recurse,
    )) {
      if (wanted && namespace !== wanted && !(recurse && namespace.startsWith(`${wanted}|`))) {
        continue;
      }
      const { input, output, state, config } = this.#schemasOf(subgraph as LoadedGraph);
      result.push({ namespace, input, output, state, config });
    }
    return result;
  }

  #schemasOf(graph: LoadedGraph): GraphSchemas {
    let schemas = this.#schemas.get(graph);
    if (!schemas) {
      schemas = extractGraphSchemas(graph);
      this.#schemas.set(graph, schemas);
    }
    return schemas;
  }

  #entry(id: string): Entry {
    const entry = this.#entries.get(id);
    if (!entry) throw new UnknownGraphError(id);
    return entry;
  }
}

/**
 * Imports every graph module, concurrently. When some fail, all of them are reported at once
 * (one GraphLoadError, or GraphLoadErrors for several), in the given order, so a broken
 * langgraph.json reports the same problems on every start.
 */
export async function loadGraphRegistry(
  specs: GraphSpec[],
  options: { query?: string } = {},
): Promise<GraphRegistry> {
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.id)) {
      throw new GraphLoadError(spec.id, spec.path, "graph id is registered twice");
    }
    seen.add(spec.id);
  }
  // Before any graph module builds its graphs, so their context annotations are kept.
  rememberContextAnnotations();
  const results = await Promise.allSettled(specs.map((spec) => loadGraphExport(spec, options)));
  const entries: Entry[] = [];
  const failures: unknown[] = [];
  for (const [i, result] of results.entries()) {
    if (result.status === "rejected") failures.push(result.reason);
    else entries.push({ spec: specs[i]!, loaded: result.value });
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    const unexpected = failures.find((failure) => !(failure instanceof GraphLoadError));
    if (unexpected) throw unexpected;
    throw new GraphLoadErrors(failures as GraphLoadError[]);
  }
  return new GraphRegistry(entries);
}

/**
 * A graph that uses the given checkpointer and store, leaving `graph` untouched.
 *
 * LangGraph's JS server assigns `compiled.checkpointer` / `compiled.store` on the shared
 * instance. That is harmless while every run uses the same saver, but one run that needs
 * another (a stateless run with no checkpointer, a test with its own saver) would change it
 * under every concurrent run of that graph. `withConfig` is LangGraph's own way to derive a
 * graph: it constructs a new Pregel from the same nodes and channels (no re-compile, no
 * validation), so the copy costs one object per run and shares all the heavy parts.
 * `checkpointer: null` means "run without persistence" (the copy has none).
 */
export function withPersistence(
  graph: LoadedGraph,
  persistence: { checkpointer?: BaseCheckpointSaver | null; store?: BaseStore | null },
): LoadedGraph {
  const copy = graph.withConfig({}) as LoadedGraph;
  if (persistence.checkpointer !== undefined) {
    copy.checkpointer = persistence.checkpointer ?? undefined;
  }
  if (persistence.store !== undefined) copy.store = persistence.store ?? undefined;
  return copy;
}
