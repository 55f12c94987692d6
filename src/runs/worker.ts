import type pg from "pg";
import type PgBoss from "pg-boss";
import type { Database } from "../db/database.ts";
import { FIRST_EVENT_BLOCK } from "../db/sql/events.ts";
import * as sql from "../db/sql/runs.ts";
import { forgetDeadWorkers, lostRunsExist } from "../db/sql/workers.ts";
import type { Logger } from "../log.ts";
import { type Boss, inTransaction, RUN_QUEUE, type RunJob } from "../queue/boss.ts";
import { createFetchLoop } from "../queue/fetch-loop.ts";
import type { Notifier } from "../queue/notifier.ts";
import type { Executor, StopReason } from "./executor.ts";
import type { CancelAction, LocalSlot, RunControl, RunService } from "./service.ts";
import { createWorkerIdentity } from "./worker-identity.ts";

/**
 * How often every worker process looks for runs that lost their worker (a cheap statement; see
 * lostRunsExist): a worker that dies is noticed within about this long, not a lease period.
 */
const LOST_RUNS_CHECK_MS = 1000;

export interface RunWorkerOptions {
  /** Runs executed at once by this process. */
  concurrency: number;
  /**
   * How long a lease holds without renewal; a run whose lease lapses is resumed elsewhere. Only
   * a worker that hangs while connected needs it: one whose process or connection ends is
   * noticed by its database session ending (see worker-identity.ts).
   */
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
  const identity = createWorkerIdentity({
    url: deps.db.url,
    log,
    onLost: (owner) => {
      for (const execution of active) {
        if (execution.owner === owner) stopExecution(execution, { kind: "shutdown" });
      }
    },
    onRestored: () => void kick(),
  });
  /**
   * Executions in this process. Usually one per run; but after this process lost its identity,
   * a run it was executing may be claimed again under the new one while the old execution still
   * winds down (fenced off: it writes nothing more).
   */
  const active = new Set<Execution>();
  const timers: NodeJS.Timeout[] = [];
  const unsubscribe: Array<() => void> = [];
  /** Direct claims of announced runs in flight (they hold a slot). */
  let claiming = 0;
  let stopping = false;
  /** Aborted when stop() gives up waiting: runs waiting for the database to hand back stop. */
  const quitting = new AbortController();
  let dueTimer: NodeJS.Timeout | null = null;

  function stopExecution(execution: Execution, reason: StopReason) {
    if (!execution.controller.signal.aborted) execution.controller.abort(reason);
  }

  function abort(runId: string, reason: StopReason) {
    for (const execution of active) if (execution.runId === runId) stopExecution(execution, reason);
  }

  /** Slots free for new runs: none while this process has no identity to claim them under. */
  function freeSlots(): number {
    if (identity.current() === null) return 0;
    return options.concurrency - active.size - claiming;
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
    free: freeSlots,
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

  async function claim(runId: string) {
    const owner = identity.current();
    if (owner === null) return null;
    return sql.claimRun(pool, runId, owner, options.leaseSeconds, FIRST_EVENT_BLOCK);
  }

  /**
   * Older runs may be waiting in the queue: this worker passed runs on for lack of a slot, or
   * filled every slot with its last fetch, or a fetch is under way (sized for the slots free
   * when it began). Then no run jumps the line, neither one just announced nor one created in
   * this process: the queue hands out runs in creation order (see runJobPriority).
   */
  function queueAhead(): boolean {
    return queue.isBehind() || queue.isFetching();
  }

  /**
   * A run announced with its job (it is due now) is claimed straight away when a slot is free
   * and no older run waits: one round trip from NOTIFY to executing, without going through
   * pg-boss's fetch. Its job, never fetched, is cancelled when the run ends (a worker that
   * fetches it meanwhile fails to claim the run and completes it instead). Anything else (no
   * free slot, older runs waiting, a lost race) is left to the queue.
   */
  async function claimAnnounced(runId: string, jobId: string) {
    if (stopping) return;
    if (freeSlots() <= 0) {
      queue.markBehind();
      return;
    }
    if (queueAhead()) {
      // A slot is free: fetch (or fetch again once the fetch under way returns), oldest first.
      void kick();
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
      // The slot went unused while older runs arrived: they are fetched now, not on the tick.
      if (queue.isBehind() && active.size + claiming < options.concurrency) void kick("finished");
    }
  }

  /**
   * A slot for a run created in this process (see LocalWorker): held from before its creation's
   * transaction, executing it once that commits, freed if it turns out not to be claimable.
   */
  function reserve(): LocalSlot | null {
    const owner = identity.current();
    if (stopping || owner === null || freeSlots() <= 0 || queueAhead()) return null;
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
    // The owner it was claimed under, which fences everything it writes (see RunLease).
    const owner = claimed.run.leaseOwner ?? "";
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
        active.delete(execution);
        if (!jobSettled) await settleJob().catch(() => undefined);
        if (queue.isBehind()) void kick("finished");
      });
    const execution: Execution = { runId, owner, controller, done };
    active.add(execution);
  }

  /** Keeps this worker's leases alive, and catches cancels whose notification was missed. */
  async function renew() {
    const owner = identity.current();
    // Runs claimed under an identity this process lost are being stopped (see onLost).
    const ids = [...active].filter((e) => e.owner === owner).map((e) => e.runId);
    if (owner === null || ids.length === 0) return;
    try {
      const held = await sql.renewLeases(pool, owner, ids, options.leaseSeconds);
      const heldIds = new Set(held.map((r) => r.id));
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
   * Any process may find runs whose worker is gone (its session ended, or it hangs past its
   * lease): they go back to the queue (resuming from their last checkpoint) until they have used
   * their attempts.
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
              // "session": its worker's database session ended; "lease": it stopped renewing.
              cause: lapsed.cause,
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

  let checking = false;
  /** The check every process makes about once a second; a transaction only when it finds one. */
  async function reapIfLost() {
    if (checking) return;
    checking = true;
    try {
      if (await lostRunsExist(pool)) await reap();
    } catch (error) {
      log.warn("looking for runs that lost their worker failed", { error });
    } finally {
      checking = false;
    }
  }

  async function forgetDead() {
    await forgetDeadWorkers(pool).catch((error) =>
      log.warn("removing dead workers failed", { error }),
    );
  }

  return {
    /** The owner this process claims runs as now (null while it has none). */
    owner: () => identity.current(),
    activeRuns: () => [...new Set([...active].map((e) => e.runId))],

    async start() {
      // Before anything is claimed: every run this process holds is under a live lock.
      await identity.start();
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
        setInterval(() => void reapIfLost(), LOST_RUNS_CHECK_MS),
        setInterval(() => void forgetDead(), Math.max(500, options.leaseSeconds * 500)),
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
      const all = () => Promise.all([...active].map((e) => e.done));
      const graceful = await Promise.race([
        all().then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
      ]);
      if (!graceful) {
        for (const execution of active) stopExecution(execution, { kind: "shutdown" });
        quitting.abort();
        await all();
      }
      // Last: while it is held, no other process takes over what this one still executes.
      await identity.stop();
    },
  };
}

interface Execution {
  runId: string;
  /** The identity it was claimed under. */
  owner: string;
  controller: AbortController;
  done: Promise<void>;
}

export type RunWorker = ReturnType<typeof createRunWorker>;
