-- Creating a run on an idle thread in one round trip.
--
-- A run on a thread with nothing in flight, due now, with a free worker slot in the creating
-- process, is inserted claimed by one statement outside any transaction block (no BEGIN, no
-- COMMIT). That statement must lock the thread's row before it decides the thread is idle, and
-- decide it from a snapshot taken after the lock is granted: otherwise a run another creator
-- committed while this one waited for the lock would be missed, and two runs of the thread
-- would execute at once. Hence a function, whose statements each take a fresh snapshot. For the
-- same reason the thread is marked as held by the new run here (BUSY, bound to the run's graph,
-- as LangGraph records it), not by the caller's statement, whose snapshot may predate the
-- thread's row.
--
-- Returns no row when the thread does not exist. Otherwise `idle` says whether the thread has
-- no run pending or running, is not waiting at an interrupt, and the run's assistant is still at
-- the row version its creator read (`p_assistant_stamp`, null: any). When it is, the thread is
-- held, and the function returns the thread's config and metadata as held, the last event of its
-- log (`prev_thread`, where the new run's attempt opens) and whether it has no checkpoint yet
-- (`fresh`: the run then reads none; runs and state edits write checkpoints under this lock; a
-- thread created with supersteps, or copied, gets its checkpoints just after its row commits,
-- and a run created on it in that moment starts from an empty state). The lock is held to the
-- end of the caller's statement, which inserts the run only when `idle`.
CREATE FUNCTION "lgql_lock_idle_thread"(p_thread uuid, p_assistant uuid, p_assistant_stamp text, p_graph text)
RETURNS TABLE (idle boolean, prev_thread bigint, fresh boolean, config jsonb, metadata jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_status "ThreadStatus";
BEGIN
  SELECT t.status INTO v_status FROM "thread" t WHERE t.id = p_thread FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_status = 'INTERRUPTED'
    OR EXISTS (SELECT 1 FROM "run" r
               WHERE r.thread_id = p_thread AND r.status IN ('PENDING', 'RUNNING'))
    OR NOT EXISTS (SELECT 1 FROM "assistant" a
                   WHERE a.id = p_assistant
                     AND (p_assistant_stamp IS NULL OR a.xmin::text = p_assistant_stamp))
  THEN
    RETURN QUERY SELECT false, NULL::bigint, NULL::boolean, NULL::jsonb, NULL::jsonb;
    RETURN;
  END IF;
  RETURN QUERY
    WITH held AS (
      UPDATE "thread" t SET status = 'BUSY', graph_id = coalesce(t.graph_id, p_graph),
        metadata = t.metadata || jsonb_build_object(
          'graph_id', coalesce(t.graph_id, p_graph), 'assistant_id', p_assistant::text),
        updated_at = now()
      WHERE t.id = p_thread
      RETURNING t.config, t.metadata
    )
    SELECT true,
      coalesce((SELECT max(e.id) FROM "run_event" e WHERE e.thread_id = p_thread), 0)::bigint,
      NOT EXISTS (SELECT 1 FROM "checkpoint" c WHERE c.thread_id = p_thread::text),
      held.config, held.metadata
    FROM held;
END
$$;

-- A claim's start and lease are the clock's time, not its statement's: the statement may have
-- begun before the run ahead of it ended, then waited for the thread's lock (as runs claimed at
-- creation do; see lgql_lock_idle_thread's callers).
CREATE OR REPLACE FUNCTION "lgql_claim_run"(p_run uuid, p_owner text, p_lease_seconds double precision, p_reserve integer)
RETURNS TABLE (claimed "run", prev_run bigint, prev_thread bigint, ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE
  v_thread uuid;
  v_run "run";
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT r.thread_id INTO v_thread FROM "run" r WHERE r.id = p_run AND r.status = 'PENDING';
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM 1 FROM "thread" WHERE id = v_thread FOR KEY SHARE;
  UPDATE "run" r SET status = 'RUNNING', attempt = r.attempt + 1, lease_owner = p_owner,
    lease_expires_at = clock_timestamp() + make_interval(secs => p_lease_seconds),
    started_at = coalesce(r.started_at, clock_timestamp()), updated_at = now()
  WHERE r.id = p_run AND r.status = 'PENDING' AND r.available_at <= now()
    AND NOT EXISTS (SELECT 1 FROM "run" x WHERE x.thread_id = r.thread_id AND x.status = 'PENDING'
                    AND (x.created_at, x.id) < (r.created_at, r.id))
  RETURNING r.* INTO v_run;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT v_run,
    coalesce((SELECT max(e.id) FROM "run_event" e WHERE e.run_id = p_run), 0)::bigint,
    coalesce((SELECT max(e.id) FROM "run_event" e WHERE e.thread_id = v_thread), 0)::bigint,
    ARRAY(SELECT nextval('run_event_id_seq'::regclass) FROM generate_series(1, p_reserve));
END
$$;
