import type pg from "pg";

/**
 * The cron scheduler's SQL. Firing is a row lock plus a conditional read: the process that locks
 * a due cron (SKIP LOCKED, so others move on) creates its run and moves `next_run_at` past now()
 * in one transaction; every other process then sees the cron as not due. "Due" is always the
 * database's now(), never a process clock.
 */

/** NOTIFY channel: a cron was created or changed (its next run may be sooner than planned). */
export const CRONS_CHANNEL = "lgql_crons";

type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

export interface CronRow {
  id: string;
  assistant_id: string;
  thread_id: string | null;
  schedule: string;
  timezone: string;
  input: unknown;
  config: unknown;
  context: unknown;
  metadata: Record<string, unknown>;
  end_time: Date | null;
  enabled: boolean;
  on_run_completed: "DELETE" | "KEEP";
  multitask_strategy: "REJECT" | "INTERRUPT" | "ROLLBACK" | "ENQUEUE";
  interrupt_before: string[];
  interrupt_after: string[];
  webhook: string | null;
  next_run_at: Date | null;
  last_run_at: Date | null;
  /** The user who created the cron (auth on): its runs act for them. Never changed by updates. */
  auth_user: Record<string, unknown> | null;
}

const COLUMNS = `id::text, assistant_id::text, thread_id::text, schedule, timezone, input, config,
  context, metadata, end_time, enabled, on_run_completed::text, multitask_strategy::text,
  interrupt_before, interrupt_after, webhook, next_run_at, last_run_at, auth_user`;

/** The transaction's start time as the database sees it (what now() means in its statements). */
export async function transactionNow(client: Queryable): Promise<Date> {
  const { rows } = await client.query<{ now: Date }>("SELECT now() AS now");
  return rows[0]!.now;
}

export type CronValues = Omit<CronRow, "id" | "last_run_at">;

const json = (value: unknown) =>
  value === undefined || value === null ? null : JSON.stringify(value);

export async function insertCron(client: Queryable, id: string, cron: CronValues): Promise<void> {
  await client.query(
    `INSERT INTO cron (id, assistant_id, thread_id, schedule, timezone, input, config, context,
       metadata, end_time, enabled, on_run_completed, multitask_strategy, interrupt_before,
       interrupt_after, webhook, next_run_at, updated_at, auth_user)
     VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10,
       $11, $12::"OnCompletion", $13::"MultitaskStrategy", $14::text[], $15::text[], $16, $17, now(),
       $18::jsonb)`,
    [id, ...values(cron), json(cron.auth_user)],
  );
}

/** Row-locks a cron for an update (waits for a scheduler firing it to commit). */
export async function lockCron(client: pg.PoolClient, id: string): Promise<CronRow | null> {
  const { rows } = await client.query<CronRow>(
    `SELECT ${COLUMNS} FROM cron WHERE id = $1::uuid FOR UPDATE`,
    [id],
  );
  return rows[0] ?? null;
}

export async function updateCron(client: Queryable, id: string, cron: CronValues): Promise<void> {
  await client.query(
    `UPDATE cron SET assistant_id = $2::uuid, thread_id = $3::uuid, schedule = $4, timezone = $5,
       input = $6::jsonb, config = $7::jsonb, context = $8::jsonb, metadata = $9::jsonb,
       end_time = $10, enabled = $11, on_run_completed = $12::"OnCompletion",
       multitask_strategy = $13::"MultitaskStrategy", interrupt_before = $14::text[],
       interrupt_after = $15::text[], webhook = $16, next_run_at = $17, updated_at = now()
     WHERE id = $1::uuid`,
    [id, ...values(cron)],
  );
}

function values(cron: CronValues): unknown[] {
  return [
    cron.assistant_id,
    cron.thread_id,
    cron.schedule,
    cron.timezone,
    json(cron.input),
    json(cron.config),
    json(cron.context),
    JSON.stringify(cron.metadata),
    cron.end_time,
    cron.enabled,
    cron.on_run_completed,
    cron.multitask_strategy,
    cron.interrupt_before,
    cron.interrupt_after,
    cron.webhook,
    cron.next_run_at,
  ];
}

export async function deleteCron(client: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await client.query("DELETE FROM cron WHERE id = $1::uuid", [id]);
  return (rowCount ?? 0) > 0;
}

/**
 * One due cron, locked for this transaction; crons another process is firing are skipped, and
 * the oldest due goes first. After another process fires a cron and commits, the re-check of
 * `next_run_at <= now()` on the new row version fails, so a slot is never taken twice.
 */
export async function lockDueCron(client: pg.PoolClient): Promise<CronRow | null> {
  const { rows } = await client.query<CronRow>(
    `SELECT ${COLUMNS} FROM cron
     WHERE enabled AND next_run_at <= now()
     ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
  );
  return rows[0] ?? null;
}

/** After a fire: the next slot (null when the schedule is over), and when it fired. */
export async function advanceCron(
  client: Queryable,
  id: string,
  nextRunAt: Date | null,
  fired: boolean,
): Promise<void> {
  await client.query(
    `UPDATE cron SET next_run_at = $2,
       last_run_at = CASE WHEN $3 THEN now() ELSE last_run_at END
     WHERE id = $1::uuid`,
    [id, nextRunAt, fired],
  );
}

/**
 * Milliseconds from the database's now() to the earliest enabled cron's next run (<= 0 when one
 * is due), or null when none is scheduled. A process arms its timer with this duration, so its
 * own wall clock never decides when a cron is due.
 */
export async function msUntilNextCron(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ ms: number | null }>(
    `SELECT (extract(epoch FROM min(next_run_at) - now()) * 1000)::float8 AS ms
     FROM cron WHERE enabled AND next_run_at IS NOT NULL`,
  );
  return rows[0]?.ms ?? null;
}

export async function notifyCronsChanged(db: Queryable, id: string): Promise<void> {
  await db.query("SELECT pg_notify($1, $2)", [CRONS_CHANNEL, id]);
}
