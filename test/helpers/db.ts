import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { databaseUrl } from "./db-url.ts";

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: databaseUrl(inject("pgServerUrl"), "postgres"),
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function create(template: string | null): Promise<TestDatabase> {
  const name = `${inject("pgTemplate")}_${randomBytes(4).toString("hex")}`;
  await withAdmin(async (client) => {
    // Two workers cloning the template at the same instant can collide on its lock; retry.
    for (let attempt = 0; ; attempt++) {
      try {
        await client.query(
          template
            ? `CREATE DATABASE "${name}" TEMPLATE "${template}"`
            : `CREATE DATABASE "${name}"`,
        );
        return;
      } catch (error) {
        if (attempt >= 10 || !/being accessed by other users/.test(String(error))) throw error;
        await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
      }
    }
  });
  return {
    name,
    url: databaseUrl(inject("pgServerUrl"), name),
    drop: () =>
      withAdmin(async (client) => {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }),
  };
}

/** A database with every migration applied, private to the caller. */
export function createTestDatabase(): Promise<TestDatabase> {
  return create(inject("pgTemplate"));
}

/** An empty, unmigrated database, private to the caller. */
export function createEmptyDatabase(): Promise<TestDatabase> {
  return create(null);
}
