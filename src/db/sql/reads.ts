import type pg from "pg";
import type { Assistant, Run, Thread } from "../../generated/prisma/client.ts";
import type { StatementSender } from "../statement-group.ts";

/**
 * Point reads on the hottest paths (`thread(id)`, `run(id)`, the assistant of every new run), and
 * the insert of a new thread, as named prepared statements:
 * a third of the cost of the same read through Prisma's query engine, measured in
 * bench/queries.ts. They return the rows in Prisma's shape so callers cannot tell.
 */

/**
 * A prepared read of one row by id (`text` ends with its `WHERE`), optionally only if `scope`
 * (an auth filter) is contained in `scopeColumn`: two named statements, so each keeps its plan.
 */
function byId(
  name: string,
  text: string,
  id: string,
  scope: object | null,
  scopeColumn = "metadata",
): pg.QueryConfig {
  return scope
    ? {
        name: `${name}_scoped`,
        text: `${text} AND ${scopeColumn} @> $2::jsonb`,
        values: [id, JSON.stringify(scope)],
      }
    : { name, text, values: [id] };
}

const THREAD_COLUMNS =
  "id::text, status::text, metadata, config, graph_id, interrupts, created_at, updated_at";

/**
 * A thread row without `values`: the latest state's values, as large as the thread's whole
 * message list, which nearly every lookup (every run created, every `thread(id)`) would
 * otherwise fetch and parse for nothing. threadValues reads them when asked for.
 */
export type ThreadRow = Omit<Thread, "values">;

/** The thread's `values` column (null: no such thread, or no state yet). */
export async function threadValues(pool: pg.Pool, id: string): Promise<Thread["values"]> {
  const { rows } = await pool.query(
    byId("thread_values_by_id", "SELECT values FROM thread WHERE id = $1::uuid", id, null),
  );
  return rows[0]?.values ?? null;
}

/** The thread, if it exists and its metadata contains `scope` (an auth filter; null: any). */
export async function threadById(
  pool: pg.Pool,
  id: string,
  scope: object | null = null,
): Promise<ThreadRow | null> {
  const { rows } = await pool.query<ThreadColumns>(
    byId("thread_by_id", `SELECT ${THREAD_COLUMNS} FROM thread WHERE id = $1::uuid`, id, scope),
  );
  return rows[0] ? toThreadRow(rows[0]) : null;
}

/**
 * Inserts a new thread (every other column from its defaults); null if the id is taken. One
 * prepared statement: the read-then-insert through Prisma cost two, and the query engine's CPU.
 */
export async function insertThread(
  db: StatementSender,
  thread: { id: string; metadata: object; graphId: string | null },
): Promise<ThreadRow | null> {
  const { rows } = await db.query<ThreadColumns>({
    name: "insert_thread",
    text: `INSERT INTO thread (id, metadata, graph_id) VALUES ($1::uuid, $2::jsonb, $3)
           ON CONFLICT (id) DO NOTHING RETURNING ${THREAD_COLUMNS}`,
    values: [thread.id, JSON.stringify(thread.metadata), thread.graphId],
  });
  return rows[0] ? toThreadRow(rows[0]) : null;
}

interface ThreadColumns {
  id: string;
  status: Thread["status"];
  metadata: Thread["metadata"];
  config: Thread["config"];
  graph_id: string | null;
  interrupts: Thread["interrupts"];
  created_at: Date;
  updated_at: Date;
}

function toThreadRow(row: ThreadColumns): ThreadRow {
  return {
    id: row.id,
    status: row.status,
    metadata: row.metadata,
    config: row.config,
    graphId: row.graph_id,
    interrupts: row.interrupts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The run, if it exists and its thread's metadata contains `scope` (null: any). */
export async function runById(
  pool: pg.Pool,
  id: string,
  scope: object | null = null,
): Promise<Run | null> {
  // Only a scoped read needs the thread.
  const from = scope ? "run r JOIN thread t ON t.id = r.thread_id" : "run r";
  const { rows } = await pool.query(
    byId("run_by_id", `SELECT r.* FROM ${from} WHERE r.id = $1::uuid`, id, scope, "t.metadata"),
  );
  return rows[0] ? rowToRun(rows[0]) : null;
}

/** A run row (SELECT * / RETURNING *) in Prisma's shape. */
export function rowToRun(row: Record<string, any>): Run {
  return {
    id: row.id,
    threadId: row.thread_id,
    assistantId: row.assistant_id,
    cronId: row.cron_id,
    status: row.status,
    multitaskStrategy: row.multitask_strategy,
    input: row.input,
    command: row.command,
    config: row.config,
    context: row.context,
    metadata: row.metadata,
    checkpoint: row.checkpoint,
    interruptBefore: row.interrupt_before ?? [],
    interruptAfter: row.interrupt_after ?? [],
    streamModes: row.stream_modes ?? [],
    streamSubgraphs: row.stream_subgraphs,
    durability: row.durability,
    webhook: row.webhook,
    onCompletion: row.on_completion,
    onDisconnect: row.on_disconnect,
    authUser: row.auth_user ?? null,
    availableAt: row.available_at,
    attempt: row.attempt,
    error: row.error,
    cancelAction: row.cancel_action,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
  };
}

/** A run's status, or null when it no longer exists (what waiters poll). */
export async function runStatus(pool: pg.Pool, id: string): Promise<string | null> {
  const { rows } = await pool.query({
    name: "run_status",
    text: "SELECT status::text FROM run WHERE id = $1::uuid",
    values: [id],
  });
  return rows[0]?.status ?? null;
}

export interface ExecutionRun extends Run {
  assistant: { graphId: string; config: unknown; context: unknown; metadata: unknown };
  thread: { config: unknown; metadata: unknown };
}

/** A run with what executing it needs from its assistant and thread, in one round trip. */
export async function runForExecution(pool: pg.Pool, id: string): Promise<ExecutionRun | null> {
  const { rows } = await pool.query({
    name: "run_for_execution",
    text: `SELECT r.*, a.graph_id AS assistant_graph_id, a.config AS assistant_config,
             a.context AS assistant_context, a.metadata AS assistant_metadata,
             t.config AS thread_config, t.metadata AS thread_metadata
           FROM run r JOIN assistant a ON a.id = r.assistant_id JOIN thread t ON t.id = r.thread_id
           WHERE r.id = $1::uuid`,
    values: [id],
  });
  return rows[0] ? executionRun(rows[0]) : null;
}

/** A run row joined with its assistant's and thread's columns (as `runForExecution` selects). */
export function executionRun(row: Record<string, any>): ExecutionRun {
  return {
    ...rowToRun(row),
    assistant: {
      graphId: row.assistant_graph_id,
      config: row.assistant_config,
      context: row.assistant_context,
      metadata: row.assistant_metadata,
    },
    thread: { config: row.thread_config, metadata: row.thread_metadata },
  };
}

const ASSISTANT_COLUMNS = `id::text, graph_id, name, description, config, context, metadata,
  version, created_at, updated_at`;

/** The assistant, if it exists and its metadata contains `scope` (null: any). */
export async function assistantById(
  pool: pg.Pool,
  id: string,
  scope: object | null = null,
): Promise<Assistant | null> {
  return (await stampedAssistantById(pool, id, scope))?.assistant ?? null;
}

/**
 * The assistant with its row version: `xmin`, the transaction that last wrote the row, which
 * every update and every re-creation changes. See runs' `assistantStamp`.
 */
export async function stampedAssistantById(
  pool: pg.Pool,
  id: string,
  scope: object | null,
): Promise<{ assistant: Assistant; stamp: string } | null> {
  const { rows } = await pool.query(
    byId(
      "assistant_stamped_by_id",
      `SELECT ${ASSISTANT_COLUMNS}, xmin::text AS stamp FROM assistant WHERE id = $1::uuid`,
      id,
      scope,
    ),
  );
  return rows[0] ? { assistant: rowToAssistant(rows[0]), stamp: rows[0].stamp } : null;
}

function rowToAssistant(row: pg.QueryResultRow): Assistant {
  return {
    id: row.id,
    graphId: row.graph_id,
    name: row.name,
    description: row.description,
    config: row.config,
    context: row.context,
    metadata: row.metadata,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
