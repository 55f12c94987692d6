import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { Authorizer } from "../auth/authorizer.ts";
import { type Caller, systemCaller } from "../auth/caller.ts";
import type { Database } from "../db/database.ts";
import * as sql from "../db/sql/events.ts";
import { type LogPlace, RUN_CONTROL_CHANNEL } from "../db/sql/runs.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import { InvalidInputError, NotFoundError } from "../errors.ts";
import type { Run } from "../generated/prisma/client.ts";
import type { Logger } from "../log.ts";
import type { Notifier } from "../queue/notifier.ts";
import {
  FINAL_STATUSES,
  type RunControl,
  type RunInput,
  type RunService,
  type StreamModeName,
} from "../runs/service.ts";
import type { ThreadService } from "../threads/service.ts";
import { isUuid } from "../validation.ts";
import { createAccessWatch, type GuardedStream, guardStream } from "./access.ts";
import type { EventBatch, StreamEvent } from "./events.ts";
import { type EndState, type EventStream, follow } from "./follow.ts";
import { createStreamHub } from "./hub.ts";
import { batchOf, createRunWriter, repairEvents, writeFor } from "./writer.ts";

export interface StreamOptions {
  /** How long a run's events are kept after it ends. */
  retentionSeconds: number;
  /** At most one commit per run per this many ms while it streams. */
  flushMs: number;
  /** How often old logs are swept (default: a tenth of the retention, 1 s to 5 min). */
  sweepSeconds?: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = { retentionSeconds: 3600, flushMs: 20 };

/** How often followed runs are checked for an end nobody announced (a safety net). */
const WATCHDOG_MS = 5000;

/**
 * Streams: the event log's writers (one per executing run, handed to the executor as its sink),
 * the per-process hub, the followers behind the subscriptions, and the housekeeping — repairing
 * the end of runs that ended without a worker to write it, and sweeping old logs.
 */
export function createStreamService(deps: {
  db: Database;
  notifier: Notifier;
  runs: RunService;
  threads: ThreadService;
  /** Whether auth handlers can refuse anyone: then open streams re-check their access. */
  authz: Pick<Authorizer, "enabled">;
  log: Logger;
  options?: Partial<StreamOptions>;
}) {
  const { db, notifier, runs, threads, log } = deps;
  const access = createAccessWatch();
  const { pool } = db;
  const options = { ...DEFAULT_STREAM_OPTIONS, ...deps.options };
  const hub = createStreamHub({ pool, log, origin: randomUUID() });
  const unsubscribe: Array<() => void> = [];
  const timers: NodeJS.Timeout[] = [];
  /** Runs whose writer (this process executes them) records their end itself. */
  const writing = new Set<string>();
  /** Runs whose end this process wrote to their log, lately. */
  const loggedHere = new Set<string>();
  /** Shutting down: subscriptions close because the server goes, not their clients. */
  let stopping = false;

  function sinkFor(run: Run, place: LogPlace) {
    writing.add(run.id);
    return createRunWriter({
      run,
      place,
      pool,
      appends: db.grouped.durable,
      hub,
      log,
      onClose: (endLogged) => {
        writing.delete(run.id);
        if (endLogged) {
          // Its "ended" announcements (ours, echoed back by NOTIFY) need no look at the log.
          loggedHere.add(run.id);
          setTimeout(() => loggedHere.delete(run.id), 60_000).unref();
        }
      },
      options: {
        flushMs: options.flushMs,
        maxBatch: 500,
        retentionSeconds: options.retentionSeconds,
      },
    });
  }

  /**
   * Writes the end of a run that is over while its log does not say so — when no run of its
   * thread executes (otherwise that run's end transaction does it). True when the end is (now)
   * in the log or the run is not over.
   */
  async function repairEnd(runId: string, threadId: string): Promise<boolean> {
    let repaired: EventBatch | null = null;
    const done = await deps.db.transaction(async (client) => {
      if (!(await sql.lockThreadForRepair(client, threadId))) return false;
      const run = await sql.unendedRun(client, runId, options.retentionSeconds);
      if (!run) return true;
      const events = await repairEvents(client, run, await sql.lastThreadEventId(client, threadId));
      await writeFor(client, run, events, hub.origin);
      repaired = batchOf(run.id, run.threadId, events);
      return true;
    });
    if (repaired) hub.publish(repaired);
    return done;
  }

  /** A log without an end whose run is gone (deleted with its thread mid-run): end it. */
  async function endOrphan(runId: string): Promise<boolean> {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`lgql_run_end:${runId}`]);
      const state = await sql.runLogState(client, runId);
      if (state.status !== null || state.lastId === 0 || state.lastKind === "RUN_ENDED") {
        await client.query("COMMIT");
        return state.lastKind === "RUN_ENDED";
      }
      const [id] = await sql.reserveIds(client, 1);
      const threadId = state.threadId!;
      const prevThread = await sql.lastThreadEventId(client, threadId);
      const event: StreamEvent = {
        seq: id!,
        id: String(id),
        runId,
        threadId,
        namespace: [],
        kind: "RUN_ENDED",
        payload: { status: "INTERRUPTED" },
      };
      const pending = [{ event, prevRun: state.lastId, prevThread }];
      await writeFor(client, { id: runId, threadId }, pending, hub.origin);
      await client.query("COMMIT");
      hub.publish(batchOf(runId, threadId, pending));
      return true;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async function checkEnd(runId: string): Promise<EndState> {
    const state = await sql.runLogState(pool, runId);
    if (state.lastKind === "RUN_ENDED") return "ended";
    if (state.status === null) {
      if (state.lastId === 0) return "gone";
      return (await endOrphan(runId)) ? "ended" : "gone";
    }
    if (!FINAL_STATUSES.includes(state.status as Run["status"])) return "open";
    if ((state.endedSecondsAgo ?? 0) > options.retentionSeconds) return "gone";
    return (await repairEnd(runId, state.threadId!)) ? "ended" : "open";
  }

  const followDeps = { pool, hub, log, checkEnd };

  /**
   * The run as it is now, for RunStartedEvent. A thousand subscribers of one run resolve the
   * same event at once: they share one read.
   */
  const runReads = new Map<string, Promise<Run | null>>();
  // Every subscriber was authorized for the run when it joined, so one read serves them all.
  const joined = systemCaller(null);
  /**
   * The run as it is now, for RunStartedEvent.run; null when it no longer exists or cannot be
   * read right now (the database is away): the event then shows the run as it was when the event
   * was written, rather than reaching its subscriber with a field error.
   */
  function currentRun(runId: string): Promise<Run | null> {
    let read = runReads.get(runId);
    if (!read) {
      read = runs
        .get(joined, runId)
        .catch((error) => {
          if (isDatabaseUnavailable(error)) return null;
          throw error;
        })
        .finally(() => runReads.delete(runId));
      runReads.set(runId, read);
    }
    return read;
  }

  /**
   * A run-end hook (in the transaction that ends a run): a run that ends without a writer — given
   * up by the lease reaper, or interrupted while pending — has its end recorded here, before the
   * thread's next run is dispatched. Not while another run of the thread executes: its writer
   * appends to the thread's log without the thread's lock, so that run's own end records this
   * one instead (see writer.finish).
   */
  async function onRunFinished(client: pg.PoolClient, ended: { id: string }): Promise<void> {
    if (writing.has(ended.id)) return;
    await client.query("SAVEPOINT lgql_stream_repair");
    try {
      const run = await sql.unendedRun(client, ended.id, options.retentionSeconds);
      if (run && !(await sql.otherRunExecuting(client, run.threadId, run.id))) {
        const events = await repairEvents(
          client,
          run,
          await sql.lastThreadEventId(client, run.threadId),
        );
        // Another origin than ours: this process reads it back once committed, like any other.
        await writeFor(client, run, events, "repair");
      }
      await client.query("RELEASE SAVEPOINT lgql_stream_repair");
    } catch (error) {
      await client.query("ROLLBACK TO SAVEPOINT lgql_stream_repair");
      log.warn("recording the end of an abandoned run's stream failed", { runId: ended.id, error });
    }
  }

  function parseAfter(after: string | null | undefined): number | null {
    if (after == null) return null;
    if (!/^\d{1,15}$/.test(after)) {
      throw new InvalidInputError(
        `after must be an event id (the id of an event you received), got "${after}"`,
        { field: "after" },
      );
    }
    return Number(after);
  }

  function modeSet(modes: readonly StreamModeName[] | null | undefined) {
    return modes == null ? null : new Set<string>(modes);
  }

  /**
   * An authorised stream stays authorised (see guardStream): for a caller the auth handlers
   * decide about; everyone else is allowed everything, and their streams are left as they are.
   */
  function guarded(
    caller: Caller,
    stream: EventStream,
    scope: "run" | "thread",
    threadId: string,
    recheck: () => Promise<void>,
  ): GuardedStream {
    if (!deps.authz.enabled || caller.kind !== "user") return stream;
    const checkRunStarts = scope === "thread";
    return guardStream(stream, { threadId, watch: access, recheck, checkRunStarts, log });
  }

  /** A run's stream is the caller's while they may see its run (`field` names it as a subscribe would). */
  function runAccess(caller: Caller, runId: string, field: string, label = runId) {
    return async () => {
      if (await runs.get(caller, runId)) return;
      if (await runs.goneRunVisible(caller, runId)) return;
      throw new NotFoundError(`run "${label}" not found`, { field });
    };
  }

  /** Joins a run's stream (replay after `after`, then live until its end). */
  async function runEvents(
    caller: Caller,
    runId: string,
    args: { after?: string | null; streamMode?: readonly StreamModeName[] | null } = {},
  ): Promise<GuardedStream> {
    const cursor = parseAfter(args.after) ?? 0;
    const id = runId.toLowerCase();
    const run = isUuid(runId) ? await runs.get(caller, id) : null;
    const log = isUuid(runId) ? await sql.runLogState(pool, id) : null;
    // A deleted stateless run is still streamable while its log is kept, by whoever could see
    // it; another user's run is missing, whatever its log holds.
    if (!run && (!log?.lastId || !(await runs.goneRunVisible(caller, id)))) {
      throw new NotFoundError(`run "${runId}" not found`, { field: "runId" });
    }
    if (
      run &&
      FINAL_STATUSES.includes(run.status) &&
      !log?.lastId &&
      (log?.endedSecondsAgo ?? 0) > options.retentionSeconds
    ) {
      throw new NotFoundError(
        `the events of run "${runId}" are no longer kept (they are kept ${options.retentionSeconds} s after a run ends)`,
        { field: "runId" },
      );
    }
    const stream = follow(followDeps, {
      scope: "run",
      key: id,
      cursor,
      modes: modeSet(args.streamMode),
      checkEndFirst: !run || FINAL_STATUSES.includes(run.status),
    });
    const threadId = run?.threadId ?? log?.threadId;
    if (!threadId) return stream;
    return guarded(caller, stream, "run", threadId, runAccess(caller, id, "runId", runId));
  }

  /** Follows a thread's runs, one after the other, for as long as the subscriber stays. */
  async function threadEvents(
    caller: Caller,
    threadId: string,
    args: { after?: string | null; streamMode?: readonly StreamModeName[] | null } = {},
  ): Promise<GuardedStream> {
    const after = parseAfter(args.after);
    const thread = isUuid(threadId) ? await threads.get(caller, threadId.toLowerCase()) : null;
    if (!thread) throw new NotFoundError(`thread "${threadId}" not found`, { field: "threadId" });
    const cursor = after ?? (await sql.threadJoinCursor(pool, thread.id));
    const stream = follow(followDeps, {
      scope: "thread",
      key: thread.id,
      cursor,
      modes: modeSet(args.streamMode),
    });
    return guarded(caller, stream, "thread", thread.id, async () => {
      if (!(await threads.get(caller, thread.id))) {
        throw new NotFoundError(`thread "${threadId}" not found`, { field: "threadId" });
      }
    });
  }

  /**
   * Creates a run (every RunInput rule applies) and streams it from its first event. With
   * onDisconnect CANCEL, a subscriber leaving before the end cancels the run. A retry carrying
   * the idempotency key of an earlier request streams that run instead, as runEvents would: it
   * may have ended (or lost its events) already, and leaving does not cancel it.
   */
  async function streamRun(caller: Caller, input: RunInput): Promise<GuardedStream> {
    const { run, reused } = await runs.createOrFind(caller, input);
    const stream = follow(followDeps, {
      scope: "run",
      key: run.id,
      cursor: 0,
      modes: null,
      checkEndFirst: reused,
    });
    if (input.onDisconnect === "CANCEL" && !reused) {
      void stream.over.then(({ reachedEnd }) => {
        // A server going away is not the subscriber leaving: it resumes elsewhere with `after`.
        if (reachedEnd || stopping) return;
        runs.cancel(caller, run.id, "INTERRUPT", false).catch((error) => {
          log.warn("cancelling a run whose subscriber left failed", { runId: run.id, error });
        });
      });
    }
    // A stateless run's thread is its own: nobody can hand it to someone else.
    if (input.threadId == null) return stream;
    return guarded(
      caller,
      stream,
      "run",
      run.threadId,
      runAccess(caller, run.id, "input.threadId", run.id),
    );
  }

  /** Runs that ended without their worker (cancelled while pending, abandoned): write their end. */
  function onControl(payload: string) {
    let message: RunControl;
    try {
      message = JSON.parse(payload) as RunControl;
    } catch {
      return;
    }
    if (message.kind !== "ended" || hub.isLocal(message.runId) || loggedHere.has(message.runId)) {
      return;
    }
    checkEnd(message.runId)
      .then((state) => {
        if (state !== "open") hub.hintAll(message.runId, null);
      })
      .catch((error) => log.warn("recording a run's end failed", { runId: message.runId, error }));
  }

  /**
   * A safety net for lost notifications, one read per followed run (not per follower): a log
   * that holds more than this process published, or a run over without its end, makes the run's
   * followers re-read.
   */
  async function watchdog() {
    for (const runId of hub.followedRuns()) {
      try {
        const state = await sql.runLogState(pool, runId);
        const over =
          state.status === null || FINAL_STATUSES.includes(state.status as Run["status"]);
        if (state.lastId > hub.lastPublished(runId) || (over && state.lastKind !== "RUN_ENDED")) {
          hub.hintAll(runId, null);
        }
      } catch (error) {
        log.warn("checking a followed run failed", { runId, error });
      }
    }
  }

  async function sweep() {
    try {
      let deleted = 0;
      for (let i = 0; i < 20; i++) {
        const n = await sql.sweepEvents(pool, options.retentionSeconds, 500);
        deleted += n;
        if (n === 0) break;
      }
      if (deleted > 0) log.debug("swept old stream events", { deleted });
    } catch (error) {
      log.warn("sweeping old stream events failed", { error });
    }
  }

  return {
    sinkFor,
    runEvents,
    threadEvents,
    streamRun,
    checkEnd,
    onRunFinished,
    currentRun,
    sweep,
    hub,

    /** Listens for committed batches and run ends; starts the sweeper and the watchdog. */
    start() {
      unsubscribe.push(
        notifier.on(sql.RUN_EVENTS_CHANNEL, (payload) => hub.onNotice(payload)),
        notifier.on(RUN_CONTROL_CHANNEL, onControl),
        notifier.on("reconnected", () => hub.hintEveryone()),
        notifier.on(sql.THREAD_ACCESS_CHANNEL, (threadId) => access.changed(threadId)),
      );
      const sweepSeconds =
        options.sweepSeconds ??
        Math.min(300, Math.max(1, Math.round(options.retentionSeconds / 10)));
      timers.push(
        setInterval(() => void sweep(), sweepSeconds * 1000),
        setInterval(() => void watchdog(), WATCHDOG_MS),
      );
      for (const timer of timers) timer.unref();
    },

    /** Idempotent; call it before the API closes its subscriptions (see onDisconnect). */
    stop() {
      stopping = true;
      for (const off of unsubscribe.splice(0)) off();
      for (const timer of timers.splice(0)) clearInterval(timer);
    },
  };
}

export type StreamService = ReturnType<typeof createStreamService>;
