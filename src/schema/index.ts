import { lexicographicSortSchema } from "graphql";
import { DEFAULT_SECURITY } from "../config.ts";
import { guardArguments } from "./argument-guard.ts";
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

export function buildSchema(options: { maxJsonDepth: number } = DEFAULT_SECURITY) {
  return guardArguments(builder.toSchema(), options);
}

/** The schema as committed in schema.graphql (sorted, so diffs stay small). */
export function buildSortedSchema() {
  return lexicographicSortSchema(buildSchema());
}
