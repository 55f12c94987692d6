import { lexicographicSortSchema } from "graphql";
import { builder } from "./builder.ts";
import "./scalars.ts";
import "./info.ts";
import "./graph.ts";

export function buildSchema() {
  return builder.toSchema();
}

/** The schema as committed in schema.graphql (sorted, so diffs stay small). */
export function buildSortedSchema() {
  return lexicographicSortSchema(buildSchema());
}
