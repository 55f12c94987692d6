// Prints the Pothos schema, sorted, to schema.graphql. With --check, fails when the committed
// file differs from what the code defines (run by `npm test`).
import { readFileSync, writeFileSync } from "node:fs";
import { printSchema } from "graphql";
import { buildSortedSchema } from "../src/schema/index.ts";

const path = new URL("../schema.graphql", import.meta.url);
const printed = `${printSchema(buildSortedSchema())}\n`;

if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(path, "utf8");
  } catch {}
  if (committed !== printed) {
    console.error("schema.graphql is stale: run `npm run schema:print` and commit the result.");
    process.exit(1);
  }
} else {
  writeFileSync(path, printed);
}
