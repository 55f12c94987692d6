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

/**
 * Records, with a real trigger on each of `events` (e.g. "INSERT ON checkpoint"), the
 * synchronous_commit every matching statement ran with, by thread: read them with
 * `SELECT thread_id, mode FROM test_commit_modes`. Returns what removes it all.
 */
export async function recordCommitModes(
  db: Pick<pg.Client, "query">,
  events: string[],
): Promise<() => Promise<void>> {
  const triggers = events.map((event, i) => ({ name: `test_record_commit_mode_${i}`, event }));
  await db.query(`
    CREATE TABLE test_commit_modes (thread_id text, mode text);
    CREATE FUNCTION test_record_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO test_commit_modes VALUES (NEW.thread_id, current_setting('synchronous_commit'));
      RETURN NEW;
    END $$;
    ${triggers
      .map(
        (t) =>
          `CREATE TRIGGER ${t.name} AFTER ${t.event} FOR EACH ROW EXECUTE FUNCTION test_record_commit_mode();`,
      )
      .join("\n")}`);
  return async () => {
    await db.query(`
      ${triggers.map((t) => `DROP TRIGGER ${t.name} ON ${t.event.split(" ON ")[1]};`).join("\n")}
      DROP FUNCTION test_record_commit_mode();
      DROP TABLE test_commit_modes;`);
  };
}
