import type { CheckpointSaverTestInitializer } from "@langchain/langgraph-checkpoint-validation";
import pg from "pg";
import { createCheckpointSaver, type PrismaCheckpointSaver } from "../src/checkpoint/saver.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/db.ts";

/**
 * The validation suite's initializer: every checkpointer it creates gets a fresh migrated
 * database, dropped again when the suite destroys the checkpointer.
 */
export function checkpointSaverInitializer(
  options: { snapshotEvery?: number } = {},
): CheckpointSaverTestInitializer<PrismaCheckpointSaver> {
  const resources = new Map<PrismaCheckpointSaver, { db: TestDatabase; pool: pg.Pool }>();
  return {
    checkpointerName: "langgraph-gql PrismaCheckpointSaver",
    async createCheckpointer() {
      const db = await createTestDatabase();
      const pool = new pg.Pool({ connectionString: db.url, max: 4 });
      pool.on("error", () => {}); // an idle client cut off by the final DROP DATABASE
      const saver = createCheckpointSaver({ pool, snapshotEvery: options.snapshotEvery });
      resources.set(saver, { db, pool });
      return saver;
    },
    async destroyCheckpointer(saver) {
      const owned = resources.get(saver);
      if (owned === undefined) return;
      resources.delete(saver);
      await owned.pool.end();
      await owned.db.drop();
    },
    async afterAll() {
      for (const saver of [...resources.keys()]) await this.destroyCheckpointer?.(saver);
    },
  };
}
