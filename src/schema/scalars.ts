import { GraphQLError, Kind, type ValueNode } from "graphql";
import { builder } from "./builder.ts";

function literalToValue(node: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.ENUM:
      return node.value;
    case Kind.LIST:
      return node.values.map((value) => literalToValue(value, variables));
    case Kind.OBJECT:
      return Object.fromEntries(
        node.fields.map((field) => [field.name.value, literalToValue(field.value, variables)]),
      );
    case Kind.VARIABLE:
      return variables?.[node.name.value];
  }
}

builder.scalarType("JSON", {
  description: "Any JSON value, passed through exactly as LangGraph serialises it.",
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (node, variables) => literalToValue(node, variables),
});

function parseDateTime(value: unknown): Date {
  if (typeof value === "string") {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime()) && /^\d{4}-\d{2}-\d{2}T/.test(value)) return date;
  }
  throw new GraphQLError(
    `DateTime must be an ISO 8601 date-time string, got ${JSON.stringify(value)}`,
    {
      extensions: { code: "BAD_USER_INPUT" },
    },
  );
}

builder.scalarType("DateTime", {
  description: "An ISO 8601 date-time with time zone, e.g. 2026-01-31T12:00:00.000Z.",
  serialize: (value) =>
    value instanceof Date ? value.toISOString() : new Date(value).toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (node) => parseDateTime(node.kind === Kind.STRING ? node.value : undefined),
});
