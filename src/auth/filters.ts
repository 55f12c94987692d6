/**
 * LangGraph's auth filters — `{key: value}`, `{key: {$eq: value}}`, `{key: {$contains: v | [v…]}}`
 * — compiled to one JSONB containment document, so a filter becomes `metadata @> $scope` in SQL
 * (served by the GIN indexes) and the same document answers in-memory checks.
 *
 * The translation is exact for what LangGraph's own matcher accepts: equality compares scalars
 * (its `!==` never matches an object), and `$contains` requires the metadata value to be an array
 * holding every listed element, which is what `{key: [elements]}` containment means in JSONB.
 */

/** A containment document: a resource matches when its metadata contains it. */
export type Scope = Record<string, unknown>;

export class InvalidFilterError extends Error {
  override name = "InvalidFilterError";
}

type Scalar = string | number | boolean | null;

function isScalar(value: unknown): value is Scalar {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/** Compiles a handler's filter object; throws InvalidFilterError for anything else. */
export function compileFilters(filters: unknown): Scope {
  if (filters === null || typeof filters !== "object" || Array.isArray(filters)) {
    throw new InvalidFilterError(`filters must be an object, got ${JSON.stringify(filters)}`);
  }
  const scope: Scope = {};
  for (const [key, condition] of Object.entries(filters)) {
    if (isScalar(condition)) {
      scope[key] = condition;
      continue;
    }
    if (typeof condition !== "object" || Array.isArray(condition)) {
      throw new InvalidFilterError(`filter "${key}" must be a value, {$eq} or {$contains}`);
    }
    const ops = Object.keys(condition);
    const { $eq, $contains } = condition as { $eq?: unknown; $contains?: unknown };
    if (ops.length !== 1 || !["$eq", "$contains"].includes(ops[0]!)) {
      throw new InvalidFilterError(
        `filter "${key}" must use exactly one of $eq and $contains, got ${JSON.stringify(ops)}`,
      );
    }
    if (ops[0] === "$eq") {
      if (!isScalar($eq)) throw new InvalidFilterError(`filter "${key}": $eq takes a scalar`);
      scope[key] = $eq;
    } else {
      const elements = Array.isArray($contains) ? $contains : [$contains];
      if (!elements.every(isScalar)) {
        throw new InvalidFilterError(`filter "${key}": $contains takes a scalar or scalars`);
      }
      scope[key] = elements;
    }
  }
  return scope;
}

/** Whether `metadata` satisfies `scope`, exactly as `metadata @> scope` would in PostgreSQL. */
export function inScope(metadata: unknown, scope: Scope | null): boolean {
  if (scope === null) return true;
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    return Object.keys(scope).length === 0;
  }
  const record = metadata as Record<string, unknown>;
  for (const [key, expected] of Object.entries(scope)) {
    if (!(key in record)) return false;
    const actual = record[key];
    if (Array.isArray(expected)) {
      if (!Array.isArray(actual) || !expected.every((e) => actual.some((a) => a === e)))
        return false;
    } else if (actual !== expected) {
      return false;
    }
  }
  return true;
}
