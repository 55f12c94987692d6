-- Creating a run on an idle thread in one round trip.
--
-- A run on a thread with nothing in flight, due now, with a free worker slot in the creating
-- process, is inserted claimed by one statement outside any transaction block (no BEGIN, no
-- COMMIT). That statement must lock the thread's row before it decides the thread is idle, and
-- decide it from a snapshot taken after the lock is granted: otherwise a run another creator
-- committed while this one waited for the lock would be missed, and two runs of the thread
-- would execute at once. Hence a function, whose statements each take a fresh snapshot.
--
-- Returns no row when the thread does not exist. Otherwise `idle` says whether the thread has
-- no run pending or running and is not waiting at an interrupt; when it is, `prev_thread` is
-- the last event of the thread's log (where the new run's attempt opens). The lock is held to
-- the end of the caller's statement, which inserts the run only when `idle`.
CREATE FUNCTION "lgql_lock_idle_thread"(p_thread uuid)
RETURNS TABLE (idle boolean, prev_thread bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_status "ThreadStatus";
BEGIN
  SELECT t.status INTO v_status FROM "thread" t WHERE t.id = p_thread FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_status = 'INTERRUPTED' OR EXISTS (
    SELECT 1 FROM "run" r WHERE r.thread_id = p_thread AND r.status IN ('PENDING', 'RUNNING')
  ) THEN
    RETURN QUERY SELECT false, NULL::bigint;
    RETURN;
  END IF;
  RETURN QUERY SELECT true,
    coalesce((SELECT max(e.id) FROM "run_event" e WHERE e.thread_id = p_thread), 0)::bigint;
END
$$;
