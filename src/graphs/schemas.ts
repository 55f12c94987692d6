import { messagesDeltaReducer, messagesStateReducer } from "@langchain/langgraph";
import {
  getConfigTypeSchema,
  getInputTypeSchema,
  getOutputTypeSchema,
  getStateTypeSchema,
} from "@langchain/langgraph/zod/schema";
import { contextAnnotationKeys } from "./context-annotation.ts";
import type { LoadedGraph } from "./load.ts";

export type JsonSchema = Record<string, unknown>;

export interface GraphSchemas {
  input: JsonSchema | null;
  output: JsonSchema | null;
  state: JsonSchema | null;
  config: JsonSchema | null;
  /** LangGraph.js has one runtime schema for both (the StateGraph `context` option). */
  context: JsonSchema | null;
}

interface BuilderInternals {
  _schemaDefinition?: Record<string, unknown>;
  _schemaRuntimeDefinition?: unknown;
  _inputDefinition?: Record<string, unknown>;
  _outputDefinition?: Record<string, unknown>;
}

/**
 * JSON Schemas of a compiled graph, from what LangGraph keeps at runtime.
 *
 * First LangGraph's own getters (`@langchain/langgraph/zod/schema`): in 1.4.x they read
 * `builder._*RuntimeDefinition`, covering StateSchema (with `jsonSchemaExtra` such as
 * `langgraph_type: "messages"`), zod with `withLangGraph` metadata and plain zod. That is the
 * runtime path of the JS server; its static TypeScript parser fallback is not reproduced.
 * Each schema falls back on its own (the JS server drops to its parser for all four at once):
 * Annotation.Root graphs have no runtime types, so they get an object with one untyped
 * property per channel, messages channels recognised by their reducer, and a config from
 * their context annotation's keys. That keeps input/state/config non-null for every
 * Annotation StateGraph, which clients such as Studio-style forms need.
 *
 * `state` is the value schema; the JS server reports the update (partial) schema there, which
 * is the input schema again.
 */
export function extractGraphSchemas(graph: LoadedGraph): GraphSchemas {
  const builder = (graph as { builder?: BuilderInternals }).builder;
  const state =
    tidy(attempt(() => getStateTypeSchema(graph))) ??
    channelSchema(graph, builder?._schemaDefinition);
  const input =
    tidy(attempt(() => getInputTypeSchema(graph))) ??
    channelSchema(graph, builder?._inputDefinition);
  const output =
    tidy(attempt(() => getOutputTypeSchema(graph))) ??
    channelSchema(graph, builder?._outputDefinition);
  const config = tidy(attempt(() => getConfigTypeSchema(graph))) ?? annotationConfigSchema(builder);
  return { input, output, state, config, context: config };
}

/**
 * The config (context) schema of a graph whose context is not zod: its Annotation.Root keys,
 * untyped, when the builder remembered them (see context-annotation.ts); for an Annotation.Root
 * state graph without one, an object with no known keys, which is what LangGraph's server
 * reports for it. Graphs with runtime schemas (zod, StateSchema) and no zod context have none,
 * as there.
 */
function annotationConfigSchema(builder: BuilderInternals | undefined): JsonSchema | null {
  const keys = contextAnnotationKeys(builder);
  if (keys) return { type: "object", properties: Object.fromEntries(keys.map((key) => [key, {}])) };
  const annotationState = builder?._schemaDefinition && !builder._schemaRuntimeDefinition;
  return annotationState ? { type: "object", properties: {} } : null;
}

/** A broken user schema must not take the schemas query down; it just reads as unknown. */
function attempt(fn: () => unknown): unknown {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function channelSchema(
  graph: LoadedGraph,
  definition: Record<string, unknown> | undefined,
): JsonSchema | null {
  // Without a builder (e.g. a functional-API entrypoint) the compiled channels are all we know.
  const keys = Object.keys(definition ?? (graph as { channels?: object }).channels ?? {}).filter(
    (key) => !key.startsWith("__") && !key.startsWith("branch:"),
  );
  if (keys.length === 0) return null;
  const channels = ((graph as { channels?: Record<string, unknown> }).channels ?? {}) as Record<
    string,
    unknown
  >;
  const properties: Record<string, JsonSchema> = {};
  for (const key of keys) {
    properties[key] = isMessagesChannel(channels[key] ?? definition?.[key])
      ? { langgraph_type: "messages", description: "A list of chat messages" }
      : {};
  }
  return { type: "object", properties };
}

function isMessagesChannel(channel: unknown): boolean {
  if (typeof channel !== "object" || channel === null) return false;
  const { operator, reducer } = channel as { operator?: unknown; reducer?: unknown };
  const fn = operator ?? reducer;
  if (typeof fn !== "function") return false;
  // Name check too: a graph module may resolve its own copy of @langchain/langgraph.
  return (
    fn === messagesStateReducer ||
    fn === messagesDeltaReducer ||
    fn.name === "messagesStateReducer" ||
    fn.name === "messagesDeltaReducer"
  );
}

/**
 * Normalises to a plain object or null. Per-field conversion leaves a `$schema` on nested
 * properties (StateSchema converts each field on its own); only the root may declare a dialect.
 */
function tidy(schema: unknown): JsonSchema | null {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return null;
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (typeof value !== "object" || value === null) return value;
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key, v]) => !(key === "$schema" && typeof v === "string") && v !== undefined)
        .map(([key, v]) => [key, strip(v)]),
    );
  };
  const { $schema, ...rest } = schema as JsonSchema;
  const body = strip(rest) as JsonSchema;
  return $schema === undefined ? body : { $schema, ...body };
}
