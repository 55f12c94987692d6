import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { migrate } from "../src/db/database.ts";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";
import { databaseUrl } from "./helpers/db-url.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** A URL of the test PostgreSQL server (any database on it). */
    pgServerUrl: string;
    /** A migrated database every test database is cloned from. */
    pgTemplate: string;
  }
}

/**
 * One PostgreSQL for the whole run: DATABASE_URL's server, or an embedded one under
 * .data/test. A template database is migrated once; each test file clones its own from it.
 */
export default async function setup(project: TestProject) {
  let serverUrl = process.env.DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres({
      dataDir: resolve(import.meta.dirname, "..", ".data", "test"),
      log: () => {},
    });
    serverUrl = embedded.url;
    stopEmbedded = embedded.owned ? () => embedded.stop() : undefined;
  }

  const template = `lgql_template_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: databaseUrl(serverUrl, "postgres") });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${template}"`);
  await migrate(databaseUrl(serverUrl, template), () => {});

  project.provide("pgServerUrl", serverUrl);
  project.provide("pgTemplate", template);

  return async () => {
    const leftovers = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2",
      [template, `${template}_%`],
    );
    for (const { datname } of leftovers.rows) {
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    await admin.end();
    await stopEmbedded?.();
  };
}
