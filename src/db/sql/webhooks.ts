import type pg from "pg";

/**
 * Webhook deliveries. A delivery row is written in the transaction that records its run's end,
 * so a run that ended owes its POST even if the process dies right after; the row is the log
 * (attempts, last status code, last error) and the truth about whether more attempts are due.
 */

/** NOTIFY channel: a delivery became due (payload: delivery id). */
export const WEBHOOKS_CHANNEL = "lgql_webhooks";

type Queryable = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

/** A finished run as the webhook reports it, read inside the transaction that ends it. */
export interface WebhookRunRow {
  id: string;
  thread_id: string;
  assistant_id: string;
  cron_id: string | null;
  status: string;
  multitask_strategy: string;
  input: unknown;
  command: unknown;
  config: unknown;
  context: unknown;
  metadata: unknown;
  attempt: number;
  error: unknown;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  ended_at: Date | null;
  webhook: string;
  /** The thread's latest values (cached on the thread row when the run ended). */
  values: unknown;
}

export async function webhookRun(client: Queryable, runId: string): Promise<WebhookRunRow | null> {
  const { rows } = await client.query<WebhookRunRow>(
    `SELECT r.id::text, r.thread_id::text, r.assistant_id::text, r.cron_id::text,
       r.status::text, r.multitask_strategy::text, r.input, r.command, r.config, r.context,
       r.metadata, r.attempt, r.error, r.created_at, r.updated_at, r.started_at, r.ended_at,
       r.webhook, t.values
     FROM run r LEFT JOIN thread t ON t.id = r.thread_id
     WHERE r.id = $1::uuid AND r.webhook IS NOT NULL`,
    [runId],
  );
  return rows[0] ?? null;
}

export async function insertDelivery(
  client: Queryable,
  delivery: { id: string; runId: string; url: string; payload: unknown },
): Promise<void> {
  await client.query(
    `INSERT INTO webhook_delivery (id, run_id, url, payload, next_attempt_at, updated_at)
     VALUES ($1::uuid, $2::uuid, $3, $4::jsonb, now(), now())`,
    [delivery.id, delivery.runId, delivery.url, JSON.stringify(delivery.payload)],
  );
}

export interface AttemptRow {
  id: string;
  run_id: string;
  url: string;
  payload: unknown;
  attempts: number;
  /** The database's clock, in Unix seconds: the attempt's webhook-timestamp. */
  now_seconds: string;
}

/**
 * Counts an attempt before it is made, so an attempt cut short by a crash still counts toward
 * the limit; no next attempt is planned while this one is under way. Null when the delivery is
 * already settled (a stray duplicate job).
 */
export async function beginAttempt(db: Queryable, id: string): Promise<AttemptRow | null> {
  const { rows } = await db.query<AttemptRow>(
    `UPDATE webhook_delivery SET attempts = attempts + 1, next_attempt_at = NULL, updated_at = now()
     WHERE id = $1::uuid AND status = 'PENDING'
     RETURNING id::text, run_id::text, url, payload, attempts,
       floor(extract(epoch FROM clock_timestamp()))::bigint::text AS now_seconds`,
    [id],
  );
  return rows[0] ?? null;
}

export async function markDelivered(db: Queryable, id: string, statusCode: number): Promise<void> {
  await db.query(
    `UPDATE webhook_delivery SET status = 'DELIVERED', last_status_code = $2, last_error = NULL,
       delivered_at = now(), next_attempt_at = NULL, updated_at = now()
     WHERE id = $1::uuid`,
    [id, statusCode],
  );
}

export async function markFailed(
  db: Queryable,
  id: string,
  statusCode: number | null,
  error: string,
): Promise<void> {
  await db.query(
    `UPDATE webhook_delivery SET status = 'FAILED', last_status_code = $2, last_error = $3,
       next_attempt_at = NULL, updated_at = now()
     WHERE id = $1::uuid`,
    [id, statusCode, error],
  );
}

/** Records a failed attempt and when the next one is due (database time); returns that time. */
export async function scheduleRetry(
  db: Queryable,
  id: string,
  statusCode: number | null,
  error: string,
  delaySeconds: number,
): Promise<Date> {
  const { rows } = await db.query<{ next_attempt_at: Date }>(
    `UPDATE webhook_delivery SET last_status_code = $2, last_error = $3,
       next_attempt_at = now() + make_interval(secs => $4), updated_at = now()
     WHERE id = $1::uuid
     RETURNING next_attempt_at`,
    [id, statusCode, error, delaySeconds],
  );
  return rows[0]!.next_attempt_at;
}

/**
 * Milliseconds from the database's now() to the earliest pending retry (<= 0 if one is due), or
 * null when none waits: how long an idle deliverer may sleep.
 */
export async function msUntilNextAttempt(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ ms: number | null }>(
    `SELECT (extract(epoch FROM min(next_attempt_at) - now()) * 1000)::float8 AS ms
     FROM webhook_delivery WHERE status = 'PENDING' AND next_attempt_at IS NOT NULL`,
  );
  return rows[0]?.ms ?? null;
}
