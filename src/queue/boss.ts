import { createHash } from "node:crypto";
import pg from "pg";
import PgBoss from "pg-boss";
import { withSessionSettings } from "../db/session.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import type { Logger } from "../log.ts";

export const RUN_QUEUE = "runs";

export interface RunJob {
  runId: string;
}

/** 2020-01-01T00:00:00Z: run job priorities count seconds from here (see runJobPriority). */
const PRIORITY_EPOCH_MS = Date.UTC(2020, 0, 1);

/**
 * The pg-boss priority of a run's job: runs start in the order they were created across the
 * whole queue, and pg-boss fetches by priority, then by the job's creation. A run's job is
 * created with the run when it is first in its thread's line, but later when it waits behind
 * its thread's earlier runs or comes back after losing its worker: the priority, higher for an
 * older run (to the second: an integer column), puts that job among the runs of its own age.
 * Good until 2088.
 */
export function runJobPriority(runCreatedAt: Date): number {
  return -Math.floor((runCreatedAt.getTime() - PRIORITY_EPOCH_MS) / 1000);
}

/** One webhook delivery attempt is one job; a retry is a new job due at its backoff. */
export const WEBHOOK_QUEUE = "webhooks";

export interface WebhookJob {
  deliveryId: string;
}

/**
 * A pg-boss over our database, in its own schema. Jobs are created inside our own transactions
 * (see `inTransaction`), durable with them; what pg-boss commits on its own connections —
 * fetching, completing, maintenance — commits asynchronously: a database crash can only undo the
 * latest of those, which puts a job back in line, and a run's claim tells whether it still
 * needs executing.
 */
export function createBoss(options: { url: string; log: Logger }) {
  const boss = new PgBoss({
    connectionString: withSessionSettings(options.url, { synchronous_commit: "off" }),
    schema: "pgboss",
    max: 4,
    // We wake workers ourselves (LISTEN/NOTIFY); pg-boss's own schedules are not used.
    schedule: false,
  });
  boss.on("error", (error) => {
    // Its maintenance and fetches fail while PostgreSQL is away, and resume by themselves.
    if (isDatabaseUnavailable(error)) options.log.warn("pg-boss: the database is unavailable");
    else options.log.error("pg-boss error", { error });
  });
  return boss;
}

/** Serialises pg-boss's schema set-up between processes (see startBoss). */
const BOSS_SETUP_LOCK = 7_265_730_001;

/**
 * Starts pg-boss and its queues. Two processes starting at once would each create pg-boss's
 * schema and deadlock inside it, so the set-up runs under an advisory lock.
 */
export async function startBoss(boss: PgBoss, url: string): Promise<void> {
  const lock = new pg.Client({ connectionString: url });
  // Losing it fails the statement in flight; unheard, the 'error' event would end the process.
  lock.on("error", () => {});
  await lock.connect();
  try {
    await lock.query("SELECT pg_advisory_lock($1)", [BOSS_SETUP_LOCK]);
    await setUp(boss);
  } finally {
    await lock.query("SELECT pg_advisory_unlock($1)", [BOSS_SETUP_LOCK]).catch(() => undefined);
    await lock.end().catch(() => undefined);
  }
}

async function setUp(boss: PgBoss): Promise<void> {
  await boss.start();
  // Crash recovery is the run engine's (leases); a run job is never retried by pg-boss itself.
  // A job only delivers a run to a worker: if a very long run outlives its job (pg-boss caps
  // expiry at a day), the run table still says it is running and who holds it.
  await boss.createQueue(RUN_QUEUE, {
    name: RUN_QUEUE,
    policy: "standard",
    retryLimit: 0,
    expireInSeconds: 60 * 60 * 23,
  });
  // Retries and their backoff are the webhook deliverer's (see src/webhooks/deliverer.ts); the
  // per-job retryLimit set at send only brings back a job whose process died mid-attempt.
  await boss.createQueue(WEBHOOK_QUEUE, { name: WEBHOOK_QUEUE, policy: "standard" });
}

/**
 * A pg-boss connection that runs its statements inside our transaction, as prepared statements
 * (pg-boss's statements are fixed texts: each is parsed once per connection, not per job).
 */
export function inTransaction(client: pg.PoolClient): PgBoss.Db {
  return {
    executeSql: (text, values) => client.query({ name: statementName(text), text, values }),
  };
}

const statementNames = new Map<string, string>();

function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `lgql_boss_${createHash("sha1").update(text).digest("hex").slice(0, 16)}`;
    statementNames.set(text, name);
  }
  return name;
}

export type Boss = PgBoss;
