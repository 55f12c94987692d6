import type { Writable } from "node:stream";
import pg from "pg";

/** The connection's socket (node-pg keeps it as `connection.stream`; it corks it per statement). */
export function socketOf(client: pg.ClientBase): Pick<Writable, "cork" | "uncork"> {
  return (client as unknown as { connection: { stream: Writable } }).connection.stream;
}

export interface StatementGroupOptions {
  /** Most statements sent down one connection at a time (the rest take more connections). */
  maxPerConnection?: number;
  /**
   * Run a group's statements in one transaction, one commit for all: for statements that wait
   * for the WAL flush, which would otherwise wait for one flush each. If any of them fails the
   * transaction writes nothing, and each is sent again alone, so only the failing one fails.
   */
  inOneTransaction?: boolean;
}

/** Sends statements; `query` takes what pg.Pool's does, in its promise form. */
export interface StatementSender {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    statement: pg.QueryConfig,
  ): Promise<pg.QueryResult<R>>;
}

const DEFAULT_MAX_PER_CONNECTION = 16;

interface Waiting {
  statement: pg.QueryConfig;
  resolve: (result: pg.QueryResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Sends independent statements together when the process is busy. A statement issued while none
 * from this group is in flight goes out at once, as `pool.query` would send it. One issued while
 * others are in flight waits for the end of the event-loop turn, and everything issued in that
 * turn leaves down one connection, pipelined, in one socket write: under load each write (and the
 * backend wake-up it causes) cost ~70 µs of syscall and the replies come back in one read, which
 * made the per-statement overhead most of a short run's CPU.
 *
 * Only for statements that never wait on a lock another transaction of this process may hold
 * while it waits for this group (inserts of new rows): statements of a group run one after the
 * other on one backend, so one blocked statement holds up those behind it. Each statement is its
 * own implicit transaction, and one failing fails only itself; statements that wait for the WAL
 * flush should use `inOneTransaction`, or each would wait for a flush of its own in turn, where
 * separate connections would share one.
 *
 * A pool that does not pipeline (`pipeline: true`) would send a group one round trip per
 * statement: on such a pool every statement goes alone, as `pool.query` sends it.
 */
export function groupStatements(
  pool: pg.Pool,
  options: StatementGroupOptions = {},
): StatementSender {
  const maxPerConnection = options.maxPerConnection ?? DEFAULT_MAX_PER_CONNECTION;
  const pipelines = (pool as unknown as { options: { pipeline?: boolean } }).options.pipeline;
  let inFlight = 0;
  let open: Waiting[] | null = null;

  function sendAlone(item: Waiting): void {
    inFlight += 1;
    pool
      .query(item.statement)
      .then(item.resolve, item.reject)
      .finally(() => {
        inFlight -= 1;
      });
  }

  async function sendTogether(items: Waiting[]): Promise<void> {
    inFlight += items.length;
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      inFlight -= items.length;
      for (const item of items) item.reject(error);
      return;
    }
    // A connection-level failure (not a statement's error reply) makes the client unusable.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on("error", onError);
    const send = (statement: pg.QueryConfig | string) =>
      client.query(statement).then(
        (result) => ({ result }),
        (error: unknown) => {
          if (!(error instanceof pg.DatabaseError)) broken ??= error as Error;
          return { error };
        },
      );
    const socket = socketOf(client);
    socket.cork();
    const begun = options.inOneTransaction ? send("BEGIN") : null;
    const sent = items.map((item) => send(item.statement));
    const committed = options.inOneTransaction ? send("COMMIT") : null;
    socket.uncork();
    const outcomes = await Promise.all(sent);
    // A failed statement turns COMMIT into a rollback: nothing of the group was written.
    const commit = await committed;
    const failed = (commit !== null && "error" in commit) || outcomes.some((o) => "error" in o);
    await begun;
    inFlight -= items.length;
    client.off("error", onError);
    client.release(broken);
    items.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (options.inOneTransaction && failed) sendAlone(item);
      else if ("error" in outcome) item.reject(outcome.error);
      else item.resolve(outcome.result);
    });
  }

  function flush(items: Waiting[]): void {
    for (let start = 0; start < items.length; start += maxPerConnection) {
      const chunk = items.slice(start, start + maxPerConnection);
      if (chunk.length === 1) sendAlone(chunk[0]!);
      else void sendTogether(chunk);
    }
  }

  return {
    query<R extends pg.QueryResultRow>(statement: pg.QueryConfig) {
      return new Promise<pg.QueryResult<R>>((resolve, reject) => {
        const item: Waiting = {
          statement,
          resolve: resolve as (result: pg.QueryResult) => void,
          reject,
        };
        if (open !== null) {
          open.push(item);
        } else if (inFlight === 0 || !pipelines) {
          sendAlone(item);
        } else {
          const group: Waiting[] = [item];
          open = group;
          setImmediate(() => {
            open = null;
            flush(group);
          });
        }
      });
    },
  };
}
