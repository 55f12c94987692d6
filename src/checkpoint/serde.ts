import * as messageClasses from "@langchain/core/messages";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";

/**
 * LangGraph's serializer, faster for what checkpoints mostly hold.
 *
 * Reading: plain JSON and LangChain messages. LangGraph's reviver awaits at every node of the
 * parsed value and revives a message by stringifying it and running LangChain's `load` on the
 * text again: about 40 µs per stored message, which made reading a long thread's state or history
 * cost tens of milliseconds. This builds the same values synchronously (about 4 µs per message),
 * and hands any value holding something else (secrets, Sets, Maps, errors, other LangChain
 * objects, escaped objects, undefined markers) to the wrapped serializer untouched.
 *
 * Writing: plain JSON data (metadata, a channel's null or number, a list of plain records) is
 * stringified directly. LangGraph's writer walks every value twice (a cycle check, then
 * JSON.stringify with a replacer called at every node) to turn the values JSON cannot hold into
 * markers; a value with none of those gets exactly the bytes it would get, without the walks.
 * Anything else, messages included, is written by the wrapped serializer.
 */
export class FastSerializer implements SerializerProtocol {
  constructor(private readonly inner: SerializerProtocol) {}

  dumpsTyped(data: unknown): Promise<[string, Uint8Array]> {
    if (isPlainJson(data, 0))
      return Promise.resolve(["json", encoder.encode(JSON.stringify(data))]);
    return this.inner.dumpsTyped(data);
  }

  async loadsTyped(type: string, data: Uint8Array | string): Promise<unknown> {
    if (type !== "json") return this.inner.loadsTyped(type, data);
    const text = typeof data === "string" ? data : decoder.decode(data);
    const revived = revive(JSON.parse(text), 0);
    return revived === UNSUPPORTED ? this.inner.loadsTyped(type, text) : revived;
  }
}

const encoder = new TextEncoder();

/**
 * Whether LangGraph's writer would leave every part of `value` as it is: strings, numbers,
 * booleans, null, and arrays and objects of them (no holes, no undefined, nothing with a class,
 * a toJSON or a `lg_name` of "Send"), shallow enough to have no cycle. Then JSON.stringify alone
 * writes what it writes.
 */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
      return true;
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth > MAX_DEPTH) return false;
  if ((value as { lg_name?: unknown }).lg_name === "Send") return false;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (let i = 0; i < value.length; i += 1) {
      // A hole reaches the writer's replacer as undefined.
      if (!(i in value) || !isPlainJson(value[i], depth + 1)) return false;
    }
    return true;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!isPlainJson(record[key], depth + 1)) return false;
  }
  return true;
}

const decoder = new TextDecoder();

/** Returned (and propagated) when a value needs the wrapped serializer. */
const UNSUPPORTED = Symbol("unsupported");

/** Deeper than LangChain's `load` allows (50 from the message): leave it to the slow path. */
const MAX_DEPTH = 40;

function revive(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (depth > MAX_DEPTH) return UNSUPPORTED;
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i += 1) {
      const item = revive(value[i], depth + 1);
      if (item === UNSUPPORTED) return UNSUPPORTED;
      out[i] = item;
    }
    return out;
  }
  const record = value as Record<string, unknown>;
  if ("lc" in record) return reviveMessage(record, depth);
  return plainCopy(record, depth);
}

/** A copy of plain JSON data, as LangGraph's reviver and LangChain's `load` both make. */
function plainCopy(record: Record<string, unknown>, depth: number): unknown {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record)) {
    // Assigning these would not make an own property (or would replace the prototype).
    if (key === "__proto__" || key === "__lc_escaped__") return UNSUPPORTED;
    const item = revive(record[key], depth + 1);
    if (item === UNSUPPORTED) return UNSUPPORTED;
    out[key] = item;
  }
  return out;
}

/**
 * `{lc: 1, type: "constructor", id: ["langchain_core", "messages", Name], kwargs}` with plain
 * kwargs, built as LangChain's `load` builds it: kwargs keys mapped from JSON (aliases, else
 * camelCase), then `new Name(fields)`.
 */
function reviveMessage(record: Record<string, unknown>, depth: number): unknown {
  const { id, kwargs } = record;
  if (
    record.lc !== 1 ||
    record.type !== "constructor" ||
    !Array.isArray(id) ||
    id.length !== 3 ||
    id[0] !== "langchain_core" ||
    id[1] !== "messages" ||
    typeof kwargs !== "object" ||
    kwargs === null ||
    Array.isArray(kwargs)
  ) {
    return UNSUPPORTED;
  }
  const name = String(id[2]);
  const builder = Object.hasOwn(messageClasses, name)
    ? (messageClasses as Record<string, unknown>)[name]
    : undefined;
  if (typeof builder !== "function") return UNSUPPORTED;
  const fields = plainCopy(kwargs as Record<string, unknown>, depth + 1);
  if (fields === UNSUPPORTED) return UNSUPPORTED;
  const aliases = aliasesOf(builder as MessageClass);
  const mapped: Record<string, unknown> = {};
  for (const key of Object.keys(fields as object)) {
    mapped[aliases[key] || camelCase(key)] = (fields as Record<string, unknown>)[key];
  }
  const instance = new (builder as MessageClass)(mapped);
  // As `load` does: the class keeps the serialised name.
  Object.defineProperty(instance.constructor, "name", { value: name });
  return instance;
}

type MessageClass = new (fields: Record<string, unknown>) => object;

const inverseAliases = new Map<MessageClass, Record<string, string>>();

/** JSON key -> field name, from `lc_aliases` along the prototype chain (as `load` reads them). */
function aliasesOf(builder: MessageClass): Record<string, string> {
  let found = inverseAliases.get(builder);
  if (!found) {
    const aliases: Record<string, string> = {};
    for (
      let current: unknown = builder;
      current && (current as { prototype?: unknown }).prototype;
      current = Object.getPrototypeOf(current)
    ) {
      Object.assign(
        aliases,
        Reflect.get((current as { prototype: object }).prototype, "lc_aliases"),
      );
    }
    found = {};
    for (const [field, jsonKey] of Object.entries(aliases)) found[jsonKey] = field;
    inverseAliases.set(builder, found);
  }
  return found;
}

const SEPARATORS = /[-_\s]+/g;

/** LangChain's key mapping from JSON to fields (load/map_keys). */
function camelCase(key: string): string {
  const trimmed = key.trim();
  if (!/[-_\s]/.test(trimmed)) return trimmed;
  return trimmed
    .replace(SEPARATORS, "_")
    .toLowerCase()
    .replace(/_+([a-z0-9])/g, (_, char: string) => char.toUpperCase());
}
