import { lexicographicSortSchema } from "graphql";
import { builder } from "./builder.ts";
import "./scalars.ts";
import "./info.ts";
import "./graph.ts";
import "./store.ts";
import "./assistant.ts";
import "./thread.ts";
import "./run.ts";
import "./stream.ts";
import "./cron.ts";

export function buildSchema() {
  return builder.toSchema();
}

/** The schema as committed in schema.graphql (sorted, so diffs stay small). */
export function buildSortedSchema() {
  return lexicographicSortSchema(buildSchema());
}
