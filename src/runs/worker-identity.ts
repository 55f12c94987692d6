import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import pg from "pg";
import { withSessionSettings } from "../db/session.ts";
import * as sql from "../db/sql/workers.ts";
import type { Logger } from "../log.ts";

/** How often the lock's connection is proven alive, and how long the proof may take. */
const PING_MS = 5000;
/** Waits between attempts to take a new identity after losing one (doubling up to the last). */
const RETRY_MS = [100, 200, 500, 1000, 2000, 5000];

/**
 * The identity a worker process claims runs under, backed by PostgreSQL: a `run_worker` row and
 * an advisory lock held on a connection of its own, outside the pool (see src/db/sql/workers.ts).
 * While the lock is held every other process knows this worker lives; the moment its session
 * ends they take its runs over.
 *
 * If that connection is lost while the process lives, the process no longer has an identity:
 * `onLost` must stop its runs (others are taking them over; whatever they still write is fenced
 * off by the lease), and a new identity is taken, with a new owner, once the database answers.
 */
export function createWorkerIdentity(deps: {
  url: string;
  log: Logger;
  /** The lock of `owner` is gone: stop every run claimed under it. */
  onLost: (owner: string) => void;
  /** A new identity is held (after a loss): runs may be claimed again. */
  onRestored: () => void;
}) {
  const { log } = deps;
  let held: { owner: string; session: pg.Client; ping: NodeJS.Timeout } | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;

  async function acquire(): Promise<void> {
    const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
    const session = new pg.Client({
      connectionString: withSessionSettings(deps.url, sql.WORKER_SESSION_SETTINGS),
      application_name: "langgraph-gql worker",
      keepAlive: true,
    });
    // Until it is held, a failure rejects connect() or the registration below instead.
    let registered = false;
    const lose = (error?: Error) => {
      if (registered) lost(session, error);
    };
    session.on("error", lose);
    session.on("end", () => lose());
    try {
      await session.connect();
      if (!(await sql.registerWorker(session, owner))) {
        throw new Error(`the worker lock of ${owner} is held by another session`);
      }
    } catch (error) {
      await session.end().catch(() => undefined);
      throw error;
    }
    if (stopped) {
      await session.end().catch(() => undefined);
      return;
    }
    registered = true;
    const ping = setInterval(() => void prove(session), PING_MS);
    held = { owner, session, ping };
  }

  async function prove(session: pg.Client) {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("the worker lock's connection stopped answering")),
        PING_MS,
      );
    });
    try {
      await Promise.race([sql.pingWorkerSession(session), timedOut]);
    } catch (error) {
      lost(session, error as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  function lost(session: pg.Client, error?: Error) {
    if (held?.session !== session) return;
    const { owner, ping } = held;
    held = null;
    clearInterval(ping);
    session.end().catch(() => undefined);
    if (stopped) return;
    log.warn("lost the worker's database session; its runs are taken over elsewhere", {
      owner,
      error: error?.message,
    });
    deps.onLost(owner);
    reacquire(0);
  }

  function reacquire(attempt: number) {
    retry = setTimeout(
      async () => {
        retry = null;
        if (stopped) return;
        try {
          await acquire();
          if (held) {
            log.info("worker has a new identity", { owner: held.owner });
            deps.onRestored();
          }
        } catch (error) {
          log.debug("taking a new worker identity failed; retrying", { error });
          reacquire(attempt + 1);
        }
      },
      RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)],
    );
  }

  return {
    /** The owner to claim runs as; null while this process holds no identity. */
    current: (): string | null => held?.owner ?? null,

    /** Takes the first identity: before it, this process must claim nothing. */
    start: acquire,

    /** Gives the identity up, once this process holds no run any more. */
    async stop(): Promise<void> {
      stopped = true;
      if (retry) clearTimeout(retry);
      const last = held;
      held = null;
      if (!last) return;
      clearInterval(last.ping);
      await sql.forgetWorker(last.session, last.owner).catch(() => undefined);
      await last.session.end().catch(() => undefined);
    },
  };
}
