import { InvalidNamespaceError } from "@langchain/langgraph-checkpoint";
import { InvalidInputError } from "../errors.ts";
import { assertStorable, pathOf, UNSTORABLE_HINT, unstorable } from "../validation.ts";
import { FILTER_OPERATORS, isFilterOperator, isPlainObject } from "./filter.ts";
import { assertReadableNamespace, LABEL_SEPARATOR, RESERVED_ROOT_LABEL } from "./namespace.ts";

/**
 * Checks on what API clients send to the store, each failure an InvalidInputError naming the
 * argument. They run before any statement, so bad input changes nothing. The namespace rules are
 * LangGraph's (`validateNamespace`); the rest keeps out what PostgreSQL would reject or silently
 * alter (NUL characters, unpaired surrogates) and filters that could only be typos.
 */

/** The API's page-size ceiling, shared with the other list queries. */
export const MAX_PAGE_SIZE = 1000;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

/**
 * Labels of a namespace prefix or suffix: non-empty, no "." and whatever else the installed
 * LangGraph refuses (":" and NUL from @langchain/langgraph-checkpoint 1.2 on), so that the store
 * never refuses them after this.
 */
export function checkLabels(field: string, labels: readonly string[]): string[] {
  labels.forEach((label, index) => {
    if (label === "") {
      throw new InvalidInputError(
        `${field}[${index}] is empty; namespace labels cannot be empty strings`,
        { field },
      );
    }
    if (label.includes(LABEL_SEPARATOR)) {
      throw new InvalidInputError(
        `${field}[${index}] ${JSON.stringify(label)} contains a period; namespace labels cannot contain periods ('.')`,
        { field },
      );
    }
    if (unstorable(label)) {
      throw new InvalidInputError(`${field}[${index}] ${UNSTORABLE_HINT}`, { field });
    }
  });
  try {
    assertReadableNamespace(labels);
  } catch (error) {
    if (!(error instanceof InvalidNamespaceError)) throw error;
    throw new InvalidInputError(`${field}: ${error.message}`, { field });
  }
  return [...labels];
}

/** A namespace an item can live in: LangGraph's full rules, including the reserved root. */
export function checkNamespace(field: string, namespace: readonly string[]): string[] {
  if (namespace.length === 0) {
    throw new InvalidInputError(`${field} cannot be empty; give at least one label`, { field });
  }
  checkLabels(field, namespace);
  if (namespace[0] === RESERVED_ROOT_LABEL) {
    throw new InvalidInputError(
      `${field} cannot start with "${RESERVED_ROOT_LABEL}"; that root label is reserved by LangGraph`,
      { field },
    );
  }
  return [...namespace];
}

export function checkKey(key: string): string {
  if (key === "") throw new InvalidInputError("key cannot be empty", { field: "key" });
  if (unstorable(key)) throw new InvalidInputError(`key ${UNSTORABLE_HINT}`, { field: "key" });
  return key;
}

/** Store values are JSON objects (LangGraph's `Record<string, any>`), never lists or scalars. */
export function checkValue(value: unknown): Record<string, unknown> {
  if (!isPlainObject(value)) {
    throw new InvalidInputError(`value must be a JSON object, got ${describe(value)}`, {
      field: "value",
    });
  }
  assertStorable("value", value);
  return value;
}

/**
 * A search filter: an object of field conditions. An object whose keys start with "$" is read
 * as operators, so every key in it must be a known operator; anything else is almost surely a
 * typo that would silently match nothing.
 */
export function checkFilter(filter: unknown): Record<string, unknown> | undefined {
  if (filter === undefined || filter === null) return undefined;
  if (!isPlainObject(filter)) {
    throw new InvalidInputError(
      `filter must be a JSON object mapping value fields to values or operators, got ${describe(filter)}`,
      { field: "filter" },
    );
  }
  for (const [name, condition] of Object.entries(filter)) {
    const at = pathOf("filter", name);
    if (!isPlainObject(condition) || !Object.keys(condition).some((k) => k.startsWith("$"))) {
      continue;
    }
    for (const [operator, operand] of Object.entries(condition)) {
      if (!isFilterOperator(operator)) {
        const problem = operator.startsWith("$")
          ? `has unknown operator ${JSON.stringify(operator)}`
          : `mixes operators with the plain field ${JSON.stringify(operator)}`;
        throw new InvalidInputError(
          `${at} ${problem}; the operators are ${FILTER_OPERATORS.join(", ")}`,
          { field: "filter" },
        );
      }
      if (["$gt", "$gte", "$lt", "$lte"].includes(operator) && typeof operand !== "number") {
        throw new InvalidInputError(
          `${at}.${operator} must be a number, got ${describe(operand)}`,
          {
            field: "filter",
          },
        );
      }
      if ((operator === "$in" || operator === "$nin") && !Array.isArray(operand)) {
        throw new InvalidInputError(`${at}.${operator} must be a list, got ${describe(operand)}`, {
          field: "filter",
        });
      }
    }
  }
  assertStorable("filter", filter);
  return filter;
}

export function checkRange(
  field: string,
  value: number,
  range: { min: number; max?: number },
): number {
  const tooLow = value < range.min;
  const tooHigh = range.max !== undefined && value > range.max;
  if (tooLow || tooHigh) {
    const allowed =
      range.max === undefined ? `${range.min} or more` : `between ${range.min} and ${range.max}`;
    throw new InvalidInputError(`${field} must be ${allowed}, got ${value}`, { field });
  }
  return value;
}
