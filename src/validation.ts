import { holdsUnstorable } from "./db/sql/json.ts";
import { InvalidInputError } from "./errors.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** A UUID argument; anything else is bad input naming `field`. */
export function uuid(value: string, field: string): string {
  if (!isUuid(value))
    throw new InvalidInputError(`${field} must be a UUID, got "${value}"`, { field });
  return value.toLowerCase();
}

export type JsonObject = Record<string, any>;

/**
 * A JSON object argument (config, context, metadata, filters): not an array, not a scalar, and
 * storable as jsonb (see assertStorable).
 */
export function jsonObject(value: unknown, field: string): JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InvalidInputError(`${field} must be a JSON object, got ${JSON.stringify(value)}`, {
      field,
    });
  }
  assertStorable(field, value);
  return value as JsonObject;
}

// NUL cannot live in text or jsonb; an unpaired surrogate is refused by jsonb and turned into
// U+FFFD in text, so neither would come back as sent. One rule, json.ts's, on the string's JSON.
export const unstorable = (text: string) => holdsUnstorable(JSON.stringify(text));
export const UNSTORABLE_HINT =
  "contains a NUL character or an unpaired UTF-16 surrogate, which cannot be stored";

/** `base` followed by a key or index, as JavaScript would write the access. */
export function pathOf(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

/**
 * Every string in a JSON argument, object keys included, must be storable (see unstorable); the
 * error names the first that is not by its path from `base`. Iterative: no depth limit.
 */
export function assertStorable(field: string, root: unknown, base = field): void {
  if (surelyStorable(root)) return;
  const pending: Array<[unknown, string]> = [[root, base]];
  // An object an auth handler built may refer to itself: each is looked at once.
  const seen = new WeakSet<object>();
  while (pending.length > 0) {
    const [value, path] = pending.pop()!;
    if (typeof value === "object" && value !== null) {
      if (seen.has(value)) continue;
      seen.add(value);
    }
    if (typeof value === "string") {
      if (unstorable(value)) {
        throw new InvalidInputError(`${path} ${UNSTORABLE_HINT}`, { field });
      }
    } else if (Array.isArray(value)) {
      for (const [index, element] of value.entries()) pending.push([element, pathOf(path, index)]);
    } else if (typeof value === "object" && value !== null) {
      for (const [key, element] of Object.entries(value)) {
        const at = pathOf(path, key);
        if (unstorable(key))
          throw new InvalidInputError(`${at} ${UNSTORABLE_HINT} in its name`, { field });
        pending.push([element, at]);
      }
    }
  }
}

/** Decided on the value's JSON text (most arguments); the walk above only names a problem. */
function surelyStorable(value: unknown): boolean {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return false; // a cycle, a BigInt: the walk decides
  }
  return text === undefined || !holdsUnstorable(text);
}

export const MAX_PAGE = 1000;

/** `first` of a connection: 1 to 1000, as LangGraph's `limit`. */
export function pageArgs(first: number | null | undefined, field = "first"): { limit: number } {
  const limit = first ?? 10;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new InvalidInputError(`${field} must be between 1 and ${MAX_PAGE}, got ${limit}`, {
      field,
    });
  }
  return { limit };
}
