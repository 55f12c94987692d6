import type pg from "pg";
import * as sql from "../db/sql/events.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import type { Logger } from "../log.ts";
import { type EventBatch, isLifecycle, type StreamEvent, toStreamEvent } from "./events.ts";
import type { StreamHub } from "./hub.ts";

/** What became of a run whose stream has not shown its end yet. */
export type EndState =
  /** Still going (or its end will be written by the run executing on its thread). */
  | "open"
  /** The end is in the log now: read it. */
  | "ended"
  /** Nothing more will come: the run is gone, or over for longer than its log is kept. */
  | "gone";

export interface FollowOptions {
  scope: "run" | "thread";
  /** The run's or the thread's id. */
  key: string;
  /** Deliver events after this log position. */
  cursor: number;
  /** Mode events to deliver (lifecycle events always come); null: all. */
  modes: ReadonlySet<string> | null;
  /**
   * Run scope: whether to ask at once if the run is over without an end in its log (a run that
   * is already over, or gone). A run just created needs no such check.
   */
  checkEndFirst?: boolean;
}

export interface FollowDeps {
  pool: pg.Pool;
  hub: StreamHub;
  log: Logger;
  checkEnd(runId: string): Promise<EndState>;
}

export interface EventStream extends AsyncIterableIterator<StreamEvent> {
  /** Settles when the stream is over for its consumer: `reachedEnd` says whether RUN_ENDED came. */
  readonly over: Promise<{ reachedEnd: boolean }>;
}

const PAGE = 500;
/** Longest wait between reads of the log while the database is away. */
const MAX_RETRY_MS = 5000;
/** A consumer this far behind stops taking live events and later re-reads them from the log. */
const HIGH_WATER = 5000;
const LOW_WATER = 500;

/**
 * Follows a run's or a thread's events from a cursor: first what the log (and, for a run
 * executing in this process, memory) already holds, then live — each event exactly once, in log
 * order. Live batches carry the position they follow; one that does not follow the cursor means
 * something was missed (a NOTIFY lost, a batch read out of order, a new run on the thread), and
 * the follower reads the log before going on. A run's stream ends with its RUN_ENDED.
 *
 * A hand-written iterator rather than an async generator: return() must take effect while the
 * stream waits for events, which a suspended generator cannot do.
 */
export function follow(deps: FollowDeps, options: FollowOptions): EventStream {
  const { pool, hub, log } = deps;
  const { scope, key, modes } = options;
  let cursor = options.cursor;

  const out: StreamEvent[] = [];
  let head = 0;
  let waiter: {
    resolve: (result: IteratorResult<StreamEvent>) => void;
    reject: (error: unknown) => void;
  } | null = null;
  let drainWaiter: (() => void) | null = null;

  let finished = false;
  let failure: unknown = null;
  let reachedEnd = false;
  let closed = false;
  let catching = false;
  let again = false;
  let checkEnd = scope === "run" && options.checkEndFirst !== false;
  let paused = false;
  const pending: EventBatch[] = [];
  /** While the database is away: the next read of the log, and the wait before the one after. */
  let retryTimer: NodeJS.Timeout | null = null;
  let retryDelay = 0;

  let settleOver: (value: { reachedEnd: boolean }) => void = () => {};
  const over = new Promise<{ reachedEnd: boolean }>((resolve) => {
    settleOver = resolve;
  });

  const buffered = () => out.length - head;

  function push(event: StreamEvent) {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w.resolve({ value: event, done: false });
    } else {
      out.push(event);
    }
  }

  function deliver(event: StreamEvent) {
    cursor = event.seq;
    if (modes && !isLifecycle(event.kind) && !modes.has(event.kind)) return;
    push(event);
    if (scope === "run" && event.kind === "RUN_ENDED") {
      reachedEnd = true;
      finish();
    }
  }

  function finish(error?: unknown) {
    if (finished) return;
    finished = true;
    failure = error ?? null;
    if (retryTimer) clearTimeout(retryTimer);
    detach();
    if (waiter && buffered() === 0) settleWaiter();
  }

  function settleWaiter() {
    const w = waiter!;
    waiter = null;
    close();
    if (failure) w.reject(failure);
    else w.resolve({ value: undefined, done: true });
  }

  function close() {
    if (closed) return;
    closed = true;
    finished = true;
    if (retryTimer) clearTimeout(retryTimer);
    detach();
    settleOver({ reachedEnd });
  }

  /** Takes a live batch; false when it does not follow the cursor (the rest waits in `pending`). */
  function take(batch: EventBatch, force = false): boolean {
    let link = scope === "run" ? batch.prevRun : batch.prevThread;
    for (let i = 0; i < batch.events.length; i++) {
      const event = batch.events[i]!;
      const before = link;
      link = event.seq;
      if (event.seq <= cursor) continue;
      if (before > cursor && !force) {
        pending.unshift({
          ...batch,
          events: batch.events.slice(i),
          prevRun: before,
          prevThread: before,
        });
        return false;
      }
      deliver(event);
      if (finished) return true;
      if (buffered() >= HIGH_WATER) {
        // The consumer is far behind: stop buffering; what it misses is in the log.
        paused = true;
        pending.length = 0;
        return true;
      }
    }
    return true;
  }

  const listener = {
    batch(batch: EventBatch) {
      if (finished || paused) return;
      // A batch that follows the cursor is delivered at once, even while the log is being read
      // (that read skips what this delivers): live events must not wait for a query whose reply
      // a busy event loop may not take for a while.
      if (pending.length === 0) {
        // What does not follow, take() leaves in `pending`.
        if (take(batch)) return;
      } else {
        pending.push(batch);
      }
      if (!catching) void catchUp();
    },
    hint() {
      if (finished) return;
      checkEnd = scope === "run";
      if (catching) again = true;
      else if (!paused) void catchUp();
    },
  };
  const detach = scope === "run" ? hub.attachRun(key, listener) : hub.attachThread(key, listener);

  const localLog = () => (scope === "run" ? hub.localRun(key) : hub.localRunOfThread(key));

  async function readLog() {
    for (let round = 0; round < 10; round++) {
      let local = localLog();
      // A run executing here whose memory holds everything after the cursor (a stream started
      // with its run, a joiner not far behind) needs no query: its first events must not wait
      // for one.
      const inMemory = scope === "run" && local !== null && cursor >= local.coveredRun;
      while (!inMemory) {
        if (finished) return;
        const rows = await sql.eventsAfter(pool, scope, key, cursor, PAGE);
        for (const row of rows) {
          const event = toStreamEvent(row);
          if (event.seq <= cursor) continue;
          deliver(event);
          if (finished) return;
        }
        if (scope === "run") hub.noteRead(key, cursor);
        if (rows.length < PAGE) break;
        // Replaying a long log: let the consumer catch up instead of buffering all of it.
        if (buffered() >= HIGH_WATER) await new Promise<void>((r) => (drainWaiter = r));
      }
      if (!inMemory) local = localLog();
      if (!local) return;
      const events = local.since(cursor, scope);
      // Flushed and dropped from memory since we read the log: read it again.
      if (events === null) continue;
      for (const event of events) {
        if (event.seq <= cursor) continue;
        deliver(event);
        if (finished) return;
      }
      if (inMemory) hub.noteRead(key, cursor);
      return;
    }
  }

  async function catchUp() {
    if (catching) {
      again = true;
      return;
    }
    catching = true;
    try {
      let stuck = 0;
      do {
        again = false;
        await readLog();
        while (pending.length > 0 && !finished && !paused) {
          const batch = pending.shift()!;
          if (take(batch)) continue;
          // The log has nothing between the cursor and this batch yet. Read it once more; if
          // it still has not, those events are gone for good (the unflushed tail of an attempt
          // whose worker died): go on without them rather than wait forever.
          if (stuck++ < 2) {
            again = true;
            break;
          }
          log.debug("stream events missing from the log; continuing", { scope, key, cursor });
          take(pending.shift()!, true);
          stuck = 0;
        }
        if (checkEnd && !again && !finished) {
          checkEnd = false;
          const state = await deps.checkEnd(key);
          if (state === "ended") {
            // The end is in the log: deliver it — or, resumed past it, there is nothing left.
            await readLog();
            finish();
          } else if (state === "gone") finish();
        }
      } while (again && !finished && !paused);
      retryDelay = 0;
    } catch (error) {
      if (!isDatabaseUnavailable(error)) finish(error);
      // The subscriber stays: the log is read again, from the cursor, once the database is back
      // (sooner if the LISTEN connection's return hints first), so nothing is missed.
      else if (!finished && !retryTimer) {
        retryDelay = Math.min(Math.max(retryDelay * 2, 100), MAX_RETRY_MS);
        log.debug("reading stream events failed: the database is unavailable; retrying", {
          scope,
          key,
        });
        retryTimer = setTimeout(() => {
          retryTimer = null;
          void catchUp();
        }, retryDelay);
      }
    } finally {
      catching = false;
    }
    // Batches that arrived after the loop last looked at `pending` (while checking the end).
    if (pending.length > 0 && !finished && !paused && !retryTimer) void catchUp();
  }

  void catchUp();

  const stream: EventStream = {
    over,
    next() {
      if (buffered() > 0) {
        const value = out[head]!;
        out[head++] = undefined as unknown as StreamEvent;
        if (head > 1024 && head * 2 > out.length) {
          out.splice(0, head);
          head = 0;
        }
        if (buffered() <= LOW_WATER) {
          if (drainWaiter) {
            const resume = drainWaiter;
            drainWaiter = null;
            resume();
          }
          if (paused && !finished) {
            paused = false;
            void catchUp();
          }
        }
        return Promise.resolve({ value, done: false });
      }
      if (closed) return Promise.resolve({ value: undefined, done: true });
      if (finished) {
        close();
        return failure
          ? Promise.reject(failure)
          : Promise.resolve({ value: undefined, done: true });
      }
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    return() {
      const w = waiter;
      waiter = null;
      close();
      drainWaiter?.();
      w?.resolve({ value: undefined, done: true });
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(error) {
      stream.return?.();
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return stream;
    },
  };
  return stream;
}
