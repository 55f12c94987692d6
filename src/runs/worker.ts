import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type pg from "pg";
import type PgBoss from "pg-boss";
import type { Database } from "../db/database.ts";
import { FIRST_EVENT_BLOCK } from "../db/sql/events.ts";
import * as sql from "../db/sql/runs.ts";
import type { Logger } from "../log.ts";
import { type Boss, inTransaction, RUN_QUEUE, type RunJob } from "../queue/boss.ts";
import { createFetchLoop } from "../queue/fetch-loop.ts";
import type { Notifier } from "../queue/notifier.ts";
import type { Executor, StopReason } from "./executor.ts";
import type { CancelAction, LocalSlot, RunControl, RunService } from "./service.ts";

export interface RunWorkerOptions {
  /** Runs executed at once by this process. */
  concurrency: number;
  /** How long a lease holds without renewal; a run whose lease lapses is resumed elsewhere. */
  leaseSeconds: number;
  /** A run still going after this long ends TIMEOUT. */
  runTimeoutSeconds: number;
  /** Attempts (the first included) before a run that keeps losing its worker ends ERROR. */
  maxAttempts: number;
}

/**
 * Takes run jobs from pg-boss and executes them. pg-boss only polls, so this loop fetches when
 * told (a NOTIFY from whoever dispatched a run, in any process) and, as a safety net, once a
 * second; a fetch asks for as many jobs as there are free slots, so a backlog drains at full
 * concurrency without waiting for a polling interval.
 */
export function createRunWorker(deps: {
  db: Database;
  boss: Boss;
  notifier: Notifier;
  executor: Executor;
  runs: RunService;
  log: Logger;
  options: RunWorkerOptions;
  /** Called in the transaction that ends a run it gives up on, as the executor's finish() does. */
  onFinish?: ReadonlyArray<(client: pg.PoolClient, run: { id: string }) => Promise<void>>;
}) {
  const { pool } = deps.db;
  const { boss, notifier, log, options } = deps;
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  /** `leaseFrom`: when its lease was last known to be renewed (this process's clock). */
  const active = new Map<
    string,
    { controller: AbortController; done: Promise<void>; leaseFrom: number }
  >();
  const timers: NodeJS.Timeout[] = [];
  const unsubscribe: Array<() => void> = [];
  /** Direct claims of announced runs in flight (they hold a slot). */
  let claiming = 0;
  let stopping = false;
  /** Aborted when stop() gives up waiting: runs waiting for the database to hand back stop. */
  const quitting = new AbortController();
  let dueTimer: NodeJS.Timeout | null = null;

  function abort(runId: string, reason: StopReason) {
    const entry = active.get(runId);
    if (entry && !entry.controller.signal.aborted) entry.controller.abort(reason);
  }

  /**
   * A freed slot fetches only when the loop is behind (an announcement passed on, a fetch that
   * filled every slot); otherwise it waits for the next announcement (or the tick). A "finished"
   * kick (a slot just freed) skips looking up delayed runs: the tick and notifications keep that
   * timer current.
   */
  const queue = createFetchLoop<RunJob, "finished">({
    boss,
    queue: RUN_QUEUE,
    log,
    free: () => options.concurrency - active.size - claiming,
    start: (job) => start(job.id, job.data.runId),
    whenEmpty: (reason) => (reason === "finished" ? Promise.resolve() : scheduleDue()),
  });
  const kick = queue.kick;

  /** Wakes up when the earliest delayed run (afterSeconds) becomes due. */
  async function scheduleDue() {
    const at = await sql.nextDueAt(pool);
    if (dueTimer) clearTimeout(dueTimer);
    dueTimer = null;
    if (at) dueTimer = setTimeout(() => void kick(), Math.max(0, at.getTime() - Date.now()) + 5);
  }

  async function start(jobId: string, runId: string) {
    const claimed = await claim(runId);
    if (!claimed) {
      // Cancelled, deleted, taken by another worker, or not its turn: its line will dispatch it
      // again when it is.
      await boss.complete(RUN_QUEUE, jobId).catch(() => undefined);
      return;
    }
    execute(claimed, { id: jobId, fetched: true });
  }

  function claim(runId: string) {
    return sql.claimRun(pool, runId, owner, options.leaseSeconds, FIRST_EVENT_BLOCK);
  }

  /**
   * A run announced with its job (it is due now) is claimed straight away when a slot is free:
   * one round trip from NOTIFY to executing, without going through pg-boss's fetch. Its job,
   * never fetched, is cancelled when the run ends (a worker that fetches it meanwhile fails to
   * claim the run and completes it instead). Anything else (no free slot, a lost race) is left
   * to the queue.
   */
  async function claimAnnounced(runId: string, jobId: string) {
    if (stopping) return;
    if (active.size + claiming >= options.concurrency) {
      queue.markBehind();
      return;
    }
    claiming++;
    try {
      const claimed = await claim(runId);
      if (claimed) execute(claimed, { id: jobId, fetched: false });
    } catch (error) {
      log.warn("claiming an announced run failed; the queue delivers it", { runId, error });
    } finally {
      claiming--;
    }
  }

  /**
   * A slot for a run created in this process (see LocalWorker): held from before its creation's
   * transaction, executing it once that commits, freed if it turns out not to be claimable.
   */
  function reserve(): LocalSlot | null {
    if (stopping || active.size + claiming >= options.concurrency) return null;
    claiming++;
    let held = true;
    const free = () => {
      if (!held) return false;
      held = false;
      claiming--;
      return true;
    };
    return {
      claim: { owner, leaseSeconds: options.leaseSeconds },
      start(claimed) {
        if (!free()) return;
        execute(claimed, null);
        // Created as this worker stopped: handed back to the queue at once.
        if (stopping) abort(claimed.run.id, { kind: "shutdown" });
      },
      release() {
        if (free() && queue.isBehind()) void kick("finished");
      },
    };
  }

  /**
   * Executes a claimed run. Its job, if it has one, is settled with the run's end: a fetched one
   * completed, an announced one (never fetched) cancelled; a run claimed with its creation has
   * none.
   */
  function execute(claimed: sql.ClaimedRun, job: { id: string; fetched: boolean } | null) {
    const runId = claimed.run.id;
    const claimedAt = Date.now();
    const controller = new AbortController();
    const timeout = setTimeout(
      () => abort(runId, { kind: "timeout" }),
      options.runTimeoutSeconds * 1000,
    );
    // In the transaction that ends the run; if that never commits, on pg-boss's own
    // connection afterwards.
    let jobSettled = job === null;
    const settleJob = async (db?: PgBoss.Db) => {
      if (job === null) return;
      if (job.fetched) await boss.complete(RUN_QUEUE, job.id, {}, { db });
      else await boss.cancel(RUN_QUEUE, job.id, { db });
    };
    const done = deps.executor
      .execute(
        claimed,
        owner,
        controller.signal,
        async (client) => {
          await settleJob(inTransaction(client));
          jobSettled = true;
        },
        quitting.signal,
      )
      .catch((error) => {
        jobSettled = false;
        log.error("run execution failed", { runId, error });
      })
      .finally(async () => {
        clearTimeout(timeout);
        active.delete(runId);
        if (!jobSettled) await settleJob().catch(() => undefined);
        if (queue.isBehind()) void kick("finished");
      });
    active.set(runId, { controller, done, leaseFrom: claimedAt });
  }

  /** Keeps this worker's leases alive, and catches cancels whose notification was missed. */
  async function renew() {
    stopUnrenewed();
    const ids = [...active.keys()];
    if (ids.length === 0) return;
    const sentAt = Date.now();
    try {
      const held = await sql.renewLeases(pool, owner, ids, options.leaseSeconds);
      const heldIds = new Set(held.map((r) => r.id));
      for (const id of heldIds) {
        const entry = active.get(id);
        if (entry) entry.leaseFrom = Math.max(entry.leaseFrom, sentAt);
      }
      for (const row of held) {
        if (row.cancel_action)
          abort(row.id, { kind: "cancel", action: row.cancel_action as CancelAction });
      }
      for (const id of ids) {
        // Lost the lease (we stalled past it and another worker resumed the run): stop here;
        // the run's new owner finishes it.
        if (!heldIds.has(id)) abort(id, { kind: "shutdown" });
      }
    } catch (error) {
      log.warn("renewing run leases failed", { error });
    }
  }

  /**
   * While the database is out of reach nothing renews: a run whose lease may lapse before it is
   * back stops here first (two thirds into the lease), so that whoever resumes it once it is back
   * never finds this attempt still executing. It goes back to the queue when the database
   * returns, unless a reaper has requeued it already.
   */
  function stopUnrenewed() {
    const stopBefore = Date.now() - (options.leaseSeconds * 1000 * 2) / 3;
    for (const [runId, entry] of active) {
      if (entry.leaseFrom < stopBefore && !entry.controller.signal.aborted) {
        log.warn("stopping a run whose lease could not be renewed (database unavailable)", {
          runId,
        });
        abort(runId, { kind: "shutdown" });
      }
    }
  }

  /**
   * Any process may find runs whose worker died: they go back to the queue (resuming from their
   * last checkpoint) until they have used their attempts.
   */
  async function reap() {
    try {
      const ended: string[] = [];
      await deps.runs.transaction(async (client) => {
        for (const lapsed of await sql.lockLapsedRuns(client, 100)) {
          if (lapsed.attempt >= options.maxAttempts) {
            await sql.finishRunAbandoned(client, lapsed.id, {
              type: "WorkerLost",
              message: `the run's worker stopped ${lapsed.attempt} time(s); giving up`,
            });
            await sql.settleThreadStatus(client, lapsed.thread_id, "ERROR");
            for (const hook of deps.onFinish ?? []) await hook(client, { id: lapsed.id });
            ended.push(lapsed.id);
          } else {
            await sql.requeueRun(client, lapsed.id);
            log.warn("run lost its worker; resuming it from its last checkpoint", {
              runId: lapsed.id,
              attempt: lapsed.attempt,
            });
          }
          await deps.runs.dispatchNext(client, lapsed.thread_id);
        }
      });
      for (const runId of ended) await deps.runs.control({ runId, kind: "ended" });
    } catch (error) {
      log.warn("reaping lapsed runs failed", { error });
    }
  }

  return {
    owner,
    activeRuns: () => [...active.keys()],

    async start() {
      deps.runs.attachLocalWorker({ reserve });
      unsubscribe.push(
        notifier.on(sql.RUNS_CHANNEL, (payload) => {
          const announced = sql.parseRunAnnouncement(payload);
          void (announced.jobId ? claimAnnounced(announced.runId, announced.jobId) : kick());
        }),
        notifier.on("reconnected", () => void kick()),
        notifier.on(sql.RUN_CONTROL_CHANNEL, (payload) => {
          const message = JSON.parse(payload) as RunControl;
          if (message.kind === "cancel" && message.action) {
            abort(message.runId, { kind: "cancel", action: message.action });
          }
        }),
      );
      const renewEvery = Math.max(200, (options.leaseSeconds * 1000) / 3);
      timers.push(
        setInterval(() => void kick(), 1000),
        setInterval(() => void renew(), renewEvery),
        setInterval(() => void reap(), Math.max(500, options.leaseSeconds * 500)),
      );
      await reap();
      await kick();
    },

    /**
     * Stops taking runs, lets running ones finish within `graceMs`, then hands the rest back to
     * the queue (another worker resumes them from their last checkpoint).
     */
    async stop(graceMs = 10_000) {
      stopping = true;
      deps.runs.attachLocalWorker(null);
      queue.stop();
      for (const timer of timers) clearInterval(timer);
      if (dueTimer) clearTimeout(dueTimer);
      for (const off of unsubscribe) off();
      const all = () => Promise.all([...active.values()].map((a) => a.done));
      const graceful = await Promise.race([
        all().then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
      ]);
      if (!graceful) {
        for (const id of active.keys()) abort(id, { kind: "shutdown" });
        quitting.abort();
        await all();
      }
    },
  };
}

export type RunWorker = ReturnType<typeof createRunWorker>;
