import type pg from "pg";
import * as sql from "../db/sql/events.ts";
import type { Logger } from "../log.ts";
import { type EventBatch, type StreamEvent, toStreamEvent } from "./events.ts";

/** Someone in this process following a run's or a thread's events. */
export interface Listener {
  /** Events as they are published, in the order they are published. */
  batch(batch: EventBatch): void;
  /** The log may hold what this listener has not seen (a reconnect, a run's end): re-read it. */
  hint(): void;
}

/** How many flushed events a local run keeps in memory for followers joining mid-run. */
const KEEP_FLUSHED = 2048;

/**
 * The events of a run executing in this process, as they happen: those not flushed yet (which
 * nobody can read from the log) and the latest flushed ones. A follower reads the log first, then
 * takes the rest from here.
 */
export class LocalRunLog {
  readonly events: StreamEvent[] = [];
  /** Everything up to these positions (run / thread stream) is in the log, not necessarily here. */
  coveredRun: number;
  coveredThread: number;
  #flushed = 0;

  constructor(
    readonly runId: string,
    readonly threadId: string,
    prevRun: number,
    prevThread: number,
  ) {
    this.coveredRun = prevRun;
    this.coveredThread = prevThread;
  }

  append(event: StreamEvent): void {
    this.events.push(event);
  }

  markFlushed(seq: number): void {
    this.#flushed = Math.max(this.#flushed, seq);
    let drop = 0;
    while (this.events.length - drop > KEEP_FLUSHED && this.events[drop]!.seq <= this.#flushed) {
      drop++;
    }
    if (drop > 0) {
      const last = this.events[drop - 1]!.seq;
      this.events.splice(0, drop);
      this.coveredRun = last;
      this.coveredThread = last;
    }
  }

  /**
   * Events after `cursor`, or null when some between the cursor and what is kept here are only
   * in the log (read it again first).
   */
  since(cursor: number, scope: "run" | "thread"): StreamEvent[] | null {
    const covered = scope === "run" ? this.coveredRun : this.coveredThread;
    if (this.events.length === 0) return [];
    if (cursor < covered) return null;
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid]!.seq <= cursor) lo = mid + 1;
      else hi = mid;
    }
    return this.events.slice(lo);
  }
}

/**
 * The per-process switchboard between writers and followers. Runs executing here publish their
 * events as they happen; batches other processes commit arrive as NOTIFYs, and the hub reads each
 * once (whatever the number of followers here) and publishes it the same way.
 */
export function createStreamHub(deps: { pool: pg.Pool; log: Logger; origin: string }) {
  const { pool, log, origin } = deps;
  const runListeners = new Map<string, Set<Listener>>();
  const threadListeners = new Map<string, Set<Listener>>();
  const localRuns = new Map<string, LocalRunLog>();
  const localThreads = new Map<string, LocalRunLog>();
  /** Per run, the NOTIFY reads in flight: published in the order the batches were committed. */
  const reads = new Map<string, Promise<void>>();
  /** Per followed run, the last log position published here (what followers can have seen). */
  const published = new Map<string, number>();

  function attach(map: Map<string, Set<Listener>>, key: string, listener: Listener) {
    const set = map.get(key) ?? new Set<Listener>();
    map.set(key, set);
    set.add(listener);
    return () => {
      const current = map.get(key);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        map.delete(key);
        if (map === runListeners) published.delete(key);
      }
    };
  }

  function publish(batch: EventBatch): void {
    const byRun = runListeners.get(batch.runId);
    if (byRun) {
      const last = batch.events[batch.events.length - 1]?.seq ?? 0;
      published.set(batch.runId, Math.max(published.get(batch.runId) ?? 0, last));
    }
    if (byRun) for (const listener of byRun) listener.batch(batch);
    const byThread = threadListeners.get(batch.threadId);
    if (byThread) for (const listener of byThread) listener.batch(batch);
  }

  function hintAll(runId: string | null, threadId: string | null) {
    if (runId) for (const listener of runListeners.get(runId) ?? []) listener.hint();
    if (threadId) for (const listener of threadListeners.get(threadId) ?? []) listener.hint();
  }

  function onNotice(payload: string): void {
    let notice: sql.BatchNotice;
    try {
      notice = JSON.parse(payload) as sql.BatchNotice;
    } catch {
      return;
    }
    if (notice.o === origin) return; // Delivered from memory already.
    if (!runListeners.has(notice.r) && !threadListeners.has(notice.t)) return;
    const previous = reads.get(notice.r) ?? Promise.resolve();
    const next = previous
      .then(async () => {
        const rows = await sql.batchEvents(pool, notice.r, notice.f, notice.l);
        if (rows.length === 0) return;
        publish({
          runId: notice.r,
          threadId: notice.t,
          events: rows.map(toStreamEvent),
          prevRun: notice.p,
          prevThread: notice.q,
        });
      })
      .catch((error) => {
        // Followers notice the gap at the next batch, or now: they re-read the log.
        log.warn("reading a batch of stream events failed", { runId: notice.r, error });
        hintAll(notice.r, notice.t);
      });
    reads.set(notice.r, next);
    void next.finally(() => {
      if (reads.get(notice.r) === next) reads.delete(notice.r);
    });
  }

  return {
    origin,
    publish,
    onNotice,
    hintAll,
    /** Every follower re-reads the log (after the LISTEN connection was lost for a while). */
    hintEveryone() {
      for (const set of runListeners.values()) for (const listener of set) listener.hint();
      for (const set of threadListeners.values()) for (const listener of set) listener.hint();
    },
    attachRun: (runId: string, listener: Listener) => attach(runListeners, runId, listener),
    attachThread: (threadId: string, listener: Listener) =>
      attach(threadListeners, threadId, listener),
    followedRuns: () => [...runListeners.keys()],
    /** The last log position published here for a followed run (0: none yet). */
    lastPublished: (runId: string) => published.get(runId) ?? 0,
    /** A follower read the log this far (what it read needs no watchdog either). */
    noteRead(runId: string, seq: number) {
      if (runListeners.has(runId) && seq > (published.get(runId) ?? 0)) published.set(runId, seq);
    },
    /** How many followers a run or a thread has in this process. */
    followers: (scope: "run" | "thread", key: string) =>
      (scope === "run" ? runListeners : threadListeners).get(key)?.size ?? 0,
    followedThreads: () => [...threadListeners.keys()],
    registerLocal(runId: string, threadId: string, prevRun: number, prevThread: number) {
      const local = new LocalRunLog(runId, threadId, prevRun, prevThread);
      localRuns.set(runId, local);
      localThreads.set(threadId, local);
      return local;
    },
    unregisterLocal(local: LocalRunLog) {
      if (localRuns.get(local.runId) === local) localRuns.delete(local.runId);
      if (localThreads.get(local.threadId) === local) localThreads.delete(local.threadId);
    },
    isLocal: (runId: string) => localRuns.has(runId),
    localRun: (runId: string) => localRuns.get(runId) ?? null,
    localRunOfThread: (threadId: string) => localThreads.get(threadId) ?? null,
  };
}

export type StreamHub = ReturnType<typeof createStreamHub>;
