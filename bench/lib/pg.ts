/**
 * PostgreSQL helpers for benchmarks: throw-away databases, statement/commit counting, and table
 * sizes. Nothing here knows about a particular subject.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

export const DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres";

/** The same server and credentials, another database. */
export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A new empty database on the server of `serverUrl`, named `<prefix>_<random>`. */
export async function createScratchDatabase(
  serverUrl: string,
  prefix: string,
): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(serverUrl, name),
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface StatementCounts {
  /** Every statement sent, BEGIN/COMMIT included (each is a round trip). */
  statements: number;
  /** Explicit COMMITs plus statements run outside a transaction block (each commits itself). */
  commits: number;
}

export interface StatementCounter {
  /** Counts since the last reset. */
  read(): StatementCounts;
  reset(): void;
}

/**
 * Counts what a pool's clients send, by wrapping `query` on every client the pool hands out
 * (pool.query and pool.connect both check a client out, so both are seen; clients created before
 * the call are wrapped at their next checkout). Only code under test should use `pool` while
 * counting. This is the fallback for servers without pg_stat_statements; unlike it, it needs no
 * superuser or restart, and it counts round trips rather than server-side statements.
 */
export function countStatements(pool: pg.Pool): StatementCounter {
  const counts: StatementCounts = { statements: 0, commits: 0 };
  const wrapped = new WeakSet<pg.PoolClient>();
  pool.on("acquire", (client) => {
    if (wrapped.has(client)) return;
    wrapped.add(client);
    let inTransaction = false;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (
      ...args: unknown[]
    ) => {
      const first = args[0];
      const text = (typeof first === "string" ? first : ((first as { text?: string })?.text ?? ""))
        .trim()
        .toUpperCase();
      counts.statements += 1;
      if (text.startsWith("BEGIN") || text.startsWith("START TRANSACTION")) inTransaction = true;
      else if (text.startsWith("COMMIT") || text.startsWith("END")) {
        counts.commits += 1;
        inTransaction = false;
      } else if (text.startsWith("ROLLBACK")) inTransaction = false;
      else if (!inTransaction) counts.commits += 1;
      return query(...args);
    };
  });
  return {
    read: () => ({ ...counts }),
    reset() {
      counts.statements = 0;
      counts.commits = 0;
    },
  };
}

/** pg_total_relation_size (heap + TOAST + indexes) summed over `tables`, in bytes. */
export async function relationBytes(pool: pg.Pool, tables: readonly string[]): Promise<number> {
  const { rows } = await pool.query<{ bytes: string }>(
    "SELECT coalesce(sum(pg_total_relation_size(t::regclass)), 0)::bigint AS bytes FROM unnest($1::text[]) AS t",
    [tables],
  );
  return Number(rows[0]?.bytes ?? 0);
}
