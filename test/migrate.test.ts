import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { applyMigrations, listMigrations } from "../src/db/migrate.ts";
import { createEmptyDatabase, type TestDatabase } from "./helpers/db.ts";

const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "prisma", "migrations");

interface Row {
  migration_name: string;
  checksum: string;
  applied_steps_count: number;
  finished_at: Date | null;
}

describe("applyMigrations", () => {
  let db: TestDatabase;
  const pools: pg.Pool[] = [];
  const newPool = () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    // The database is dropped WITH (FORCE) after each test; a connection still closing then gets
    // the server's termination notice, which is expected, not a failure.
    pool.on("error", () => {});
    pools.push(pool);
    return pool;
  };
  const rows = async (pool: pg.Pool) =>
    (
      await pool.query<Row>(
        `SELECT migration_name, checksum, applied_steps_count, finished_at
         FROM "_prisma_migrations" ORDER BY migration_name`,
      )
    ).rows;

  beforeEach(async () => {
    db = await createEmptyDatabase();
  });

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.end()));
    await db.drop();
  });

  it("applies the init migration and records it like prisma migrate deploy", async () => {
    const migrations = await listMigrations(migrationsDir);
    const init = migrations[0]!;
    expect(init.name).toMatch(/^\d{14}_init$/);
    const bytes = await readFile(join(migrationsDir, init.name, "migration.sql"));
    const pool = newPool();

    const { applied } = await applyMigrations(pool, { migrationsDir });

    expect(applied).toEqual(migrations.map((m) => m.name));
    const [row, ...rest] = await rows(pool);
    expect(row).toMatchObject({
      migration_name: init.name,
      checksum: createHash("sha256").update(bytes).digest("hex"),
      applied_steps_count: 1,
    });
    expect(row!.finished_at).toBeInstanceOf(Date);
    expect(rest).toHaveLength(migrations.length - 1);
    const { rows: tables } = await pool.query(
      "SELECT to_regclass('public.thread') AS thread, to_regclass('public.store_item') AS store",
    );
    expect(tables[0]).toEqual({ thread: "thread", store: "store_item" });
  });

  it("applies nothing the second time", async () => {
    const pool = newPool();
    await applyMigrations(pool, { migrationsDir });
    const before = await rows(pool);

    const { applied } = await applyMigrations(pool, { migrationsDir });

    expect(applied).toEqual([]);
    expect(await rows(pool)).toEqual(before);
  });

  it("applies each migration exactly once when two processes start at once", async () => {
    const migrations = await listMigrations(migrationsDir);
    const logs: string[] = [];

    const results = await Promise.all(
      [newPool(), newPool()].map((pool) =>
        applyMigrations(pool, { migrationsDir, log: (m) => logs.push(m) }),
      ),
    );

    expect(results.flatMap((r) => r.applied).sort()).toEqual(migrations.map((m) => m.name));
    expect(results.some((r) => r.applied.length === 0)).toBe(true);
    expect((await rows(newPool())).map((r) => r.migration_name)).toEqual(
      migrations.map((m) => m.name),
    );
  });

  it("refuses to start when an applied migration was modified", async () => {
    const pool = newPool();
    await applyMigrations(pool, { migrationsDir });
    const name = (await listMigrations(migrationsDir))[0]!.name;
    await pool.query(`UPDATE "_prisma_migrations" SET checksum = $1 WHERE migration_name = $2`, [
      "0".repeat(64),
      name,
    ]);

    await expect(applyMigrations(pool, { migrationsDir })).rejects.toThrow(
      new RegExp(`Migration ${name} was modified after it was applied`),
    );
  });

  it("refuses to start when a recorded migration failed earlier", async () => {
    const pool = newPool();
    await applyMigrations(pool, { migrationsDir });
    const name = (await listMigrations(migrationsDir))[0]!.name;
    await pool.query(
      `UPDATE "_prisma_migrations" SET finished_at = NULL WHERE migration_name = $1`,
      [name],
    );

    await expect(applyMigrations(pool, { migrationsDir })).rejects.toThrow(
      new RegExp(`Migration ${name} failed in an earlier attempt`),
    );
  });

  it("rolls a failing migration back completely and names it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "migrations-"));
    try {
      await cp(migrationsDir, dir, { recursive: true });
      const bad = "99991231235959_broken";
      await mkdir(join(dir, bad));
      await writeFile(
        join(dir, bad, "migration.sql"),
        'CREATE TABLE "half_done" (id int);\nSELECT * FROM "no_such_table";\n',
      );
      const pool = newPool();

      await expect(applyMigrations(pool, { migrationsDir: dir })).rejects.toThrow(
        new RegExp(`Migration ${bad} failed and was rolled back: .*no_such_table`),
      );

      const recorded = (await rows(pool)).map((r) => r.migration_name);
      expect(recorded).toEqual((await listMigrations(migrationsDir)).map((m) => m.name));
      const { rows: check } = await pool.query("SELECT to_regclass('half_done') AS t");
      expect(check[0].t).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
