// Applies the committed SQL migrations under prisma/migrations/ on start, the way
// `prisma migrate deploy` would, using nothing but pg (the Prisma CLI's native schema engine is
// not available offline, and the server must not need it).
//
// Compatibility with Prisma: the bookkeeping table is Prisma's own `_prisma_migrations` (same
// DDL, same checksum: SHA-256 hex of migration.sql, matched line-ending-agnostically like the
// engine does), so the real CLI can take over wherever it runs. Differences, on purpose:
// - each migration runs inside its own transaction together with its bookkeeping row, so a
//   failing migration leaves nothing behind (no half-applied schema, no failed row) and is
//   simply retried on the next start once fixed. Migrations must therefore be transaction-safe
//   (no CREATE INDEX CONCURRENTLY, no BEGIN/COMMIT, no use of an enum value added in the same
//   file);
// - a migration edited after it was applied is an error here, not a warning.
//
// Concurrency: the whole check-and-apply runs under a session advisory lock on key 72707369,
// the key Prisma Migrate itself uses on PostgreSQL, so two server processes (or a server and
// `prisma migrate deploy`) serialise: the second waits, then finds everything applied.
import { createHash, randomUUID } from "node:crypto";
import type { Dirent } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type pg from "pg";

/** Prisma Migrate's advisory lock key on PostgreSQL (`SELECT pg_advisory_lock(72707369)`). */
export const MIGRATION_LOCK_KEY = "72707369";

export interface Migration {
  /** Directory name, e.g. `20261121055428_init`; also `_prisma_migrations.migration_name`. */
  name: string;
  /** Contents of migration.sql. */
  sql: string;
  /** SHA-256 of migration.sql as 64 lowercase hex digits. */
  checksum: string;
}

export interface ApplyMigrationsOptions {
  migrationsDir: string;
  log?: (msg: string) => void;
}

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;
const SELECT_ROWS = `
SELECT migration_name, checksum, finished_at, rolled_back_at
FROM "_prisma_migrations"
ORDER BY started_at, migration_name`;
const INSERT_STARTED = `
INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at)
VALUES ($1, $2, $3, clock_timestamp())`;
const MARK_FINISHED = `
UPDATE "_prisma_migrations"
SET finished_at = clock_timestamp(), applied_steps_count = applied_steps_count + 1
WHERE id = $1`;

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest();
const hex = (digest: Buffer) => digest.toString("hex");
/** Prisma engines before issues/1887 wrote each byte without zero padding. */
const legacyHex = (digest: Buffer) => [...digest].map((b) => b.toString(16)).join("");

/** Whether `sql` matches a recorded checksum, ignoring LF/CRLF differences (as Prisma does). */
export function checksumMatches(sql: string, recorded: string): boolean {
  const variants = [sql, sql.replaceAll("\r\n", "\n"), sql.replaceAll("\n", "\r\n")];
  const format = recorded.length === 64 ? hex : legacyHex;
  return variants.some((v) => format(sha256(v)) === recorded);
}

/** Every `<dir>/migration.sql` under `dir`, in directory-name (apply) order. */
export async function listMigrations(dir: string): Promise<Migration[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new Error(`Migrations directory ${dir} cannot be read`, { cause: error });
  }
  const migrations: Migration[] = [];
  for (const entry of entries.filter((e) => e.isDirectory())) {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, entry.name, "migration.sql"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw error;
    }
    migrations.push({
      name: entry.name,
      sql: bytes.toString("utf8"),
      checksum: hex(sha256(bytes)),
    });
  }
  return migrations.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Applies every migration of `migrationsDir` not yet recorded in `_prisma_migrations`, in
 * directory-name order, each in its own transaction. Idempotent and safe to call from several
 * processes at once. Throws, naming the migration, when a recorded migration failed earlier
 * (finished_at NULL, as the Prisma CLI leaves it), when an applied migration.sql was modified,
 * or when a migration fails to apply.
 */
export async function applyMigrations(
  pool: pg.Pool,
  options: ApplyMigrationsOptions,
): Promise<{ applied: string[] }> {
  const log = options.log ?? (() => {});
  const migrations = await listMigrations(options.migrationsDir);
  const client = await pool.connect();
  let broken = false;
  try {
    const { rows } = await client.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock($1::bigint) AS locked",
      [MIGRATION_LOCK_KEY],
    );
    if (!rows[0]?.locked) {
      log("waiting for another process to finish applying migrations");
      await client.query("SELECT pg_advisory_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
    }
    try {
      return await applyLocked(client, migrations, log);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1::bigint)", [MIGRATION_LOCK_KEY]);
    }
  } catch (error) {
    // A connection in an unknown state (e.g. failed ROLLBACK) must not go back to the pool
    // holding the lock; destroying it releases the lock server-side.
    broken = !(error instanceof MigrationError);
    throw error;
  } finally {
    client.release(broken);
  }
}

/** An error the migrator raised itself; the connection is still clean. */
class MigrationError extends Error {
  override name = "MigrationError";
}

async function applyLocked(
  client: pg.PoolClient,
  migrations: Migration[],
  log: (msg: string) => void,
): Promise<{ applied: string[] }> {
  await client.query(CREATE_TABLE);
  const { rows } = await client.query<MigrationRow>(SELECT_ROWS);

  const failed = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
  if (failed.length > 0) {
    const names = failed.map((r) => r.migration_name).join(", ");
    throw new MigrationError(
      `Migration ${names} failed in an earlier attempt (_prisma_migrations.finished_at is NULL). ` +
        "Repair the database by hand, then mark it resolved (`prisma migrate resolve " +
        `--rolled-back ${failed[0]!.migration_name}\` or set rolled_back_at) before starting again.`,
    );
  }

  const applied = new Map<string, MigrationRow>();
  for (const row of rows) {
    if (row.finished_at !== null && row.rolled_back_at === null) {
      applied.set(row.migration_name, row);
    }
  }
  for (const migration of migrations) {
    const row = applied.get(migration.name);
    if (row && !checksumMatches(migration.sql, row.checksum)) {
      throw new MigrationError(
        `Migration ${migration.name} was modified after it was applied: migration.sql has ` +
          `checksum ${migration.checksum}, _prisma_migrations recorded ${row.checksum}. ` +
          "Restore the original file and put the change in a new migration.",
      );
    }
  }
  const local = new Set(migrations.map((m) => m.name));
  for (const name of applied.keys()) {
    if (!local.has(name)) log(`migration ${name} is applied but missing from the migrations dir`);
  }

  const done: string[] = [];
  for (const migration of migrations.filter((m) => !applied.has(m.name))) {
    const id = randomUUID();
    const started = performance.now();
    await client.query("BEGIN");
    try {
      await client.query(INSERT_STARTED, [id, migration.checksum, migration.name]);
      await client.query(migration.sql);
      await client.query(MARK_FINISHED, [id]);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK");
      const reason = error instanceof Error ? error.message : String(error);
      throw new MigrationError(
        `Migration ${migration.name} failed and was rolled back: ${reason}`,
        { cause: error },
      );
    }
    done.push(migration.name);
    log(`applied migration ${migration.name} in ${Math.round(performance.now() - started)} ms`);
  }
  return { applied: done };
}
