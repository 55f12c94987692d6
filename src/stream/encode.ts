import type { StreamModeName } from "../runs/service.ts";
import { KIND_OF_MODE } from "./events.ts";

/**
 * LangGraph stream chunks -> event payloads, shaped as the GraphQL event types' fields.
 *
 * LangGraph hands out live objects: LangChain messages, Interrupt instances, and configs that
 * carry callback handlers and `__pregel_*` plumbing (a subgraph's checkpoint config holds the
 * checkpointer, the send function, ...). Everything goes through `toPlainJson`, which keeps what
 * LangGraph Platform shows and drops the internals, and never throws on what it cannot encode.
 */

export interface EncodedEvent {
  kind: StreamModeName;
  namespace: string[];
  payload: Record<string, unknown>;
}

/** What a RunnableConfig carries besides data: handlers, the abort signal, the store, ... */
const CONFIG_PLUMBING = new Set(["callbacks", "signal", "store", "writer", "interrupt", "control"]);

interface Dictable {
  toDict(): { type: string; data: Record<string, unknown> };
}

/**
 * A JSON-safe copy: LangChain serialisables become their dicts `{...data, type}` (as LangGraph
 * Platform serialises them), errors `{type, message}`, cycles and functions vanish, and internal
 * keys are dropped at any depth.
 */
export function toPlainJson(value: unknown): unknown {
  return walk(value, null, new Set());
}

function walk(value: unknown, parentKey: string | null, ancestors: Set<object>): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : null;
    case "bigint":
      return value.toString();
    case "function":
    case "symbol":
      return null;
  }
  const object = value as object;
  if (ancestors.has(object)) return null;
  if (typeof (object as Partial<Dictable>).toDict === "function") {
    try {
      const { type, data } = (object as Dictable).toDict();
      return withAncestor(ancestors, object, () => ({
        ...(walk(data, parentKey, ancestors) as object),
        type,
      }));
    } catch {
      // Not a LangChain serialisable after all; fall through to its fields.
    }
  }
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? null : object.toISOString();
  if (object instanceof Error) return { type: object.name || "Error", message: object.message };
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) return null;
  if (typeof (object as { toJSON?: unknown }).toJSON === "function") {
    let json: unknown;
    try {
      json = (object as { toJSON(): unknown }).toJSON();
    } catch {
      return null;
    }
    if (json !== object)
      return withAncestor(ancestors, object, () => walk(json, parentKey, ancestors));
  }
  return withAncestor(ancestors, object, () => {
    if (Array.isArray(object)) {
      return object.map((item) => {
        const encoded = walk(item, parentKey, ancestors);
        return encoded === undefined ? null : encoded;
      });
    }
    if (object instanceof Set) return [...object].map((item) => walk(item, parentKey, ancestors));
    const entries = object instanceof Map ? [...object.entries()] : Object.entries(object);
    const isConfig = entries.some(
      ([key, item]) => key === "configurable" && typeof item === "object",
    );
    const out: Record<string, unknown> = {};
    for (const [key, item] of entries) {
      const name = String(key);
      if (item === undefined || typeof item === "function") continue;
      // `__pregel_*` is LangGraph plumbing wherever it shows; a configurable's "__" keys
      // (checkpointer, scratchpad, task ids) and a config's handlers are too.
      if (name.startsWith("__pregel")) continue;
      if (isConfig && CONFIG_PLUMBING.has(name)) continue;
      if (parentKey === "configurable" && name.startsWith("__")) continue;
      out[name] = walk(item, name, ancestors);
    }
    return out;
  });
}

function withAncestor<T>(ancestors: Set<object>, object: object, fn: () => T): T {
  ancestors.add(object);
  try {
    return fn();
  } finally {
    ancestors.delete(object);
  }
}

/** The key LangGraph's updates chunks carry metadata under (see encodeChunk). */
const CACHE_MARKER = "__metadata__";

const asRecord = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};

const stringOrNull = (value: unknown): string | null =>
  typeof value === "string" ? value : value == null ? null : String(value);

/**
 * Cleaned callback metadata by the object LangGraph passed: every token of one model call comes
 * with the same metadata object, cleaned once. One per run (see encodeChunk).
 */
export type MetadataCache = WeakMap<object, Record<string, unknown>>;

/**
 * One LangGraph chunk as zero or more events. `mode` is LangGraph's ("messages" is the
 * messages-tuple mode), or "events" for a streamEvents v2 event.
 */
export function encodeChunk(
  namespace: string[],
  mode: string,
  payload: unknown,
  metadataCache: MetadataCache,
): EncodedEvent[] {
  const kind = KIND_OF_MODE[mode];
  if (!kind) return [];
  const one = (fields: Record<string, unknown>): EncodedEvent[] => [
    { kind, namespace, payload: fields },
  ];
  switch (kind) {
    case "VALUES":
      return one({ values: toPlainJson(payload) ?? {} });
    case "UPDATES":
      // One event per node: several nodes of a superstep update in one chunk. LangGraph adds
      // `__metadata__: {cached: true}` beside the updates of tasks answered from a node cache: a
      // marker about the chunk, not a node.
      return Object.entries(asRecord(payload))
        .filter(([node]) => node !== CACHE_MARKER)
        .map(([node, update]) => ({
          kind,
          namespace,
          payload: { node, update: toPlainJson(update) },
        }));
    case "MESSAGES": {
      const [message, metadata] = Array.isArray(payload) ? payload : [payload, {}];
      return one({
        message: messageChunk(message),
        metadata: cleanMetadata(metadata, metadataCache),
      });
    }
    case "CUSTOM":
      return one({ data: toPlainJson(payload) });
    case "EVENTS": {
      const event = asRecord(payload);
      return one({
        event: String(event.event ?? ""),
        name: String(event.name ?? ""),
        data: toPlainJson(event.data),
        tags: Array.isArray(event.tags) ? event.tags.map(String) : [],
        metadata: cleanMetadata(event.metadata, metadataCache),
        runId: stringOrNull(event.run_id),
        parentIds: Array.isArray(event.parent_ids) ? event.parent_ids.map(String) : [],
      });
    }
    case "DEBUG":
      return one(debugPayload(payload));
    case "CHECKPOINTS":
      return one(checkpointPayload(payload));
    case "TASKS":
      return one(taskPayload(payload));
    case "TOOLS":
      return one(toolPayload(payload));
  }
}

/** Interrupts as the contract's Interrupt: {id, value}. */
export function interruptList(value: unknown): Array<{ id: string; value: unknown }> {
  if (!Array.isArray(value)) return [];
  return value.map((i) => {
    const item = asRecord(i);
    return { id: String(item.id ?? ""), value: toPlainJson(item.value) };
  });
}

/** LangGraph's callback metadata without its internals (and without undefined entries). */
function cleanMetadata(metadata: unknown, cache: MetadataCache): Record<string, unknown> {
  const source = asRecord(metadata);
  const known = cache.get(source);
  if (known) return known;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined || key.startsWith("__") || CONFIG_PLUMBING.has(key)) continue;
    out[key] = toPlainJson(value);
  }
  cache.set(source, out);
  return out;
}

interface MessageLike {
  id?: string;
  content?: unknown;
  name?: string;
  text?: string;
  getType?: () => string;
  type?: string;
  tool_call_chunks?: Array<{ id?: string; name?: string; args?: string; index?: number }>;
  tool_calls?: Array<{ id?: string; name: string; args: unknown }>;
  tool_call_id?: string;
  usage_metadata?: unknown;
  response_metadata?: unknown;
}

/** A message (chunk) as the contract's MessageChunk. */
export function messageChunk(value: unknown): Record<string, unknown> {
  const m = (value ?? {}) as MessageLike;
  let type = "ai";
  try {
    type = m.getType?.() ?? m.type ?? "ai";
  } catch {
    type = m.type ?? "ai";
  }
  return {
    id: m.id ?? null,
    type,
    text: textOf(m),
    content: toPlainJson(m.content) ?? "",
    name: m.name ?? null,
    toolCallChunks: (m.tool_call_chunks ?? []).map((c) => ({
      id: c.id ?? null,
      name: c.name ?? null,
      args: c.args ?? null,
      index: typeof c.index === "number" ? c.index : null,
    })),
    toolCalls: (m.tool_calls ?? []).map((c) => ({
      id: c.id ?? null,
      name: c.name,
      args: toPlainJson(c.args) ?? {},
    })),
    toolCallId: m.tool_call_id ?? null,
    usageMetadata: toPlainJson(m.usage_metadata),
    responseMetadata: toPlainJson(m.response_metadata),
  };
}

function textOf(m: MessageLike): string {
  try {
    if (typeof m.text === "string") return m.text;
  } catch {
    // Older message classes compute text lazily and may throw on odd content.
  }
  const content = m.content;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part) =>
      typeof part === "string"
        ? part
        : part && typeof part === "object" && (part as { type?: unknown }).type === "text"
          ? String((part as { text?: unknown }).text ?? "")
          : "",
    )
    .join("");
}

/** Where a config points, as the contract's Checkpoint (null without a configurable). */
function checkpointOf(config: unknown): Record<string, unknown> | null {
  const configurable = asRecord(asRecord(config).configurable);
  if (Object.keys(configurable).length === 0) return null;
  return {
    threadId: String(configurable.thread_id ?? ""),
    checkpointNs: String(configurable.checkpoint_ns ?? ""),
    checkpointId: stringOrNull(configurable.checkpoint_id),
    checkpointMap: toPlainJson(configurable.checkpoint_map),
  };
}

/** The same in LangGraph Platform's snake_case (debug payloads keep the platform's shape). */
function snakeCheckpoint(config: unknown): Record<string, unknown> | null {
  const checkpoint = checkpointOf(config);
  if (!checkpoint) return null;
  return {
    thread_id: checkpoint.threadId,
    checkpoint_ns: checkpoint.checkpointNs,
    checkpoint_id: checkpoint.checkpointId,
    checkpoint_map: checkpoint.checkpointMap,
  };
}

/** A snapshot task: a subgraph task's `state` is a config (with internals), shown as where it lives. */
function snapshotTask(task: unknown): unknown {
  const t = asRecord(task);
  const state = asRecord(t.state);
  if ("configurable" in state) {
    const { state: _config, ...rest } = t;
    return { ...(toPlainJson(rest) as object), checkpoint: snakeCheckpoint(state) };
  }
  return toPlainJson(task);
}

function checkpointPayload(payload: unknown): Record<string, unknown> {
  const p = asRecord(payload);
  return {
    checkpoint: checkpointOf(p.config) ?? {
      threadId: "",
      checkpointNs: "",
      checkpointId: null,
      checkpointMap: null,
    },
    parentCheckpoint: checkpointOf(p.parentConfig ?? p.parent_config),
    values: toPlainJson(p.values) ?? {},
    metadata: toPlainJson(p.metadata) ?? {},
    next: Array.isArray(p.next) ? p.next.map(String) : [],
    tasks: Array.isArray(p.tasks) ? p.tasks.map(snapshotTask) : [],
  };
}

/** LangGraph Platform's debug payloads: checkpoints with where they live, configs without internals. */
function debugPayload(payload: unknown): Record<string, unknown> {
  const p = asRecord(payload);
  const type = String(p.type ?? "");
  const step = typeof p.step === "number" ? p.step : null;
  const inner = asRecord(p.payload);
  let body: unknown;
  if (type === "checkpoint") {
    const { config, parentConfig, parent_config, tasks, ...rest } = inner;
    body = {
      ...(toPlainJson(rest) as object),
      config: toPlainJson(config),
      parent_config: toPlainJson(parentConfig ?? parent_config),
      checkpoint: snakeCheckpoint(config),
      parent_checkpoint: snakeCheckpoint(parentConfig ?? parent_config),
      tasks: Array.isArray(tasks) ? tasks.map(snapshotTask) : [],
    };
  } else if (type === "task_result") {
    body = snapshotTask(inner);
  } else {
    body = toPlainJson(inner);
  }
  return { type, step, timestamp: stringOrNull(p.timestamp), payload: body ?? {} };
}

function taskPayload(payload: unknown): Record<string, unknown> {
  const p = asRecord(payload);
  const finished = "result" in p || "error" in p;
  return {
    taskId: String(p.id ?? ""),
    name: String(p.name ?? ""),
    input: finished ? null : toPlainJson(p.input),
    triggers: finished ? null : Array.isArray(p.triggers) ? p.triggers.map(String) : [],
    result: finished ? toPlainJson(p.result) : null,
    error: p.error == null ? null : errorText(p.error),
    interrupts: interruptList(p.interrupts),
  };
}

const TOOL_EVENTS: Record<string, string> = {
  on_tool_start: "tool-started",
  on_tool_event: "tool-output",
  on_tool_end: "tool-finished",
  on_tool_error: "tool-error",
};

function toolPayload(payload: unknown): Record<string, unknown> {
  const p = asRecord(payload);
  const event = TOOL_EVENTS[String(p.event)] ?? String(p.event ?? "");
  return {
    event,
    toolCallId: stringOrNull(p.toolCallId),
    name: stringOrNull(p.name),
    input: "input" in p ? parsedArgs(p.input) : null,
    // Streamed tool output (on_tool_event) and the final result both land in `output`.
    output: "output" in p ? toPlainJson(p.output) : "data" in p ? toPlainJson(p.data) : null,
    error: p.error == null ? null : errorText(p.error),
  };
}

/** Tool inputs arrive as the JSON text of the call's arguments; clients want the arguments. */
function parsedArgs(input: unknown): unknown {
  if (typeof input === "string" && /^\s*[{[]/.test(input)) {
    try {
      return JSON.parse(input);
    } catch {
      return input;
    }
  }
  return toPlainJson(input);
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  const message = asRecord(error).message;
  return typeof message === "string" ? message : JSON.stringify(toPlainJson(error));
}
