import { systemCaller } from "../auth/caller.ts";
import type { Database } from "../db/database.ts";
import * as sql from "../db/sql/crons.ts";
import { ConflictError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Notifier } from "../queue/notifier.ts";
import type { RunInput, RunService } from "../runs/service.ts";
import { nextRunTime } from "./schedule.ts";

export interface CronSchedulerOptions {
  /** Safety-net period; the scheduler also wakes at the earliest next run and on changes. */
  tickSeconds: number;
  /** Crons fired per tick before the next run time is looked up again. */
  batch?: number;
}

/**
 * Fires due crons. Every process runs one; they need not agree on anything but the database.
 *
 * Exactly once: a fire is one transaction that locks a due cron row (FOR UPDATE SKIP LOCKED),
 * creates its run, and moves `next_run_at` to the first slot after the transaction's now(). A
 * second process either skips the locked row or, once the first commits, re-checks the new row
 * version and finds it not due; so each slot yields one run, and a run exists only if its slot
 * was consumed. A cron that was due several times while no process ran fires once, then waits
 * for its next slot after now (no backfill).
 *
 * Clocks: "due" is `next_run_at <= now()` evaluated by PostgreSQL, and timers are armed with a
 * duration computed by the database (next_run_at - now()), so a process whose wall clock is
 * wrong still fires on time and never early; skew only changes which process wins a slot.
 */
export function createCronScheduler(deps: {
  db: Database;
  runs: RunService;
  notifier: Notifier;
  log: Logger;
  options: CronSchedulerOptions;
}) {
  const { db, runs, notifier, log, options } = deps;
  const batch = options.batch ?? 100;
  const unsubscribe: Array<() => void> = [];
  let safety: NodeJS.Timeout | null = null;
  let dueTimer: NodeJS.Timeout | null = null;
  let ticking: Promise<void> | null = null;
  let again = false;
  let started = false;
  let stopped = false;
  let fired = 0;

  /** Fires one due cron, if any; false when none was due (or all due ones are being fired). */
  async function fireOne(): Promise<boolean> {
    const client = await db.pool.connect();
    let afterCommit: (() => Promise<void>) | null = null;
    let cronId: string | null = null;
    try {
      await client.query("BEGIN");
      const cron = await sql.lockDueCron(client);
      if (!cron) {
        await client.query("COMMIT");
        return false;
      }
      cronId = cron.id;
      const now = await sql.transactionNow(client);
      // The run goes in under a savepoint: if it cannot be created (REJECT on a busy thread, a
      // graph that no longer loads), the slot is still consumed, so a broken cron cannot be
      // retried by every process on every tick.
      await client.query("SAVEPOINT cron_run");
      let runId: string | null = null;
      try {
        const created = await runs.createInTransaction(
          client,
          // Authorized when the cron was made; its runs act for the user who made it.
          systemCaller(cron.auth_user),
          runInput(cron),
        );
        await client.query("RELEASE SAVEPOINT cron_run");
        runId = created.runId;
        afterCommit = created.afterCommit;
      } catch (error) {
        await client.query("ROLLBACK TO SAVEPOINT cron_run");
        // REJECT on a busy thread is the cron working as configured, not a fault.
        const busy = error instanceof ConflictError;
        log[busy ? "info" : "warn"]("cron could not start its run; skipping this slot", {
          cronId: cron.id,
          slot: cron.next_run_at?.toISOString(),
          error: (error as Error).message,
        });
      }
      const next = nextRunTime(cron.schedule, cron.timezone, now, {
        endTime: cron.end_time,
        seed: cron.id,
      });
      await sql.advanceCron(client, cron.id, next, runId !== null);
      await client.query("COMMIT");
      if (runId) fired++;
      log.debug("cron fired", {
        cronId: cron.id,
        runId,
        slot: cron.next_run_at?.toISOString(),
        next: next?.toISOString() ?? null,
      });
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw Object.assign(error as Error, { cronId });
    } finally {
      client.release();
    }
    await afterCommit?.().catch((error) => log.warn("announcing a cron run failed", { error }));
    return true;
  }

  async function tickOnce(): Promise<void> {
    try {
      for (let i = 0; i < batch && !stopped; i++) {
        if (!(await fireOne())) break;
      }
      await arm();
    } catch (error) {
      log.warn("cron tick failed; retrying on the next tick", { error });
    }
  }

  /** Sleeps until the earliest next run, by the database's clock; the safety tick caps it. */
  async function arm() {
    if (!started || stopped) return;
    const ms = await sql.msUntilNextCron(db.pool);
    if (dueTimer) clearTimeout(dueTimer);
    dueTimer = null;
    if (ms === null) return;
    // <= 0: a due cron is being fired by another process (its row is locked); look again soon.
    const delay = ms <= 0 ? 50 : Math.min(ms + 1, options.tickSeconds * 1000);
    dueTimer = setTimeout(() => void tick(), delay);
  }

  /** Fires everything due now; concurrent calls coalesce into one more pass. */
  function tick(): Promise<void> {
    if (ticking) {
      again = true;
      return ticking;
    }
    ticking = (async () => {
      do {
        again = false;
        await tickOnce();
      } while (again && !stopped);
    })().finally(() => {
      ticking = null;
    });
    return ticking;
  }

  return {
    tick,
    /** Runs this scheduler has started since it was created. */
    fired: () => fired,

    async start() {
      started = true;
      unsubscribe.push(
        notifier.on(sql.CRONS_CHANNEL, () => void tick()),
        notifier.on("reconnected", () => void tick()),
      );
      safety = setInterval(() => void tick(), options.tickSeconds * 1000);
      await tick();
    },

    async stop() {
      stopped = true;
      if (safety) clearInterval(safety);
      if (dueTimer) clearTimeout(dueTimer);
      for (const off of unsubscribe) off();
      unsubscribe.length = 0;
      await ticking;
    },
  };
}

export type CronScheduler = ReturnType<typeof createCronScheduler>;

/** The run a cron starts: its own settings, on its thread or (stateless) on a new one. */
function runInput(cron: sql.CronRow): RunInput {
  return {
    assistantId: cron.assistant_id,
    threadId: cron.thread_id,
    input: cron.input,
    config: cron.config ?? undefined,
    context: cron.context ?? undefined,
    metadata: cron.metadata,
    interruptBefore: cron.interrupt_before,
    interruptAfter: cron.interrupt_after,
    multitaskStrategy: cron.multitask_strategy,
    onCompletion: cron.thread_id ? null : cron.on_run_completed,
    webhook: cron.webhook,
    cronId: cron.id,
  };
}
