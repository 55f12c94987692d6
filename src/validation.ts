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

/** A JSON object argument (config, context, metadata, filters): not an array, not a scalar. */
export function jsonObject(value: unknown, field: string): JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InvalidInputError(`${field} must be a JSON object, got ${JSON.stringify(value)}`, {
      field,
    });
  }
  return value as JsonObject;
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
