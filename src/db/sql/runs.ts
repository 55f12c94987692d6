import type pg from "pg";
import type { Run } from "../../generated/prisma/client.ts";
import { isUuid } from "../../validation.ts";
import { FIRST_EVENT_BLOCK } from "./events.ts";
import { storableJson } from "./json.ts";
import { type ExecutionRun, executionRun, rowToRun } from "./reads.ts";
import { workerLost } from "./workers.ts";

/**
 * The run engine's SQL. Correctness lives here, in the database: a partial unique index allows one
 * RUNNING run per thread, claims are conditional updates, and leases are timestamps any process
 * can check. NOTIFY only wakes processes up; nothing depends on receiving one.
 */

/**
 * NOTIFY channel: a run may be claimable. Payload: the run id, followed by ` <job id>` when the
 * run is due now (a worker may claim it directly, and cancel that job when the run ends).
 */
export const RUNS_CHANNEL = "lgql_runs";
/** NOTIFY channel: a run reached a final status or was cancelled (payload: JSON {runId, kind}). */
export const RUN_CONTROL_CHANNEL = "lgql_run_control";

export function runAnnouncement(runId: string, jobId: string | null): string {
  return jobId ? `${runId} ${jobId}` : runId;
}

export function parseRunAnnouncement(payload: string): { runId: string; jobId: string | null } {
  const [runId = "", jobId = null] = payload.split(" ");
  return { runId, jobId };
}

type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

export async function notify(db: Queryable, channel: string, payload: string): Promise<void> {
  await db.query({
    name: "lgql_notify",
    text: "SELECT pg_notify($1, $2)",
    values: [channel, payload],
  });
}

/**
 * Takes a thread's row lock for the rest of the transaction: run creation, cancellation and state
 * edits on one thread happen one at a time, so double-texting decisions see a stable picture.
 */
export async function lockThread(
  client: pg.PoolClient,
  threadId: string,
): Promise<{ id: string; status: string; graph_id: string | null; metadata: unknown } | null> {
  const { rows } = await client.query({
    name: "lgql_lock_thread",
    text: "SELECT id, status, graph_id, metadata FROM thread WHERE id = $1::uuid FOR UPDATE",
    values: [threadId],
  });
  return rows[0] ?? null;
}

/** Whether a thread has the checkpoint a run asks to start from (read under the thread's lock). */
export async function checkpointExists(
  client: pg.PoolClient,
  threadId: string,
  checkpointNs: string,
  checkpointId: string,
): Promise<boolean> {
  const { rowCount } = await client.query({
    name: "lgql_run_checkpoint_exists",
    text: "SELECT 1 FROM checkpoint WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = $3",
    values: [threadId, checkpointNs, checkpointId],
  });
  return (rowCount ?? 0) > 0;
}

/**
 * lockThread without its answer, to open a transaction with (see Database.transaction: sent with
 * BEGIN in one round trip). A simple query takes no parameters: the id is inlined, so it must be
 * a UUID.
 */
export function lockThreadOpening(threadId: string): string {
  if (!isUuid(threadId)) throw new Error(`lockThreadOpening: not a UUID: ${threadId}`);
  return `SELECT 1 FROM thread WHERE id = '${threadId}'::uuid FOR UPDATE`;
}

export interface InFlightRun {
  id: string;
  status: "PENDING" | "RUNNING";
  created_at: Date;
}

export async function inFlightRuns(client: Queryable, threadId: string): Promise<InFlightRun[]> {
  const { rows } = await client.query<InFlightRun>({
    name: "lgql_in_flight_runs",
    text: `SELECT id::text, status::text AS status, created_at FROM run
     WHERE thread_id = $1::uuid AND status IN ('PENDING', 'RUNNING') ORDER BY created_at, id`,
    values: [threadId],
  });
  return rows;
}

export interface RunnableRun {
  id: string;
  available_at: Date;
  /** Its place in the whole queue: runs start in creation order (see runJobPriority). */
  created_at: Date;
  /** Due now (by the database's clock), not delayed by afterSeconds. */
  due: boolean;
}

/**
 * The run that should execute next on a thread: the oldest pending one, if no run is running.
 * (Enqueued runs start in creation order.)
 */
export async function nextRunnable(
  client: Queryable,
  threadId: string,
): Promise<RunnableRun | null> {
  const { rows } = await client.query({
    name: "lgql_next_runnable",
    text: `SELECT id::text, available_at, created_at, available_at <= now() AS due FROM run r
     WHERE r.thread_id = $1::uuid AND r.status = 'PENDING'
       AND NOT EXISTS (SELECT 1 FROM run x WHERE x.thread_id = r.thread_id AND x.status = 'RUNNING')
     ORDER BY r.created_at, r.id LIMIT 1`,
    values: [threadId],
  });
  return rows[0] ?? null;
}

/** Where an attempt of a run starts in the stream log (see `lgql_claim_run`). */
export interface LogPlace {
  /** The run's and the thread's last event before the attempt (0: none). */
  prevRun: number;
  prevThread: number;
  /** A first block of event ids for the attempt, ascending. */
  ids: number[];
}

export interface ClaimedRun {
  run: ExecutionRun;
  place: LogPlace;
  /** Known to have no checkpoint yet (claimed with its creation, on a thread that has none). */
  threadFresh: boolean;
}

/**
 * PENDING -> RUNNING under a lease, only if the run is still pending, due, and first in its
 * thread's line; with everything executing it needs (its assistant and thread) and its place in
 * the stream log, in one round trip. Null when another worker got it, it was cancelled, or it
 * must wait. The unique index on running runs per thread turns any remaining race into a failed
 * claim.
 */
export async function claimRun(
  pool: pg.Pool,
  runId: string,
  owner: string,
  leaseSeconds: number,
  reserveIds: number,
): Promise<ClaimedRun | null> {
  try {
    const { rows } = await pool.query({
      name: "lgql_claim_run",
      text: `SELECT (c.claimed).*, c.prev_run::text, c.prev_thread::text, c.ids::text[],
               a.graph_id AS assistant_graph_id, a.config AS assistant_config,
               a.context AS assistant_context, a.metadata AS assistant_metadata,
               t.config AS thread_config, t.metadata AS thread_metadata
             FROM lgql_claim_run($1::uuid, $2, $3, $4) c
             JOIN assistant a ON a.id = (c.claimed).assistant_id
             JOIN thread t ON t.id = (c.claimed).thread_id`,
      values: [runId, owner, leaseSeconds, reserveIds],
    });
    return rows[0] ? claimedRun(rows[0]) : null;
  } catch (error) {
    if ((error as { code?: string }).code === "23505") return null;
    throw error;
  }
}

/** A claim's row: the run with its assistant and thread, and its place in the stream log. */
function claimedRun(row: Record<string, unknown>): ClaimedRun {
  return {
    run: executionRun(row),
    place: {
      prevRun: Number(row.prev_run),
      prevThread: Number(row.prev_thread),
      ids: (row.ids as string[]).map(Number).sort((a, b) => a - b),
    },
    threadFresh: row.thread_fresh === true,
  };
}

/** Extends the leases of the runs this worker executes; returns those it still holds. */
export async function renewLeases(
  pool: pg.Pool,
  owner: string,
  runIds: string[],
  leaseSeconds: number,
): Promise<Array<{ id: string; cancel_action: string | null }>> {
  if (runIds.length === 0) return [];
  const { rows } = await pool.query({
    name: "lgql_renew_leases",
    text: `UPDATE run SET lease_expires_at = now() + make_interval(secs => $3)
     WHERE id = ANY($2::uuid[]) AND lease_owner = $1 AND status = 'RUNNING'
     RETURNING id::text, cancel_action::text`,
    values: [owner, runIds, leaseSeconds],
  });
  return rows;
}

export interface LapsedRun {
  id: string;
  thread_id: string;
  attempt: number;
  /** How its worker was found gone: its session ended, or (hung while connected) its lease lapsed. */
  cause: "session" | "lease";
}

/**
 * Running runs that lost their worker (see workerLost): it died or lost its connection, or it
 * hangs past its lease. Locked so that of several processes reaping at once, each run is handled
 * by one; and, as a run's executor takes a key-share lock on the run with every checkpoint and
 * event it writes (see the fences in checkpoint.ts and events.ts), taking a run over waits for a
 * write of the old attempt in flight, and any later one finds the run no longer its own.
 */
export async function lockLapsedRuns(client: pg.PoolClient, limit: number): Promise<LapsedRun[]> {
  const { rows } = await client.query<LapsedRun>({
    name: "lgql_lock_lapsed_runs",
    text: `SELECT r.id::text, r.thread_id::text, r.attempt,
       CASE WHEN r.lease_expires_at < now() THEN 'lease' ELSE 'session' END AS cause
     FROM run r
     WHERE r.status = 'RUNNING' AND ${workerLost("r")}
     ORDER BY r.lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
    values: [limit],
  });
  return rows;
}

/** A run goes back to the queue (after a crash, or a graceful shutdown that could not wait). */
export async function requeueRun(client: Queryable, runId: string): Promise<void> {
  await client.query({
    name: "lgql_requeue_run",
    text: `UPDATE run SET status = 'PENDING', lease_owner = NULL, lease_expires_at = NULL,
       available_at = now(), updated_at = now()
     WHERE id = $1::uuid`,
    values: [runId],
  });
}

/**
 * How many runs wait, due, for a worker, counted up to `limit` (admission control reads no
 * further: one index range of at most `limit` entries on (status, available_at)).
 */
export async function pendingRunsUpTo(db: Queryable, limit: number): Promise<number> {
  const { rows } = await db.query<{ pending: number }>({
    name: "lgql_pending_runs_up_to",
    text: `SELECT count(*)::int AS pending FROM (
       SELECT 1 FROM run WHERE status = 'PENDING' AND available_at <= now() LIMIT $1) waiting`,
    values: [limit],
  });
  return rows[0]?.pending ?? 0;
}

/** Earliest time a pending run becomes due, so idle workers know when to look again. */
export async function nextDueAt(pool: pg.Pool): Promise<Date | null> {
  const { rows } = await pool.query<{ at: Date | null }>({
    name: "lgql_next_due_at",
    text: "SELECT min(available_at) AS at FROM run WHERE status = 'PENDING' AND available_at > now()",
  });
  return rows[0]?.at ?? null;
}

export interface NewRun {
  id: string;
  threadId: string;
  assistantId: string;
  multitaskStrategy: string;
  input: unknown;
  command: unknown;
  config: unknown;
  context: unknown;
  metadata: unknown;
  checkpoint: unknown;
  interruptBefore: string[];
  interruptAfter: string[];
  streamModes: string[];
  streamSubgraphs: boolean;
  durability: string;
  webhook: string | null;
  onCompletion: string | null;
  onDisconnect: string;
  afterSeconds: number;
  cronId: string | null;
  authUser: Record<string, unknown> | null;
  /** The assistant's row version when it came from memory (see ASSISTANT_CURRENT), else null. */
  assistantStamp: string | null;
}

const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

/**
 * A run claimed as it is created, by a worker in the creating process with a free slot: it is
 * inserted RUNNING under that worker's lease, with its place in the stream log, so it starts
 * without a queue job, a NOTIFY or a claim round trip. Only for a run first in its thread's line
 * and due now; the thread's row lock (or the thread being created in the same statement) makes
 * the log position as safe to read as `lgql_claim_run` makes it. Its start is the clock's time, not
 * the transaction's: the transaction may have begun before the run ahead of it ended, then waited
 * for the thread's lock.
 */
export interface CreationClaim {
  owner: string;
  leaseSeconds: number;
}

/**
 * The run's assistant is still at the version its creator read from memory ($25, a row version:
 * see stampedAssistantById), or was read for this run ($25 null). Every insert of a run or of
 * its thread checks it, so nothing is written with a stale assistant.
 */
const ASSISTANT_CURRENT = `EXISTS (SELECT 1 FROM assistant g
       WHERE g.id = $3::uuid AND ($25::text IS NULL OR g.xmin::text = $25::text))`;

/** Inserts the run from $1..$25 (see runValues); `from` and `condition` may gate it further. */
function insertRunStatement(from = "", condition = "true"): string {
  return `INSERT INTO run (id, thread_id, assistant_id, cron_id, status, multitask_strategy,
       input, command, config, context, metadata, checkpoint, interrupt_before, interrupt_after,
       stream_modes, stream_subgraphs, durability, webhook, on_completion, on_disconnect,
       available_at, updated_at, auth_user, attempt, lease_owner, lease_expires_at, started_at)
     SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid,
       CASE WHEN $22::text IS NULL THEN 'PENDING' ELSE 'RUNNING' END::"RunStatus",
       $5::"MultitaskStrategy", $6::jsonb,
       $7::jsonb, $8::jsonb, $9::jsonb, $10::jsonb, $11::jsonb, $12::text[], $13::text[], $14::text[],
       $15, $16::"Durability", $17, $18::"OnCompletion", $19::"OnDisconnect",
       now() + make_interval(secs => $20), now(), $21::jsonb,
       CASE WHEN $22::text IS NULL THEN 0 ELSE 1 END, $22::text,
       CASE WHEN $22::text IS NULL THEN NULL
         ELSE clock_timestamp() + make_interval(secs => $23::double precision) END,
       CASE WHEN $22::text IS NULL THEN NULL ELSE clock_timestamp() END
     ${from} WHERE ${ASSISTANT_CURRENT} AND ${condition}
     RETURNING *`;
}

/**
 * What a claimed insert returns besides the run: what executing it needs, as `lgql_claim_run`
 * returns it (a new run has no events before its attempt). `t` is the CTE holding the thread's
 * row as the statement leaves it; `prevThread` the thread's last event id, read after its lock;
 * `fresh` whether the thread is known to have no checkpoint.
 */
function claimColumns(
  prevThread = "(SELECT coalesce(max(e.id), 0) FROM run_event e WHERE e.thread_id = $2::uuid)",
  fresh = "false",
): string {
  return `${fresh} AS thread_fresh, a.graph_id AS assistant_graph_id, a.config AS assistant_config,
       a.context AS assistant_context, a.metadata AS assistant_metadata,
       t.config AS thread_config, t.metadata AS thread_metadata, '0' AS prev_run,
       CASE WHEN $22::text IS NOT NULL THEN ${prevThread}::text END AS prev_thread,
       CASE WHEN $22::text IS NOT NULL THEN
         ARRAY(SELECT nextval('run_event_id_seq'::regclass) FROM generate_series(1, $24::int))::text[] END AS ids`;
}

/** Marks a thread as held by the run `inserted` (see insertRun), if there is one. */
function holdThreadStatement(): string {
  return `UPDATE thread SET status = 'BUSY', graph_id = coalesce(graph_id, $26),
         metadata = metadata || jsonb_build_object('graph_id', coalesce(graph_id, $26), 'assistant_id', $3::text),
         updated_at = now()
       WHERE id = $2::uuid AND EXISTS (SELECT 1 FROM inserted)
       RETURNING config, metadata`;
}

function runValues(run: NewRun, claim: CreationClaim | null): unknown[] {
  return [
    run.id,
    run.threadId,
    run.assistantId,
    run.cronId,
    run.multitaskStrategy,
    json(run.input),
    json(run.command),
    json(run.config),
    json(run.context),
    json(run.metadata),
    json(run.checkpoint),
    run.interruptBefore,
    run.interruptAfter,
    run.streamModes,
    run.streamSubgraphs,
    run.durability,
    run.webhook,
    run.onCompletion,
    run.onDisconnect,
    run.afterSeconds,
    run.authUser ? JSON.stringify(run.authUser) : null,
    claim?.owner ?? null,
    claim?.leaseSeconds ?? 0,
    FIRST_EVENT_BLOCK,
    run.assistantStamp,
  ];
}

export interface InsertedRun {
  run: Run;
  /** Set when the insert claimed the run (see CreationClaim). */
  claimed: ClaimedRun | null;
}

function insertedRun(row: Record<string, unknown>): InsertedRun {
  if (row.lease_owner === null) return { run: rowToRun(row), claimed: null };
  const claimed = claimedRun(row);
  return { run: claimed.run, claimed };
}

/**
 * Inserts a run on an existing thread and marks the thread as held by it: BUSY, bound to the
 * run's graph, and (as LangGraph records it) carrying graph_id and assistant_id in its metadata.
 * One statement. `announcement` (a RUNS_CHANNEL payload, or null) is NOTIFYed with it, delivered
 * at commit; with `claim`, the run is inserted claimed instead (the caller holds the thread's row
 * lock and knows the run is first in line and due). Null when the run's assistant is no longer
 * at `assistantStamp`: nothing was written.
 */
export async function insertRun(
  client: Queryable,
  run: NewRun,
  graphId: string,
  announcement: string | null,
  claim: CreationClaim | null = null,
): Promise<InsertedRun | null> {
  const { rows } = await client.query({
    name: "lgql_insert_run",
    text: `WITH inserted AS (${insertRunStatement()}), t AS (${holdThreadStatement()})
     SELECT inserted.*, ${claimColumns()},
       (SELECT pg_notify($27, $28) WHERE $28::text IS NOT NULL) AS announced
     FROM inserted JOIN assistant a ON a.id = inserted.assistant_id LEFT JOIN t ON true`,
    values: [...runValues(run, claim), graphId, RUNS_CHANNEL, announcement],
  });
  return rows[0] ? insertedRun(rows[0]) : null;
}

/**
 * Inserts a run claimed (see CreationClaim) on an existing thread, in one statement of its own,
 * only if the thread is idle: no run pending or running, not waiting at an interrupt (decided,
 * and the thread held, under its row lock by `lgql_lock_idle_thread`). Returns null when it is
 * not, does not exist, or the assistant changed (as insertRun): nothing was written, and the
 * caller takes the general path. Committed asynchronously unless `durable`.
 */
export async function insertRunOnIdleThread(
  db: Queryable,
  run: NewRun,
  graphId: string,
  claim: CreationClaim,
  options: { durable: boolean },
): Promise<InsertedRun | null> {
  const { rows } = await db.query({
    name: "lgql_insert_run_on_idle_thread",
    text: `WITH gate AS (SELECT * FROM lgql_lock_idle_thread($2::uuid, $3::uuid, $25::text, $26)),
     inserted AS (${insertRunStatement("FROM gate", "gate.idle")}),
     t AS (SELECT gate.config, gate.metadata FROM gate WHERE gate.idle)
     SELECT inserted.*, ${claimColumns("(SELECT prev_thread FROM gate)", "(SELECT fresh FROM gate)")},
       (SELECT set_config('synchronous_commit', 'off', true) WHERE NOT $27::boolean) AS async_commit
     FROM inserted JOIN assistant a ON a.id = inserted.assistant_id LEFT JOIN t ON true`,
    values: [...runValues(run, claim), graphId, options.durable],
  });
  return rows[0] ? insertedRun(rows[0]) : null;
}

/**
 * Inserts a run together with the (temporary) thread it creates, BUSY from the start, and
 * NOTIFYs `announcement` or inserts the run claimed (see insertRun). Outside a transaction the
 * statement is one, committed asynchronously unless `durable`. Null, with nothing written, when
 * the assistant changed (as insertRun).
 */
export async function insertRunWithThread(
  client: Queryable,
  run: NewRun,
  thread: { graphId: string; metadata: Record<string, unknown> },
  announcement: string | null,
  claim: CreationClaim | null = null,
  options: { durable: boolean } = { durable: true },
): Promise<InsertedRun | null> {
  const { rows } = await client.query({
    name: "lgql_insert_run_with_thread",
    // The thread is created by this statement: it has no events and no checkpoint yet.
    text: `WITH t AS (
       INSERT INTO thread (id, status, metadata, graph_id, updated_at)
       SELECT $2::uuid, 'BUSY', $26::jsonb, $27, now() WHERE ${ASSISTANT_CURRENT}
       RETURNING config, metadata
     ), inserted AS (${insertRunStatement()})
     SELECT inserted.*, ${claimColumns("0", "true")},
       (SELECT pg_notify($28, $29) WHERE $29::text IS NOT NULL) AS announced,
       (SELECT set_config('synchronous_commit', 'off', true) WHERE NOT $30::boolean) AS async_commit
     FROM inserted JOIN assistant a ON a.id = inserted.assistant_id LEFT JOIN t ON true`,
    values: [
      ...runValues(run, claim),
      JSON.stringify(thread.metadata),
      thread.graphId,
      RUNS_CHANNEL,
      announcement,
      options.durable,
    ],
  });
  return rows[0] ? insertedRun(rows[0]) : null;
}

export async function lockRun(
  client: pg.PoolClient,
  runId: string,
): Promise<{ id: string; thread_id: string; status: string } | null> {
  const { rows } = await client.query({
    name: "lgql_lock_run",
    text: "SELECT id::text, thread_id::text, status::text FROM run WHERE id = $1::uuid FOR UPDATE",
    values: [runId],
  });
  return rows[0] ?? null;
}

/** A pending run stops before it started (cancel INTERRUPT, or superseded by a new run). */
export async function interruptPendingRun(client: Queryable, runId: string): Promise<void> {
  await client.query({
    name: "lgql_interrupt_pending_run",
    text: `UPDATE run SET status = 'INTERRUPTED', ended_at = now(), updated_at = now(),
       lease_owner = NULL, lease_expires_at = NULL
     WHERE id = $1::uuid AND status = 'PENDING'`,
    values: [runId],
  });
}

export async function deleteRunRow(client: Queryable, runId: string): Promise<void> {
  await client.query({
    name: "lgql_delete_run_row",
    text: "DELETE FROM run WHERE id = $1::uuid",
    values: [runId],
  });
}

/** Asks the worker executing a run to stop it; the worker finishes it as the action says. */
export async function requestCancel(
  client: Queryable,
  runId: string,
  action: string,
): Promise<void> {
  await client.query({
    name: "lgql_request_cancel",
    text: `UPDATE run SET cancel_action = $2::"CancelAction", updated_at = now()
     WHERE id = $1::uuid AND status = 'RUNNING'`,
    values: [runId, action],
  });
}

export interface RunEnd {
  status: "SUCCESS" | "ERROR" | "TIMEOUT" | "INTERRUPTED";
  error: { type: string; message: string } | null;
}

/**
 * RUNNING -> a final status, if this worker still holds the run, and its thread left as the run
 * left it: the latest state cached (`state`, unless null), and `settled` as its status unless
 * another run is in flight there (BUSY). One statement (the caller holds the thread's lock, so
 * no run joins the line meanwhile); the finished row and the thread's next run in line, else
 * null. `announcement` is NOTIFYed on RUN_CONTROL_CHANNEL (delivered at commit) when it finished.
 */
export async function finishRun(
  client: Queryable,
  runId: string,
  owner: string,
  end: RunEnd,
  thread: {
    state: { values: unknown; interrupts: unknown[] } | null;
    settled: "IDLE" | "INTERRUPTED" | "ERROR";
  },
  announcement: string,
): Promise<{ run: Run; next: RunnableRun | null } | null> {
  const { rows } = await client.query({
    name: "lgql_finish_run",
    text: `WITH finished AS (
       UPDATE run SET status = $3::"RunStatus", error = $4::jsonb, ended_at = now(), updated_at = now(),
         lease_owner = NULL, lease_expires_at = NULL, cancel_action = NULL
       WHERE id = $1::uuid AND lease_owner = $2 AND status = 'RUNNING'
       RETURNING *
     ), settled AS (
       UPDATE thread t SET values = coalesce($5::jsonb, t.values),
         interrupts = coalesce($6::jsonb, t.interrupts), updated_at = now(),
         status = CASE
           WHEN EXISTS (SELECT 1 FROM run r WHERE r.thread_id = t.id AND r.id <> $1::uuid
                        AND r.status IN ('PENDING', 'RUNNING'))
             THEN 'BUSY'::"ThreadStatus"
           ELSE $7::"ThreadStatus" END
       WHERE t.id = (SELECT thread_id FROM finished)
     )
     SELECT finished.*, pg_notify($8, $9) AS announced,
       next.id::text AS next_id, next.available_at AS next_available_at,
       next.created_at AS next_created_at, next.available_at <= now() AS next_due
     FROM finished
     LEFT JOIN LATERAL (
       SELECT r.id, r.available_at, r.created_at FROM run r
       WHERE r.thread_id = finished.thread_id AND r.status = 'PENDING'
       ORDER BY r.created_at, r.id LIMIT 1
     ) next ON true`,
    values: [
      runId,
      owner,
      end.status,
      end.error ? storableJson(end.error) : null,
      thread.state ? storableJson(thread.state.values) : null,
      thread.state ? storableJson(thread.state.interrupts) : null,
      thread.settled,
      RUN_CONTROL_CHANNEL,
      announcement,
    ],
  });
  const row = rows[0];
  if (!row) return null;
  return {
    run: rowToRun(row),
    next: row.next_id
      ? {
          id: row.next_id,
          available_at: row.next_available_at,
          created_at: row.next_created_at,
          due: row.next_due,
        }
      : null,
  };
}

/** Gives a run back to the queue from the worker holding it (graceful shutdown). */
export async function releaseRun(
  client: Queryable,
  runId: string,
  owner: string,
): Promise<boolean> {
  const { rowCount } = await client.query({
    name: "lgql_release_run",
    text: `UPDATE run SET status = 'PENDING', lease_owner = NULL, lease_expires_at = NULL,
       available_at = now(), updated_at = now()
     WHERE id = $1::uuid AND lease_owner = $2 AND status = 'RUNNING'`,
    values: [runId, owner],
  });
  return (rowCount ?? 0) > 0;
}

/** Stores what the latest state shows, as cached on the thread row. */
export async function setThreadState(
  client: Queryable,
  threadId: string,
  state: { values: unknown; interrupts: unknown[] } | null,
): Promise<void> {
  if (!state) return;
  await client.query({
    name: "lgql_set_thread_state",
    text: `UPDATE thread SET values = $2::jsonb, interrupts = $3::jsonb, updated_at = now() WHERE id = $1::uuid`,
    values: [threadId, storableJson(state.values), storableJson(state.interrupts)],
  });
}

/**
 * A thread's status: BUSY while a run is pending or running; otherwise `settled` when the caller
 * knows it (how the run that just ended left the thread), else derived from what the thread
 * shows: INTERRUPTED if interrupts wait, ERROR if its last run failed, IDLE.
 */
export async function settleThreadStatus(
  client: Queryable,
  threadId: string,
  settled: "IDLE" | "INTERRUPTED" | "ERROR" | null = null,
): Promise<void> {
  await client.query({
    name: "lgql_settle_thread_status",
    text: `UPDATE thread t SET updated_at = now(), status = CASE
       WHEN EXISTS (SELECT 1 FROM run r WHERE r.thread_id = t.id AND r.status IN ('PENDING', 'RUNNING'))
         THEN 'BUSY'::"ThreadStatus"
       WHEN $2::text IS NOT NULL THEN $2::"ThreadStatus"
       WHEN jsonb_array_length(t.interrupts) > 0 THEN 'INTERRUPTED'::"ThreadStatus"
       WHEN (SELECT r.status FROM run r WHERE r.thread_id = t.id AND r.ended_at IS NOT NULL
             ORDER BY r.ended_at DESC, r.created_at DESC LIMIT 1) IN ('ERROR', 'TIMEOUT')
         THEN 'ERROR'::"ThreadStatus"
       ELSE 'IDLE'::"ThreadStatus" END
     WHERE t.id = $1::uuid`,
    values: [threadId, settled],
  });
}

/** The id of the last root checkpoint a run wrote, if any. */
export async function lastRunCheckpoint(
  pool: Queryable,
  threadId: string,
  runId: string,
): Promise<string | null> {
  const { rows } = await pool.query<{ checkpoint_id: string }>({
    name: "lgql_last_run_checkpoint",
    text: `SELECT checkpoint_id FROM checkpoint
     WHERE thread_id = $1 AND checkpoint_ns = '' AND metadata ->> 'run_id' = $2
     ORDER BY checkpoint_id DESC LIMIT 1`,
    values: [threadId, runId],
  });
  return rows[0]?.checkpoint_id ?? null;
}

export async function saveOutcome(
  client: Queryable,
  runId: string,
  result: unknown,
  threadMetadata: unknown,
  keepSeconds: number,
): Promise<void> {
  await client.query({
    name: "lgql_save_outcome",
    text: `INSERT INTO run_outcome (run_id, result, thread_metadata, expires_at)
     VALUES ($1::uuid, $2::jsonb, $3::jsonb, now() + make_interval(secs => $4))
     ON CONFLICT (run_id) DO UPDATE SET result = excluded.result,
       thread_metadata = excluded.thread_metadata, expires_at = excluded.expires_at`,
    values: [
      runId,
      storableJson(result),
      threadMetadata ? JSON.stringify(threadMetadata) : null,
      keepSeconds,
    ],
  });
}

/** A kept outcome, if its thread's metadata (when it ended) contains `scope` (null: any). */
export async function loadOutcome(
  pool: Queryable,
  runId: string,
  scope: object | null,
): Promise<unknown | null> {
  const { rows } = await pool.query({
    name: "lgql_load_outcome",
    text: `SELECT result FROM run_outcome WHERE run_id = $1::uuid
       AND ($2::jsonb IS NULL OR coalesce(thread_metadata, '{}'::jsonb) @> $2::jsonb)`,
    values: [runId, scope ? JSON.stringify(scope) : null],
  });
  return rows[0]?.result ?? null;
}

export async function sweepOutcomes(pool: Queryable): Promise<number> {
  const { rowCount } = await pool.query("DELETE FROM run_outcome WHERE expires_at < now()");
  return rowCount ?? 0;
}

export async function deleteThreadRow(client: Queryable, threadId: string): Promise<void> {
  await client.query({
    name: "lgql_delete_thread_row",
    text: "DELETE FROM thread WHERE id = $1::uuid",
    values: [threadId],
  });
}

/** A lapsed run out of attempts ends ERROR, whoever held it. */
export async function finishRunAbandoned(
  client: Queryable,
  runId: string,
  error: { type: string; message: string },
): Promise<void> {
  await client.query({
    name: "lgql_finish_run_abandoned",
    text: `UPDATE run SET status = 'ERROR', error = $2::jsonb, ended_at = now(), updated_at = now(),
       lease_owner = NULL, lease_expires_at = NULL
     WHERE id = $1::uuid AND status = 'RUNNING'`,
    values: [runId, storableJson(error)],
  });
}
