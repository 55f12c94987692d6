import type pg from "pg";
import type { StatementSender } from "../statement-group.ts";
import { storableJson } from "./json.ts";

/**
 * The stream event log's SQL.
 *
 * Ids come from run_event's own sequence, reserved in blocks by the writer of a run, so the
 * process executing a run can hand events to its local subscribers with their final ids before
 * they are committed. Whoever appends to a run's log does so in id order, one batch after the
 * other, which keeps "id > cursor" reads gap-free per run; per thread the same holds because a
 * thread executes one run at a time and every other writer (end repairs) holds the thread's row
 * lock and checks that no run is executing (see `lockThreadForRepair`).
 */

/**
 * NOTIFY channel: a thread's metadata changed, or the thread was deleted (payload: its id). Who
 * may see it, and so follow its events, may have changed: open streams check again.
 */
export const THREAD_ACCESS_CHANNEL = "lgql_thread_access";

/** Announces a change to who may see a thread; inside the changing transaction when given one. */
export async function notifyThreadAccess(
  db: { $executeRaw: (query: TemplateStringsArray, ...values: unknown[]) => PromiseLike<number> },
  threadId: string,
): Promise<void> {
  // $executeRaw: pg_notify returns void, which $queryRaw cannot read back.
  await db.$executeRaw`SELECT pg_notify(${THREAD_ACCESS_CHANNEL}, ${threadId})`;
}

/** NOTIFY channel: a batch of events was committed (payload: `BatchNotice` JSON). */
export const RUN_EVENTS_CHANNEL = "lgql_run_events";

/** What a NOTIFY says about a committed batch: enough to read exactly it and link it. */
export interface BatchNotice {
  /** run id */
  r: string;
  /** thread id */
  t: string;
  /** first and last event id of the batch */
  f: number;
  l: number;
  /** the run's and the thread's event before the batch (0: none) */
  p: number;
  q: number;
  /** the writing process, which delivered the batch from memory already */
  o: string;
}

export type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

export interface EventRow {
  id: string;
  run_id: string;
  thread_id: string;
  kind: string;
  namespace: string[] | null;
  payload: unknown;
}

export interface NewEvent {
  id: number;
  kind: string;
  namespace: string[];
  payload: unknown;
}

// Ordered by `run_event.id`: the text alias `id` would sort "10" before "2".
const COLUMNS = "id::text, run_id::text, thread_id::text, kind, namespace, payload";

/** `count` fresh ids, ascending. */
export async function reserveIds(db: Queryable, count: number): Promise<number[]> {
  const { rows } = await db.query<{ id: string }>({
    name: "lgql_reserve_ids",
    text: "SELECT nextval('run_event_id_seq'::regclass)::text AS id FROM generate_series(1, $1)",
    values: [count],
  });
  return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
}

/** Event ids a run's claim reserves for its attempt (see `lgql_claim_run`); more come in blocks. */
export const FIRST_EVENT_BLOCK = 64;

/**
 * What an append writes: `held` guards it by the run's lease when $2 (the owner) is set. Its
 * key-share lock orders the append against a takeover (see lockLapsedRuns): one in flight
 * commits first, one after finds the run taken.
 */
const APPEND = `WITH held AS (
       SELECT 1 FROM run WHERE id = $1::uuid AND lease_owner = $2 AND status = 'RUNNING'
       FOR KEY SHARE
     ), ins AS (
       INSERT INTO run_event (id, run_id, thread_id, kind, namespace, payload)
       SELECT e.id, $1::uuid, $3::uuid, e.kind, e.namespace, coalesce(e.payload, '{}'::jsonb)
       FROM jsonb_to_recordset($4::jsonb) AS e(id bigint, kind text, namespace text[], payload jsonb)
       WHERE $2::text IS NULL OR EXISTS (SELECT 1 FROM held)
       RETURNING 1
     )`;

export interface AppendBatch {
  runId: string;
  threadId: string;
  owner: string | null;
  events: NewEvent[];
  notice: BatchNotice;
}

function appendValues(batch: AppendBatch): unknown[] {
  return [
    batch.runId,
    batch.owner,
    batch.threadId,
    storableJson(batch.events),
    RUN_EVENTS_CHANNEL,
    JSON.stringify(batch.notice),
  ];
}

/**
 * Appends a batch (one commit, one NOTIFY) and returns whether it was written. With `owner`,
 * only while that worker still holds the run: a worker that lost its lease (stalled past it,
 * while another resumed the run) must not interleave its stale events with the new attempt's.
 */
export async function appendEvents(db: StatementSender, batch: AppendBatch): Promise<boolean> {
  const { rows } = await db.query<{ n: number }>({
    name: "lgql_append_events",
    text: `${APPEND}
     SELECT n, (SELECT pg_notify($5, $6) WHERE n > 0) AS notified
     FROM (SELECT count(*)::int AS n FROM ins) AS c`,
    values: appendValues(batch),
  });
  return (rows[0]?.n ?? 0) > 0;
}

/**
 * Appends a run's closing batch, in the transaction recording its end (thread locked), and says
 * whether other runs of the thread ended within `withinSeconds` with no end in their log (see
 * unendedRunsOfThread): asked in the same round trip, as it almost never finds one.
 */
export async function appendEndEvents(
  db: Queryable,
  batch: AppendBatch,
  withinSeconds: number,
): Promise<{ othersUnended: boolean }> {
  const { rows } = await db.query<{ others_unended: boolean }>({
    name: "lgql_append_end_events",
    text: `${APPEND}
     SELECT (SELECT pg_notify($5, $6) WHERE n > 0) AS notified,
       EXISTS (${unendedRuns("$7")} AND r.thread_id = $3::uuid AND r.id <> $1::uuid) AS others_unended
     FROM (SELECT count(*)::int AS n FROM ins) AS c`,
    values: [...appendValues(batch), withinSeconds],
  });
  return { othersUnended: rows[0]?.others_unended ?? false };
}

/** A page of a run's (or a whole thread's) events after the cursor, in id order. */
export async function eventsAfter(
  db: Queryable,
  scope: "run" | "thread",
  key: string,
  after: number,
  limit: number,
): Promise<EventRow[]> {
  const column = scope === "run" ? "run_id" : "thread_id";
  const { rows } = await db.query<EventRow>({
    name: `lgql_events_after_${column}`,
    text: `SELECT ${COLUMNS} FROM run_event WHERE ${column} = $1::uuid AND id > $2 ORDER BY run_event.id LIMIT $3`,
    values: [key, after, limit],
  });
  return rows;
}

/** Exactly the batch a NOTIFY announced. */
export async function batchEvents(
  db: Queryable,
  runId: string,
  first: number,
  last: number,
): Promise<EventRow[]> {
  const { rows } = await db.query<EventRow>({
    name: "lgql_batch_events",
    text: `SELECT ${COLUMNS} FROM run_event WHERE run_id = $1::uuid AND id BETWEEN $2 AND $3 ORDER BY run_event.id`,
    values: [runId, first, last],
  });
  return rows;
}

export interface RunLogState {
  /** null: no such run (deleted, or never existed). */
  status: string | null;
  threadId: string | null;
  /** The run ended (or, when the run is gone, its last event was written) this long ago. */
  endedSecondsAgo: number | null;
  lastId: number;
  lastKind: string | null;
}

/** Where a run's log stands: its last event, and the run's status. */
export async function runLogState(db: Queryable, runId: string): Promise<RunLogState> {
  const { rows } = await db.query<{
    status: string | null;
    thread_id: string | null;
    ended_ago: number | null;
    last_id: string | null;
    last_kind: string | null;
    last_ago: number | null;
  }>({
    name: "lgql_run_log_state",
    text: `SELECT r.status::text AS status, coalesce(r.thread_id, e.thread_id)::text AS thread_id,
            extract(epoch FROM now() - r.ended_at)::float8 AS ended_ago,
            e.id::text AS last_id, e.kind AS last_kind,
            extract(epoch FROM now() - e.created_at)::float8 AS last_ago
     FROM (SELECT 1) AS one
     LEFT JOIN run r ON r.id = $1::uuid
     LEFT JOIN LATERAL (SELECT id, kind, thread_id, created_at FROM run_event
                        WHERE run_id = $1::uuid ORDER BY id DESC LIMIT 1) e ON true`,
    values: [runId],
  });
  const row = rows[0]!;
  return {
    status: row.status,
    threadId: row.thread_id,
    endedSecondsAgo: row.status ? row.ended_ago : row.last_ago,
    lastId: Number(row.last_id ?? 0),
    lastKind: row.last_kind,
  };
}

/**
 * Where a thread follower without `after` starts: just before the first event of the run in
 * flight, or after everything the thread has so far.
 */
export async function threadJoinCursor(db: Queryable, threadId: string): Promise<number> {
  const { rows } = await db.query<{ cursor: string }>({
    name: "lgql_thread_join_cursor",
    text: `SELECT coalesce(
       (SELECT min(e.id) - 1 FROM run_event e
        WHERE e.run_id = (SELECT id FROM run WHERE thread_id = $1::uuid AND status = 'RUNNING' LIMIT 1)),
       (SELECT max(id) FROM run_event WHERE thread_id = $1::uuid),
       0)::text AS cursor`,
    values: [threadId],
  });
  return Number(rows[0]?.cursor ?? 0);
}

/**
 * Takes the thread's row lock for an end repair and says whether a repair may write now: only
 * when no run of the thread is executing (its writer appends without the lock; its own end
 * transaction repairs the others instead).
 */
export async function lockThreadForRepair(
  client: pg.PoolClient,
  threadId: string,
): Promise<boolean> {
  const { rows } = await client.query<{ running: boolean }>({
    name: "lgql_lock_thread_for_repair",
    text: `SELECT EXISTS (SELECT 1 FROM run WHERE thread_id = t.id AND status = 'RUNNING') AS running
     FROM thread t WHERE t.id = $1::uuid FOR UPDATE`,
    values: [threadId],
  });
  // No thread row: its runs are gone with it; nothing executes there any more.
  return !rows[0]?.running;
}

/** Whether another run of the thread is executing (and so writing to the thread's log). */
export async function otherRunExecuting(
  db: Queryable,
  threadId: string,
  runId: string,
): Promise<boolean> {
  const { rows } = await db.query<{ running: boolean }>({
    name: "lgql_other_run_executing",
    text: `SELECT EXISTS (SELECT 1 FROM run WHERE thread_id = $1::uuid AND status = 'RUNNING'
                    AND id <> $2::uuid) AS running`,
    values: [threadId, runId],
  });
  return rows[0]?.running ?? false;
}

export async function lastThreadEventId(db: Queryable, threadId: string): Promise<number> {
  const { rows } = await db.query<{ id: string | null }>({
    name: "lgql_last_thread_event_id",
    text: "SELECT max(id)::text AS id FROM run_event WHERE thread_id = $1::uuid",
    values: [threadId],
  });
  return Number(rows[0]?.id ?? 0);
}

/** A run whose log lacks its end although the run is over (it never started, or lost its worker). */
export interface UnendedRun {
  id: string;
  threadId: string;
  status: string;
  attempt: number;
  error: { type: string; message: string } | null;
  /** The run row as JSON (snake_case), for RunStartedEvent when the run never started. */
  row: Record<string, unknown>;
  lastId: number;
}

/** Ended runs whose log lacks its end, ended within `within` (a parameter) seconds. */
function unendedRuns(within: string): string {
  return `SELECT r.id::text, r.thread_id::text, r.status::text, r.attempt, r.error, to_jsonb(r) AS row,
         coalesce(last.id, 0)::text AS last_id
  FROM run r
  LEFT JOIN LATERAL (SELECT id, kind FROM run_event WHERE run_id = r.id ORDER BY id DESC LIMIT 1) last
    ON true
  WHERE r.status IN ('SUCCESS', 'ERROR', 'TIMEOUT', 'INTERRUPTED')
    AND r.ended_at > now() - make_interval(secs => ${within})
    AND last.kind IS DISTINCT FROM 'RUN_ENDED'`;
}

function unended(row: {
  id: string;
  thread_id: string;
  status: string;
  attempt: number;
  error: UnendedRun["error"];
  row: Record<string, unknown>;
  last_id: string;
}): UnendedRun {
  return {
    id: row.id,
    threadId: row.thread_id,
    status: row.status,
    attempt: row.attempt,
    error: row.error,
    row: row.row,
    lastId: Number(row.last_id),
  };
}

/**
 * Runs of a thread that ended within `withinSeconds` without their log saying so — cancelled
 * before they started, or given up after losing their worker. (Older ones' logs are swept.)
 */
export async function unendedRunsOfThread(
  client: Queryable,
  threadId: string,
  withinSeconds: number,
  exceptRunId: string | null,
): Promise<UnendedRun[]> {
  const { rows } = await client.query({
    name: "lgql_unended_runs_of_thread",
    text: `${unendedRuns("$2")} AND r.thread_id = $1::uuid AND r.id IS DISTINCT FROM $3::uuid
     ORDER BY r.ended_at, r.created_at`,
    values: [threadId, withinSeconds, exceptRunId],
  });
  return rows.map(unended);
}

export async function unendedRun(
  client: Queryable,
  runId: string,
  withinSeconds: number,
): Promise<UnendedRun | null> {
  const { rows } = await client.query({
    name: "lgql_unended_run",
    text: `${unendedRuns("$2")} AND r.id = $1::uuid`,
    values: [runId, withinSeconds],
  });
  return rows[0] ? unended(rows[0]) : null;
}

/**
 * Deletes the logs of runs over for more than `retentionSeconds` (ended that long ago, or gone
 * and silent that long), a bounded number of runs per call; returns the events deleted. Only
 * one process sweeps at a time (the others skip).
 */
export async function sweepEvents(
  pool: pg.Pool,
  retentionSeconds: number,
  maxRuns: number,
): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const { rows: lock } = await client.query<{ ok: boolean }>({
      name: "lgql_sweep_events_lock",
      text: "SELECT pg_try_advisory_xact_lock(hashtext('lgql_run_event_sweep')) AS ok",
    });
    if (!lock[0]?.ok) {
      await client.query("ROLLBACK");
      return 0;
    }
    const { rowCount } = await client.query({
      name: "lgql_sweep_events",
      text: `WITH expired AS (
         SELECT DISTINCT e.run_id FROM run_event e LEFT JOIN run r ON r.id = e.run_id
         WHERE e.created_at < now() - make_interval(secs => $1)
           AND (r.id IS NULL OR r.ended_at < now() - make_interval(secs => $1))
           AND NOT EXISTS (SELECT 1 FROM run_event n WHERE n.run_id = e.run_id
                           AND n.created_at >= now() - make_interval(secs => $1))
         LIMIT $2
       )
       DELETE FROM run_event e USING expired x WHERE e.run_id = x.run_id`,
      values: [retentionSeconds, maxRuns],
    });
    await client.query("COMMIT");
    return rowCount ?? 0;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
