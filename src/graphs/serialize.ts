/**
 * LangGraph values as JSON, the way LangGraph Platform returns them: LangChain objects (messages,
 * documents) become their serialised dicts, `{...data, type}`, e.g.
 * `{type: "human", content: "hi", id: "..."}`. Everything else converts as JSON.stringify would.
 *
 * Pass one `cache` to every call of a request that returns related states (a history page): the
 * checkpointer hands back the same message objects for every state that holds them, and each is
 * then converted once instead of once per state.
 */
export function toJson(value: unknown, cache: JsonCache = new JsonCache()): unknown {
  return convert(value, cache) ?? null;
}

/**
 * Conversions memoised by object identity. A `shared` cache outlives a request (the thread
 * service keys one by its reader's shared values), so what it hands out is frozen: no consumer
 * can change it under the next one, and the HTTP layer may keep the JSON text of any frozen
 * value (src/schema/json-responses.ts).
 */
export class JsonCache extends WeakMap<object, unknown> {
  constructor(readonly shared = false) {
    super();
  }
}

export function createJsonCache(options: { shared?: boolean } = {}): JsonCache {
  return new JsonCache(options.shared ?? false);
}

interface Dictable {
  toDict(): { type: string; data: Record<string, unknown> };
}

function convert(value: unknown, cache: JsonCache): unknown {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number") return Number.isFinite(value) ? value : null;
    if (typeof value === "bigint") return value.toString();
    return typeof value === "function" || typeof value === "symbol" ? undefined : value;
  }
  if (cache.has(value)) return cache.get(value);
  let converted: unknown;
  if (typeof (value as Dictable).toDict === "function") {
    const { type, data } = (value as Dictable).toDict();
    converted = convert({ ...data, type }, cache);
  } else if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
    converted = convert((value as { toJSON(): unknown }).toJSON(), cache);
  } else if (Array.isArray(value)) {
    const out: unknown[] = [];
    // Registered before its items, so a structure that contains itself ends instead of looping.
    cache.set(value, out);
    for (const item of value) out.push(convert(item, cache) ?? null);
    return cache.shared ? Object.freeze(out) : out;
  } else {
    const out: Record<string, unknown> = {};
    cache.set(value, out);
    for (const [key, item] of Object.entries(value)) {
      const json = convert(item, cache);
      if (json !== undefined) out[key] = json;
    }
    return cache.shared ? Object.freeze(out) : out;
  }
  cache.set(value, converted);
  return converted;
}

export interface InterruptJson {
  id: string;
  value: unknown;
}

export function interruptsToJson(
  interrupts: ReadonlyArray<{ id?: string; value?: unknown }>,
  cache?: JsonCache,
): InterruptJson[] {
  return interrupts.map((i) => ({ id: i.id ?? "", value: toJson(i.value, cache) }));
}
