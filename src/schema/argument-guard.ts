import type {
  GraphQLArgument,
  GraphQLField,
  GraphQLInputObjectType,
  GraphQLInputType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
} from "graphql";
import { InvalidInputError } from "../errors.ts";
import { pathOf, UNSTORABLE_HINT, unstorable } from "../validation.ts";

/**
 * Two rules every argument of the API obeys, checked once here, before any resolver, by the
 * argument's own path (`input.name`, `metadata`):
 *
 * - A String or ID cannot hold U+0000 or a lone UTF-16 surrogate: PostgreSQL's text cannot store
 *   the first and turns the second into U+FFFD, so neither would come back as sent (and NUL makes
 *   the statement fail). JSON arguments have their own, per-service rule (assertStorable), since
 *   state edits keep such strings exactly in checkpoints.
 * - A JSON value nests at most `maxJsonDepth` levels. JSON.stringify, the pg driver and
 *   PostgreSQL's jsonb parser all recurse: a value nested some thousands of levels overflows a
 *   stack somewhere on its way to the database instead of being refused.
 *
 * Each field's checks are worked out from its argument types when the schema is built; a field
 * whose arguments hold neither a String, an ID nor a JSON is left as it is.
 */
export function guardArguments(schema: GraphQLSchema, options: { maxJsonDepth: number }) {
  const plans = new Map<GraphQLInputType, Check | null>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (kindOf(type) !== "GraphQLObjectType" || type.name.startsWith("__")) continue;
    const subscriptions = type === schema.getSubscriptionType();
    for (const field of Object.values((type as GraphQLObjectType).getFields())) {
      const check = argumentsCheck(field.args, plans, options.maxJsonDepth);
      if (check) guardField(field, check, subscriptions);
    }
  }
  return schema;
}

// Pothos builds the schema with graphql's CommonJS build and our imports resolve to its ESM
// build: types are told apart by their tag, not with instanceof (which fails across the two).
const kindOf = (type: object) => (type as { [Symbol.toStringTag]?: string })[Symbol.toStringTag];

/** Checks one value at `path`; throws InvalidInputError naming it. */
type Check = (value: unknown, path: string) => void;

function guardField(
  field: GraphQLField<unknown, unknown>,
  check: (args: Record<string, unknown>) => void,
  subscription: boolean,
) {
  if (subscription) {
    // A subscription's resolve runs once per event: its arguments were checked on subscribe.
    const subscribe = field.subscribe;
    if (!subscribe) return;
    field.subscribe = (root, args, context, info) => {
      check(args);
      return subscribe(root, args, context, info);
    };
    return;
  }
  const resolve = field.resolve;
  if (!resolve) return;
  field.resolve = (root, args, context, info) => {
    check(args);
    return resolve(root, args, context, info);
  };
}

function argumentsCheck(
  args: readonly GraphQLArgument[],
  plans: Map<GraphQLInputType, Check | null>,
  maxJsonDepth: number,
): ((args: Record<string, unknown>) => void) | null {
  const checks: Array<[string, Check]> = [];
  for (const arg of args) {
    const check = planFor(arg.type, plans, maxJsonDepth);
    if (check) checks.push([arg.name, check]);
  }
  if (checks.length === 0) return null;
  return (values) => {
    for (const [name, check] of checks) {
      const value = values[name];
      if (value != null) check(value, name);
    }
  };
}

function planFor(
  type: GraphQLInputType,
  plans: Map<GraphQLInputType, Check | null>,
  maxJsonDepth: number,
): Check | null {
  const kind = kindOf(type);
  if (kind === "GraphQLNonNull") {
    return planFor((type as GraphQLNonNull<GraphQLInputType>).ofType, plans, maxJsonDepth);
  }
  if (kind === "GraphQLList") {
    const element = planFor((type as GraphQLList<GraphQLInputType>).ofType, plans, maxJsonDepth);
    if (!element) return null;
    return (value, path) => {
      if (!Array.isArray(value)) return element(value, path);
      for (const [index, item] of value.entries()) {
        if (item != null) element(item, pathOf(path, index));
      }
    };
  }
  if (plans.has(type)) return plans.get(type)!;
  if (kind === "GraphQLScalarType") {
    const { name } = type as { name: string };
    const check =
      name === "String" || name === "ID"
        ? checkString
        : name === "JSON"
          ? depthCheck(maxJsonDepth)
          : null;
    plans.set(type, check);
    return check;
  }
  if (kind === "GraphQLInputObjectType") {
    // Input types may refer to themselves: the field checks are looked up when a value comes.
    const fields: Array<[string, Check]> = [];
    const check: Check = (value, path) => {
      const record = value as Record<string, unknown>;
      for (const [name, fieldCheck] of fields) {
        const fieldValue = record[name];
        if (fieldValue != null) fieldCheck(fieldValue, pathOf(path, name));
      }
    };
    plans.set(type, check);
    for (const field of Object.values((type as GraphQLInputObjectType).getFields())) {
      const fieldCheck = planFor(field.type, plans, maxJsonDepth);
      if (fieldCheck) fields.push([field.name, fieldCheck]);
    }
    if (fields.length === 0) {
      plans.set(type, null);
      return null;
    }
    return check;
  }
  // Enums hold only their own names.
  return null;
}

function checkString(value: unknown, path: string) {
  if (typeof value === "string" && unstorable(value)) {
    throw new InvalidInputError(`${path} ${UNSTORABLE_HINT}`, { field: path });
  }
}

function depthCheck(maxDepth: number): Check {
  return (value, path) => {
    if (jsonDepthExceeds(value, maxDepth)) {
      throw new InvalidInputError(
        `${path} nests deeper than ${maxDepth} levels of objects and arrays (MAX_JSON_DEPTH)`,
        { field: path },
      );
    }
  };
}

/**
 * Whether a parsed JSON value has more than `maxDepth` levels of objects and arrays (`{}` is one
 * level, `{"a": []}` two). Iterative, and it stops at the first container too deep, so a hostile
 * value costs no more than the part of it within the limit.
 */
function jsonDepthExceeds(root: unknown, maxDepth: number): boolean {
  if (root === null || typeof root !== "object") return false;
  const pending: Array<[object, number]> = [[root, 1]];
  while (pending.length > 0) {
    const [value, depth] = pending.pop()!;
    if (depth > maxDepth) return true;
    const children = Array.isArray(value) ? value : Object.values(value);
    for (const child of children) {
      if (child !== null && typeof child === "object") pending.push([child, depth + 1]);
    }
  }
  return false;
}
