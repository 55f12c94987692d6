import type pg from "pg";

/**
 * Whole-thread operations on the checkpoint tables that the API needs beyond LangGraph's saver
 * interface: copying a thread's history and undoing what one run wrote.
 */

/**
 * Copies every checkpoint, blob and pending write of a thread to another thread id in one
 * statement. Checkpoint metadata naming the old thread (run metadata records thread_id) is
 * rewritten to the new one.
 */
export async function copyThreadCheckpoints(
  pool: pg.Pool,
  from: string,
  to: string,
): Promise<void> {
  await pool.query(
    `WITH checkpoints AS (
       INSERT INTO checkpoint (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata, created_at)
       SELECT $2, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint,
              replace(metadata::text, $1, $2)::jsonb, created_at
       FROM checkpoint WHERE thread_id = $1
       RETURNING 1),
     blobs AS (
       INSERT INTO checkpoint_blob (thread_id, checkpoint_ns, channel, version, kind, base_version, depth,
                                    length, type, blob, hash, root_version, created_at)
       SELECT $2, checkpoint_ns, channel, version, kind, base_version, depth, length, type, blob, hash,
              root_version, created_at
       FROM checkpoint_blob WHERE thread_id = $1
       RETURNING 1),
     writes AS (
       INSERT INTO checkpoint_write (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type,
                                     blob, task_path, created_at)
       SELECT $2, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path, created_at
       FROM checkpoint_write WHERE thread_id = $1
       RETURNING 1)
     SELECT (SELECT count(*) FROM checkpoints), (SELECT count(*) FROM blobs), (SELECT count(*) FROM writes)`,
    [from, to],
  );
}

/**
 * Removes everything written on a thread since `since` (a run's start): its checkpoints, the
 * channel values only they used, and pending writes — also those the run made against the
 * checkpoint it started from. A thread executes one run at a time and refuses state edits
 * meanwhile, so what was written since the run started is exactly what the run wrote.
 */
export async function deleteThreadWritesSince(
  pool: pg.Pool,
  threadId: string,
  since: Date,
): Promise<void> {
  await pool.query(
    `WITH checkpoints AS (DELETE FROM checkpoint WHERE thread_id = $1 AND created_at >= $2),
          blobs AS (DELETE FROM checkpoint_blob WHERE thread_id = $1 AND created_at >= $2)
     DELETE FROM checkpoint_write WHERE thread_id = $1 AND created_at >= $2`,
    [threadId, since],
  );
}
