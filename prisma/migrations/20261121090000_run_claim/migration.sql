-- Claiming a run and opening its attempt in the stream log, in one round trip.
--
-- A worker claims a run (PENDING -> RUNNING under a lease, only if due and first in its
-- thread's line) and learns where the attempt starts in the event log: the run's and the
-- thread's last event and a first block of event ids. The log position must be read after
-- the thread's key-share lock is granted, in a statement of its own (a new snapshot), so that
-- an end repair holding the thread's row lock is either seen or sees this run RUNNING: hence a
-- function, whose statements each take a fresh snapshot.
--
-- The claim commits asynchronously: losing it in a database crash leaves the run PENDING to be
-- claimed again, and any later synchronous commit (the run's end) makes it durable first.
-- Returns no row when the run is not claimable; a unique violation (another RUNNING run on the
-- thread) reaches the caller, which treats it the same way.
CREATE FUNCTION "lgql_claim_run"(p_run uuid, p_owner text, p_lease_seconds double precision, p_reserve integer)
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
    lease_expires_at = now() + make_interval(secs => p_lease_seconds),
    started_at = coalesce(r.started_at, now()), updated_at = now()
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
