/**
 * What a search `filter` means, independent of SQL. The reference is LangGraph's InMemoryStore
 * (`compareValues` in @langchain/langgraph-checkpoint store/utils): each top-level entry of the
 * filter constrains the item's value field of that exact name (no dotted paths), and all entries
 * must hold.
 *
 * - `{field: {$eq|$ne|$gt|$gte|$lt|$lte|$in|$nin: ...}}`: an object whose keys are all operators
 *   is an operator set; every operator must hold. `{}` is an empty set and constrains nothing,
 *   as in InMemoryStore.
 * - `$gt/$gte/$lt/$lte` coerce both sides with JavaScript's Number(), as InMemoryStore does:
 *   numeric strings compare as numbers, true/false as 1/0, null as 0, and anything that is NaN
 *   (missing field, non-numeric string) never matches.
 * - `$eq/$ne/$in/$nin` compare JSON values. For scalars that is InMemoryStore's `===`; for
 *   objects and arrays InMemoryStore compares references (so they never match), and we compare
 *   by value instead, the only useful reading.
 * - Any other value (a scalar, an array, an object that is not an operator set) must be
 *   contained in the field (PostgreSQL's jsonb `@>`, as LangGraph's PostgresStore does for
 *   objects): scalars match only an equal scalar, objects match objects having at least those
 *   fields, arrays match arrays having at least those elements.
 * - `undefined` (reachable from graph code only) means "the field is absent", which is what
 *   `itemValue === undefined` tests in InMemoryStore.
 */

import type { ComparisonOperator, ValueCondition } from "../db/sql/store.ts";

export const FILTER_OPERATORS = [
  "$eq",
  "$ne",
  "$gt",
  "$gte",
  "$lt",
  "$lte",
  "$in",
  "$nin",
] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function isFilterOperator(key: string): key is FilterOperator {
  return (FILTER_OPERATORS as readonly string[]).includes(key);
}

export function isOperatorSet(value: unknown): value is Partial<Record<FilterOperator, unknown>> {
  return isPlainObject(value) && Object.keys(value).every(isFilterOperator);
}

export function parseFilter(filter: Record<string, unknown> | undefined): ValueCondition[] {
  if (!filter) return [];
  const conditions: ValueCondition[] = [];
  for (const [field, expected] of Object.entries(filter)) {
    if (isOperatorSet(expected)) {
      for (const [operator, operand] of Object.entries(expected)) {
        conditions.push(operatorCondition(field, operator as FilterOperator, operand));
      }
    } else if (expected === undefined) {
      conditions.push({ kind: "absent", field });
    } else {
      conditions.push({ kind: "contains", field, value: expected });
    }
  }
  return conditions;
}

function operatorCondition(
  field: string,
  operator: FilterOperator,
  operand: unknown,
): ValueCondition {
  switch (operator) {
    case "$eq":
      return operand === undefined
        ? { kind: "absent", field }
        : { kind: "eq", field, value: operand };
    case "$ne":
      return operand === undefined
        ? { kind: "present", field }
        : { kind: "ne", field, value: operand };
    case "$gt":
    case "$gte":
    case "$lt":
    case "$lte":
      return {
        kind: operator.slice(1) as ComparisonOperator,
        field,
        number: Number(operand),
      };
    // InMemoryStore: `$in` of a non-list matches nothing, `$nin` of a non-list matches everything.
    case "$in":
      return Array.isArray(operand) ? { kind: "in", field, values: operand } : { kind: "never" };
    case "$nin":
      return Array.isArray(operand) ? { kind: "nin", field, values: operand } : { kind: "always" };
  }
}
