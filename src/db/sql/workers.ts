import type pg from "pg";

/**
 * Worker liveness, decided by PostgreSQL. Each worker process registers an owner in `run_worker`
 * and holds a session-level advisory lock on (WORKER_LOCK_CLASS, its lock_key) on a connection of
 * its own. PostgreSQL frees the lock the moment that session ends — the process was killed, or it
 * lost its connection — so any process can tell that a run's worker is gone by trying the lock,
 * without waiting for the run's lease to lapse.
 *
 * The two-key form of advisory locks, so that these never meet the single-key locks of pg-boss
 * or our migrations; the class is "lgql" in ASCII.
 */
export const WORKER_LOCK_CLASS = 1818718572;

type Queryable = Pick<pg.Pool, "query"> | Pick<pg.ClientBase, "query">;

/**
 * Session settings of the lock's connection (see withSessionSettings): the server probes it when
 * it is idle, so a worker whose host vanishes from the network (no FIN ever comes) frees its lock
 * in about 11 s rather than when the operating system's keepalive (hours) gives up.
 */
export const WORKER_SESSION_SETTINGS = {
  tcp_keepalives_idle: "5",
  tcp_keepalives_interval: "2",
  tcp_keepalives_count: "3",
} as const;

/**
 * The condition that a RUNNING run `r` lost its worker: its lease lapsed (a worker that hangs
 * while connected), or its worker's lock is free (its session ended). A free lock is taken for the
 * rest of the transaction, so of several processes checking at once, one sees it free. Owners
 * that never registered (processes of an older version) are judged by their lease alone.
 */
export function workerLost(r: string): string {
  return `(${r}.lease_expires_at < now() OR pg_try_advisory_xact_lock(${WORKER_LOCK_CLASS},
      (SELECT w.lock_key FROM run_worker w WHERE w.owner = ${r}.lease_owner)))`;
}

/**
 * Registers `owner` and takes its lock, on the connection that will hold it (in one statement:
 * by the time other sessions see the row, the lock is held). False if the lock was taken by
 * someone else, which nothing of ours does.
 */
export async function registerWorker(session: pg.ClientBase, owner: string): Promise<boolean> {
  const { rows } = await session.query<{ locked: boolean }>({
    text: `WITH registered AS (INSERT INTO run_worker (owner) VALUES ($1) RETURNING lock_key)
     SELECT pg_try_advisory_lock(${WORKER_LOCK_CLASS}, lock_key) AS locked FROM registered`,
    values: [owner],
  });
  return rows[0]?.locked === true;
}

/** Proves the lock's connection is still alive (a half-open TCP connection answers nothing). */
export async function pingWorkerSession(session: pg.ClientBase): Promise<void> {
  await session.query("SELECT 1");
}

/** A worker stopping cleanly removes its row (its lock goes with its connection). */
export async function forgetWorker(db: Queryable, owner: string): Promise<void> {
  await db.query({ text: "DELETE FROM run_worker WHERE owner = $1", values: [owner] });
}

/**
 * Whether any run lost its worker (see workerLost): the cheap check every worker process makes
 * about once a second, before it opens a transaction to take such runs over.
 */
export async function lostRunsExist(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ found: boolean }>({
    name: "lgql_lost_runs_exist",
    text: `SELECT EXISTS (SELECT 1 FROM run r WHERE r.status = 'RUNNING' AND ${workerLost("r")}) AS found`,
  });
  return rows[0]?.found === true;
}

/** Removes the rows of workers that are gone and hold no run any more. */
export async function forgetDeadWorkers(db: Queryable): Promise<number> {
  const { rowCount } = await db.query({
    name: "lgql_forget_dead_workers",
    text: `DELETE FROM run_worker w
     WHERE NOT EXISTS (SELECT 1 FROM run r WHERE r.status = 'RUNNING' AND r.lease_owner = w.owner)
       AND pg_try_advisory_xact_lock(${WORKER_LOCK_CLASS}, w.lock_key)`,
  });
  return rowCount ?? 0;
}
