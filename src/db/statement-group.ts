import type { Writable } from "node:stream";
import pg from "pg";

/** The connection's socket (node-pg keeps it as `connection.stream`; it corks it per statement). */
export function socketOf(client: pg.ClientBase): Pick<Writable, "cork" | "uncork"> {
  return (client as unknown as { connection: { stream: Writable } }).connection.stream;
}

export interface StatementGroupOptions {
  /**
   * Most statements in one group (default 4). A group leaves as soon as it is full, rather than
   * at the end of the turn: the server starts on it while this process still prepares the next
   * statements. With 8 threads putting checkpoints, groups of up to 4 gave 15-20% more puts/s
   * than groups of up to 16 (paired rounds in one process), 8 gave 6%.
   */
  maxGroupSize?: number;
  /**
   * Run a group's statements in one transaction, one commit for all: for statements that wait
   * for the WAL flush, which would otherwise wait for one flush each. If any of them fails the
   * transaction writes nothing, and each is sent again alone, so only the failing one fails.
   */
  inOneTransaction?: boolean;
  /**
   * How long, in ms, the connection of a statement sent alone is kept out of the pool for the
   * next one (default 2). Checking a connection out of pg.Pool and back in cost ~25 µs of a
   * ~0.65 ms checkpoint put, measured; a caller that sends one statement after another (a
   * thread's steps, a run's stream batches) pays that once per gap longer than this. 0: never.
   */
  keepConnectionMs?: number;
}

/** Sends statements; `query` takes what pg.Pool's does, in its promise form. */
export interface StatementSender {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    statement: pg.QueryConfig,
  ): Promise<pg.QueryResult<R>>;
}

const DEFAULT_MAX_GROUP_SIZE = 4;
const DEFAULT_KEEP_CONNECTION_MS = 2;

type Outcome = { result: pg.QueryResult } | { error: unknown };

interface Waiting {
  statement: pg.QueryConfig;
  resolve: (result: pg.QueryResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Sends independent statements together when the process is busy. A statement issued while none
 * from this group is in flight goes out at once, as `pool.query` would send it (on the connection
 * kept from the last one, if any: see keepConnectionMs). One issued while others are in flight
 * joins a group, which leaves when it is full (maxGroupSize) or at the end of the event-loop
 * turn, down one connection, pipelined, in one socket write: under load each write (and the
 * backend wake-up it causes) cost ~70 µs of syscall and the replies come back in one read, which
 * made the per-statement overhead most of a short run's CPU.
 *
 * Only for statements that never wait on a lock another transaction of this process may hold
 * while it waits for this group: statements of a group run one after the other on one backend,
 * so one blocked statement would hold up those behind it, and a wait PostgreSQL cannot see (a
 * transaction waiting in this process for a statement queued here) would never end. Inserts of
 * new rows into tables without foreign keys (run_event, thread, the checkpoint tables) qualify:
 * only a concurrent insert of the same key can make one wait, and no transaction here holds one
 * open while it waits for a group.
 *
 * Each statement is its own implicit transaction, and one failing fails only itself. Statements
 * that wait for the WAL flush should use `inOneTransaction`, or each would wait for a flush of
 * its own in turn, where separate connections would share one.
 *
 * A pool that does not pipeline (`pipeline: true`) would send a group one round trip per
 * statement: on such a pool every statement goes alone, as `pool.query` sends it.
 */
export function groupStatements(
  pool: pg.Pool,
  options: StatementGroupOptions = {},
): StatementSender {
  const maxGroupSize = options.maxGroupSize ?? DEFAULT_MAX_GROUP_SIZE;
  if (!Number.isInteger(maxGroupSize) || maxGroupSize < 1) {
    throw new Error(`maxGroupSize must be a positive integer, got ${maxGroupSize}`);
  }
  const keepConnectionMs = options.keepConnectionMs ?? DEFAULT_KEEP_CONNECTION_MS;
  if (!(keepConnectionMs >= 0)) {
    throw new Error(`keepConnectionMs must be 0 or more, got ${keepConnectionMs}`);
  }
  const pipelines = (pool as unknown as { options: { pipeline?: boolean } }).options.pipeline;
  let inFlight = 0;
  let open: Waiting[] | null = null;
  /** The idle connection kept for the next statement sent alone, and when it was last used. */
  let kept: pg.PoolClient | null = null;
  let keptSince = 0;
  let releaseTimer: NodeJS.Timeout | null = null;

  /**
   * Checked out, a connection has no pool listener for its 'error' event, and one emitted with
   * no listener would crash the process: a kept connection that dies is given back broken.
   */
  function onKeptError(this: pg.PoolClient, error: Error): void {
    if (kept === this) {
      kept = null;
      this.off("error", onKeptError);
      this.release(error);
    }
  }

  function giveBack(client: pg.PoolClient, broken?: Error): void {
    client.off("error", onKeptError);
    client.release(broken);
  }

  function keepOrGiveBack(client: pg.PoolClient, broken: Error | undefined): void {
    // Never held back from someone waiting for a connection, nor from a pool that is closing.
    if (broken || kept !== null || keepConnectionMs === 0 || pool.waitingCount > 0 || pool.ending) {
      giveBack(client, broken);
      return;
    }
    kept = client;
    keptSince = performance.now();
    // One timer per quiet spell, not one per statement: it re-arms itself while the kept
    // connection keeps being used.
    if (releaseTimer === null) releaseTimer = setTimeout(releaseIfIdle, keepConnectionMs);
  }

  function releaseIfIdle(): void {
    releaseTimer = null;
    if (kept === null) return;
    const idleFor = performance.now() - keptSince;
    if (idleFor < keepConnectionMs) {
      releaseTimer = setTimeout(releaseIfIdle, keepConnectionMs - idleFor);
      return;
    }
    const client = kept;
    kept = null;
    giveBack(client);
  }

  async function sendAlone(item: Waiting): Promise<void> {
    inFlight += 1;
    let client = kept;
    kept = null;
    let broken: Error | undefined;
    try {
      if (client === null) {
        client = await pool.connect();
        client.on("error", onKeptError);
      }
      item.resolve(await client.query(item.statement));
    } catch (error) {
      // A statement's error reply leaves the connection usable; anything else does not.
      if (!(error instanceof pg.DatabaseError)) broken = error as Error;
      item.reject(error);
    } finally {
      inFlight -= 1;
      if (client !== null) keepOrGiveBack(client, broken);
    }
  }

  async function sendTogether(items: Waiting[]): Promise<void> {
    inFlight += items.length;
    let client: pg.PoolClient | undefined;
    // A connection-level failure (not a statement's error reply) makes the client unusable.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken ??= error;
    };
    try {
      client = await pool.connect();
      client.on("error", onError);
      settle(items, await sendOn(client, items, onError));
    } catch (error) {
      broken ??= error as Error;
      for (const item of items) item.reject(error);
    } finally {
      inFlight -= items.length;
      client?.off("error", onError);
      client?.release(broken);
    }
  }

  /** Sends the group down `client` in one write; each statement's outcome, and the COMMIT's. */
  async function sendOn(client: pg.PoolClient, items: Waiting[], onBroken: (e: Error) => void) {
    const send = (statement: pg.QueryConfig | string): Promise<Outcome> =>
      client.query(statement).then(
        (result) => ({ result }),
        (error: unknown) => {
          if (!(error instanceof pg.DatabaseError)) onBroken(error as Error);
          return { error };
        },
      );
    const socket = socketOf(client);
    socket.cork();
    let begun: Promise<Outcome> | null;
    let sent: Promise<Outcome>[];
    let committed: Promise<Outcome> | null;
    try {
      begun = options.inOneTransaction ? send("BEGIN") : null;
      sent = items.map((item) => send(item.statement));
      committed = options.inOneTransaction ? send("COMMIT") : null;
    } finally {
      socket.uncork();
    }
    const outcomes = await Promise.all(sent);
    const commit = await committed;
    await begun;
    return { outcomes, commit };
  }

  function settle(items: Waiting[], sent: { outcomes: Outcome[]; commit: Outcome | null }) {
    const { outcomes, commit } = sent;
    if (commit !== null && !("result" in commit && commit.result.command === "COMMIT")) {
      // A statement the server refused aborts the transaction, and COMMIT then rolls it back (or
      // is refused itself): nothing of the group was written, so each goes again alone. Any
      // other failure of COMMIT (a lost connection) leaves unknown whether it committed: the
      // group fails, as a lone statement would.
      const rolledBack =
        ("result" in commit && commit.result.command === "ROLLBACK") ||
        ("error" in commit && commit.error instanceof pg.DatabaseError) ||
        outcomes.some((o) => "error" in o && o.error instanceof pg.DatabaseError);
      for (const item of items) {
        if (rolledBack) void sendAlone(item);
        else item.reject("error" in commit ? commit.error : new Error("COMMIT did not commit"));
      }
      return;
    }
    items.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if ("error" in outcome) item.reject(outcome.error);
      else item.resolve(outcome.result);
    });
  }

  function send(group: Waiting[]): void {
    if (group.length === 1) void sendAlone(group[0]!);
    else void sendTogether(group);
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
          if (open.length >= maxGroupSize) {
            const full = open;
            open = null;
            send(full);
          }
        } else if (inFlight === 0 || !pipelines) {
          void sendAlone(item);
        } else {
          const group: Waiting[] = [item];
          open = group;
          setImmediate(() => {
            // Unless it left full already.
            if (open !== group) return;
            open = null;
            send(group);
          });
        }
      });
    },
  };
}
