import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { InvalidInputError } from "../errors.ts";
import { type JsonObject, jsonObject, pathOf } from "../validation.ts";

/**
 * The RunnableConfig keys a client may set on an assistant, run or cron. LangGraph Platform
 * takes them as Python spells them (`recursion_limit`, as its SDKs send them); LangGraph JS
 * reads its own spelling (`recursionLimit`), so both are accepted, stored as given, and
 * translated where the graph's config is built. `run_id` and `callbacks` are not among them:
 * a run's id is its own, and callbacks are code.
 */
const KEYS = [
  { platform: "tags", graph: "tags", check: stringList },
  { platform: "metadata", graph: "metadata", check: object },
  { platform: "configurable", graph: "configurable", check: object },
  { platform: "run_name", graph: "runName", check: text },
  { platform: "max_concurrency", graph: "maxConcurrency", check: positiveInteger },
  { platform: "recursion_limit", graph: "recursionLimit", check: positiveInteger },
] as const;

/** What of a stored config reaches the graph, in LangGraph JS's spelling. */
export type GraphConfig = Pick<LangGraphRunnableConfig, (typeof KEYS)[number]["graph"]>;

/**
 * A config argument: a JSON object whose RunnableConfig keys (one spelling, or both alike) have
 * the types LangGraph needs, so a bad one is refused here rather than failing the run later.
 * Other keys are kept as they are and do not reach the graph.
 */
export function runnableConfigInput(value: unknown, field: string): JsonObject {
  const config = jsonObject(value, field);
  for (const key of KEYS) {
    const given = [...new Set([key.platform, key.graph])].filter(
      (name) => config[name] !== undefined,
    );
    if (given.length > 1 && config[key.platform] !== config[key.graph]) {
      throw new InvalidInputError(
        `${field}: give ${key.platform} or ${key.graph}, not both with different values`,
        { field },
      );
    }
    for (const name of given) {
      const problem = key.check(config[name]);
      if (problem) {
        throw new InvalidInputError(
          `${pathOf(field, name)} ${problem}, got ${JSON.stringify(config[name])}`,
          { field },
        );
      }
    }
  }
  return config;
}

/** The RunnableConfig keys of a stored config (assistant, thread, run or cron), for LangGraph. */
export function toGraphConfig(stored: unknown): GraphConfig {
  if (stored === null || typeof stored !== "object" || Array.isArray(stored)) return {};
  const config = stored as Record<string, unknown>;
  const graphConfig: Record<string, unknown> = {};
  for (const key of KEYS) {
    const value = config[key.platform] ?? config[key.graph];
    // Only what a valid config may hold: a row written before the check existed may not be.
    if (value != null && key.check(value) === null) graphConfig[key.graph] = value;
  }
  return graphConfig as GraphConfig;
}

/**
 * One config from layers applied in order (assistant, then thread, then run): a later layer's
 * keys replace an earlier one's, except `configurable` and `metadata`, which merge.
 */
export function mergeGraphConfigs(...layers: GraphConfig[]): GraphConfig {
  const merged: GraphConfig = {};
  for (const layer of layers) {
    const { configurable, metadata, ...rest } = layer;
    Object.assign(merged, rest);
    if (configurable) merged.configurable = { ...merged.configurable, ...configurable };
    if (metadata) merged.metadata = { ...merged.metadata, ...metadata };
  }
  return merged;
}

function stringList(value: unknown): string | null {
  return Array.isArray(value) && value.every((tag) => typeof tag === "string")
    ? null
    : "must be a list of strings";
}

function object(value: unknown): string | null {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? null
    : "must be a JSON object";
}

function text(value: unknown): string | null {
  return typeof value === "string" ? null : "must be a string";
}

function positiveInteger(value: unknown): string | null {
  return Number.isInteger(value) && (value as number) >= 1
    ? null
    : "must be an integer of 1 or more";
}
