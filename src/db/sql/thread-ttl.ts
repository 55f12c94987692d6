import type pg from "pg";

/**
 * checkpointer.ttl's SQL: threads idle (not updated: created, run, edited) for longer than the
 * TTL are deleted, their runs and crons by cascade; the caller deletes their checkpoints in the
 * same transaction.
 *
 * Safe with several processes sweeping at once: candidates are row-locked with SKIP LOCKED, so
 * each thread is taken by one sweeper, and a thread row someone holds (a run being created on
 * it holds a key-share lock until it commits) is left for a later sweep.
 */

/** Locks up to `limit` threads idle for `ttlMinutes` and not busy, oldest first. */
export async function lockIdleThreads(
  client: pg.PoolClient,
  ttlMinutes: number,
  limit: number,
): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>({
    name: "lgql_lock_idle_threads",
    text: `SELECT id::text FROM thread
       WHERE updated_at < now() - make_interval(secs => $1 * 60) AND status <> 'BUSY'
       ORDER BY updated_at LIMIT $2
       FOR UPDATE SKIP LOCKED`,
    values: [ttlMinutes, limit],
  });
  return rows.map((row) => row.id);
}

/**
 * Deletes the locked threads that still have no run pending or running. A separate statement
 * from the lock, so it sees every run committed before the lock was taken (one statement's
 * snapshot would predate them); none can be added meanwhile, since that needs the row.
 */
export async function deleteIdleThreads(client: pg.PoolClient, ids: string[]): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>({
    name: "lgql_delete_idle_threads",
    text: `DELETE FROM thread t WHERE t.id = ANY($1::uuid[])
       AND NOT EXISTS (SELECT 1 FROM run r WHERE r.thread_id = t.id AND r.status IN ('PENDING', 'RUNNING'))
       RETURNING t.id::text`,
    values: [ids],
  });
  return rows.map((row) => row.id);
}
