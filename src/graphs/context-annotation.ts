import { StateGraph } from "@langchain/langgraph";

/** On a StateGraph builder: the keys of the Annotation.Root it was given as its context. */
const CONTEXT_KEYS = Symbol.for("langgraph-gql.contextKeys");
/** On a StateGraph prototype: rememberContextAnnotations already wrapped it. */
const WRAPPED = Symbol.for("langgraph-gql.contextKeysWrapped");

type Normalise = (this: object, ...args: unknown[]) => { context?: unknown } | undefined;

/**
 * LangGraph keeps a zod context schema on the builder (`_configRuntimeSchema`), but of an
 * Annotation.Root context (`new StateGraph(State, ContextAnnotation)`, or `{ context }`) it keeps
 * nothing once constructed: its type only serves TypeScript. LangGraph's own server reads it
 * from the source with a TypeScript parser. This wraps the builder's constructor-time
 * normalisation of its arguments, which every StateGraph constructor form goes through, so each
 * builder remembers its context's keys. Graphs built before the call, or with another copy of
 * LangGraph, or a LangGraph without that method, simply remember nothing. Idempotent.
 */
export function rememberContextAnnotations(stateGraph: { prototype: object } = StateGraph): void {
  const prototype = stateGraph.prototype as Record<PropertyKey, unknown>;
  const normalise = prototype._normalizeToStateGraphInit as Normalise | undefined;
  if (typeof normalise !== "function" || Object.hasOwn(prototype, WRAPPED)) return;
  Object.defineProperty(prototype, WRAPPED, { value: true });
  prototype._normalizeToStateGraphInit = function (this: object, ...args: unknown[]) {
    const init = normalise.apply(this, args);
    const context = init?.context as { lc_graph_name?: unknown; spec?: unknown } | undefined;
    if (context?.lc_graph_name === "AnnotationRoot" && typeof context.spec === "object") {
      Object.defineProperty(this, CONTEXT_KEYS, { value: Object.keys(context.spec ?? {}) });
    }
    return init;
  };
}

/** The context Annotation.Root keys a builder was constructed with, if it remembered them. */
export function contextAnnotationKeys(builder: unknown): string[] | undefined {
  if (typeof builder !== "object" || builder === null) return undefined;
  return (builder as Record<PropertyKey, string[] | undefined>)[CONTEXT_KEYS];
}
