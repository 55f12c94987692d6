import { fileURLToPath } from "node:url";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import type { DatabaseConfig } from "../config.ts";
import { PrismaClient } from "../generated/prisma/client.ts";
import { startEmbeddedPostgres } from "./embedded.ts";
import { applyMigrations } from "./migrate.ts";
import { GENERIC_PLANS, withSessionSettings } from "./session.ts";
import { groupStatements, type StatementSender, socketOf } from "./statement-group.ts";

export interface Database {
  url: string;
  /** Shared by Prisma (through its adapter) and by the raw SQL in src/db/sql/. */
  pool: pg.Pool;
  prisma: PrismaClient;
  /**
   * For single statements that only insert new rows and never wait on a lock (see
   * groupStatements): under load, those issued in one event-loop turn share one write. `unflushed`
   * for statements that commit without waiting for the WAL flush (each its own transaction);
   * `durable` for those that wait for it (in one transaction, one flush for the group).
   */
  grouped: { unflushed: StatementSender; durable: StatementSender };
  /**
   * Runs `fn` in a transaction on one pooled connection: committed if it returns, else rolled
   * back. `durable: false` commits without waiting for the WAL flush: only for work nobody has
   * been told of yet, which the next durable commit (any later one) makes durable too. `opening`:
   * a parameterless statement (from src/db/sql/) sent with BEGIN, in the same round trip.
   */
  transaction<T>(
    fn: (client: pg.PoolClient) => Promise<T>,
    options?: { durable?: boolean; opening?: string },
  ): Promise<T>;
  close(): Promise<void>;
}

export interface ServerDatabase {
  url: string;
  embedded: boolean;
  /** Stops the embedded server when this process started it; no-op otherwise. */
  stop(): Promise<void>;
}

const MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations/", import.meta.url));

/** Where the database lives: the configured server, or an embedded one we start. */
export async function resolveServer(
  config: DatabaseConfig,
  log: (message: string) => void,
): Promise<ServerDatabase> {
  if (config.kind === "external") {
    return { url: config.url, embedded: false, stop: async () => {} };
  }
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, log });
  return { url: embedded.url, embedded: true, stop: () => embedded.stop() };
}

export async function migrate(url: string, log: (message: string) => void) {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on("error", () => {});
  try {
    return await applyMigrations(pool, { migrationsDir: MIGRATIONS_DIR, log });
  } finally {
    await pool.end();
  }
}

export function openDatabase(url: string, options: { maxConnections?: number } = {}): Database {
  const pool = new pg.Pool({
    connectionString: withSessionSettings(url, GENERIC_PLANS),
    max: options.maxConnections ?? 20,
    // A statement is sent without waiting for the replies to those before it on the connection
    // (each still gets its own reply, in order): transaction() and callers that send independent
    // statements at once save round trips; a caller that awaits each statement sees no change.
    pipeline: true,
    // A connection whose server vanished without a word (a host or network gone) is found dead
    // by the kernel instead of waited on for ever.
    keepAlive: true,
  });
  // An idle client that loses its connection emits here; without a listener it would crash us.
  pool.on("error", () => {});
  // A client checked out (a transaction, a statement group, Prisma) has no pool listener: a
  // server restart or pg_terminate_backend would emit 'error' on it with none, and end the
  // process. The statement in flight fails on its own, and the pool drops the client when it
  // comes back (it is no longer queryable).
  pool.on("connect", (client) => client.on("error", () => {}));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    url,
    pool,
    prisma,
    grouped: {
      unflushed: groupStatements(pool),
      durable: groupStatements(pool, { inOneTransaction: true }),
    },
    async transaction(fn, options) {
      const client = await pool.connect();
      // One simple query however many statements, and not awaited: fn's first statement goes out
      // behind it at once, so opening a transaction costs no round trip of its own. If it fails
      // (the opening's lock timing out), fn's statements fail as the aborted transaction's, and
      // the opening's error is the one reported.
      const begin =
        options?.durable === false ? "BEGIN; SET LOCAL synchronous_commit TO off" : "BEGIN";
      // Corked until fn's synchronous part has run: the opening and fn's first statement leave in
      // one write. Each write wakes the server's backend, and on a busy machine that syscall cost
      // more than the statement it carried (~70 µs measured under load).
      const socket = socketOf(client);
      socket.cork();
      const opened = client.query(options?.opening ? `${begin}; ${options.opening}` : begin);
      opened.catch(() => undefined);
      // fn runs now, up to its first await; a synchronous throw becomes the body's rejection.
      const body = (async () => fn(client))();
      socket.uncork();
      try {
        // A failed opening's error replaces the body's (which only echoes it).
        const result = await body.finally(() => opened);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    async close() {
      await prisma.$disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}
