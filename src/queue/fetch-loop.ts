import type PgBoss from "pg-boss";
import type { Logger } from "../log.ts";

/**
 * The pull side of a pg-boss queue for a process with a fixed number of slots. pg-boss only
 * polls, so `kick()` is called whenever there may be work (a NOTIFY, a slot freed, a tick): it
 * fetches as many jobs as there are free slots until a batch comes back short. Kicks that arrive
 * while a fetch is under way are folded into one more round.
 */
export function createFetchLoop<T extends object, Reason extends string>(deps: {
  boss: PgBoss;
  queue: string;
  log: Logger;
  /** Slots free now. */
  free: () => number;
  /**
   * Takes one fetched job. A batch's jobs are started together (a run's claim is a round trip:
   * one after another, they would cap a saturated worker at one claim per round trip) and all
   * awaited before the slots are counted again.
   */
  start: (job: PgBoss.Job<T>) => void | Promise<void>;
  /** The queue had nothing fetchable: arm a timer for the next delayed job, if any. */
  whenEmpty: (reason: Reason | undefined) => Promise<void>;
}) {
  let fetching = false;
  let again = false;
  let stopped = false;
  /**
   * Work may be waiting that had no slot: a kick found every slot taken, or a fetch filled them
   * all. False once a fetch came back short (the queue was drained when last looked at).
   */
  let behind = false;

  async function kick(reason?: Reason): Promise<void> {
    if (stopped) return;
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    try {
      do {
        again = false;
        while (!stopped) {
          const free = deps.free();
          if (free <= 0) {
            behind = true;
            break;
          }
          behind = false;
          const jobs = await deps.boss.fetch<T>(deps.queue, { batchSize: free });
          if (jobs.length === 0) {
            await deps.whenEmpty(reason);
            break;
          }
          await Promise.all(jobs.map((job) => deps.start(job)));
          // A short batch means the queue is drained for now: no second, empty fetch.
          if (jobs.length < free) break;
          behind = true;
        }
      } while (again && !stopped);
    } catch (error) {
      deps.log.warn(`fetching from queue "${deps.queue}" failed; retrying shortly`, { error });
    } finally {
      fetching = false;
    }
  }

  return {
    kick,
    /** See `behind` above. */
    isBehind: () => behind,
    /** A fetch is under way: the slots it was sized for are spoken for. */
    isFetching: () => fetching,
    /** Work turned away for lack of a slot: the next freed slot should fetch. */
    markBehind: () => {
      behind = true;
    },
    stop: () => {
      stopped = true;
    },
  };
}
