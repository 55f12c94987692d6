import type pg from "pg";
import type { ThreadTtlSettings } from "../config.ts";
import type { Database } from "../db/database.ts";
import { deleteIdleThreads, lockIdleThreads } from "../db/sql/thread-ttl.ts";
import type { Logger } from "../log.ts";
import { every, type Periodic } from "../periodic.ts";

/**
 * langgraph.json `checkpointer.ttl` (strategy "delete"): every sweep interval, threads idle for
 * longer than the TTL are deleted with their runs, crons and checkpoints, at most `sweepLimit`
 * per sweep. Every process sweeps; they split the work (see src/db/sql/thread-ttl.ts).
 */
export function createThreadTtlSweeper(deps: {
  db: Database;
  /** Deletes a thread's checkpoints inside the sweep's transaction (and forgets cached ones). */
  deleteCheckpoints: (threadId: string, client: pg.PoolClient) => Promise<void>;
  log: Logger;
  options: ThreadTtlSettings;
}) {
  const { db, log, options } = deps;
  let periodic: Periodic | null = null;

  /** One sweep; answers the ids of the threads it deleted. */
  async function sweep(): Promise<string[]> {
    const deleted = await db.transaction(async (client) => {
      const locked = await lockIdleThreads(client, options.defaultTtlMinutes, options.sweepLimit);
      if (locked.length === 0) return [];
      const ids = await deleteIdleThreads(client, locked);
      // Sent together: the pool pipelines them on the transaction's connection.
      await Promise.all(ids.map((id) => deps.deleteCheckpoints(id, client)));
      return ids;
    });
    if (deleted.length > 0) {
      log.info(
        `deleted ${deleted.length} thread(s) idle for over ${options.defaultTtlMinutes} minutes (checkpointer.ttl)`,
      );
    }
    return deleted;
  }

  return {
    sweep,
    start() {
      periodic ??= every(options.sweepIntervalMinutes * 60_000, sweep, log, "thread TTL sweep");
    },
    async stop() {
      await periodic?.stop();
      periodic = null;
    },
  };
}

export type ThreadTtlSweeper = ReturnType<typeof createThreadTtlSweeper>;
