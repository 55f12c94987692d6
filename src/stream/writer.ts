import type pg from "pg";
import * as sql from "../db/sql/events.ts";
import type { LogPlace } from "../db/sql/runs.ts";
import type { StatementSender } from "../db/statement-group.ts";
import type { Run } from "../generated/prisma/client.ts";
import type { Logger } from "../log.ts";
import type { RunEndOutcome, RunEventSink } from "../runs/executor.ts";
import { encodeChunk, interruptList, type MetadataCache, toPlainJson } from "./encode.ts";
import { type EventBatch, type EventKind, KIND_OF_MODE, type StreamEvent } from "./events.ts";
import type { LocalRunLog, StreamHub } from "./hub.ts";

export interface WriterOptions {
  /** At most one flush per this many ms (plus one at each lifecycle point). */
  flushMs: number;
  /** A flush starts at once when this many events wait. */
  maxBatch: number;
  /** Ends are repaired for runs that ended this recently (older logs are swept). */
  retentionSeconds: number;
}

export interface Pending {
  event: StreamEvent;
  prevRun: number;
  prevThread: number;
}

const MAX_BLOCK = 1024;
/** At most this many buffered events are written in the transaction that records the end. */
const END_BATCH = 200;

/**
 * Records one attempt of a run: every chunk the executor hands over becomes events with their
 * final log ids at once, published to this process's followers immediately and appended to the
 * log in batches — at most one commit per `flushMs`, one NOTIFY per commit — and the end events
 * are written inside the transaction that records the run's end.
 *
 * Ids are reserved from the log's sequence in blocks (a small one when the attempt starts, large
 * ones once it streams), so assigning one never waits for the database; the next block is fetched
 * ahead of need, and events arriving when none is left wait for it in order.
 */
export function createRunWriter(deps: {
  run: Run;
  /** Where the attempt starts in the log, reserved when the run was claimed. */
  place: LogPlace;
  pool: pg.Pool;
  /** Where batches are appended (durably): they only insert new rows (see Database.grouped). */
  appends: StatementSender;
  hub: StreamHub;
  log: Logger;
  options: WriterOptions;
  /**
   * Called once the writer is done (its run ended, or went back to the queue); `endLogged`:
   * the run's end is committed to its log, and published here.
   */
  onClose?: (endLogged: boolean) => void;
}): RunEventSink {
  const { run, pool, hub, log, options } = deps;
  const runId = run.id;
  const threadId = run.threadId;
  const owner = run.leaseOwner;
  const modes = new Set<string>(run.streamModes);

  let ids: number[] = deps.place.ids;
  let next = 0;
  let reserving: Promise<void> | null = null;
  /** Events that arrived while no id was left, in order. */
  const parked: Array<{ kind: EventKind; namespace: string[]; payload: Record<string, unknown> }> =
    [];

  let lastRun = deps.place.prevRun;
  let lastThread = deps.place.prevThread;
  let local: LocalRunLog | null = null;
  /** started() was called: chunks become events. */
  let started = false;
  /** Lost the run to another worker: nothing more is written. */
  let lost = false;
  const metadataCache: MetadataCache = new WeakMap();

  let buffer: Pending[] = [];
  let flushing: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let lastFlushAt = 0;
  let failures = 0;
  /** Set by finish(): what ended() publishes once the end is committed. */
  let finalBatches: EventBatch[] = [];

  function assign(kind: EventKind, namespace: string[], payload: Record<string, unknown>): Pending {
    const seq = ids[next++]!;
    const pending: Pending = {
      event: { seq, id: String(seq), runId, threadId, namespace, kind, payload },
      prevRun: lastRun,
      prevThread: lastThread,
    };
    lastRun = seq;
    lastThread = seq;
    return pending;
  }

  function emitLive(kind: EventKind, namespace: string[], payload: Record<string, unknown>) {
    if (parked.length > 0 || next >= ids.length) {
      parked.push({ kind, namespace, payload });
      reserveMore();
      return;
    }
    publishLive(assign(kind, namespace, payload));
    if (ids.length - next < ids.length / 4) reserveMore();
  }

  function publishLive(pending: Pending) {
    buffer.push(pending);
    local?.append(pending.event);
    hub.publish({
      runId,
      threadId,
      events: [pending.event],
      prevRun: pending.prevRun,
      prevThread: pending.prevThread,
    });
    scheduleFlush(buffer.length >= options.maxBatch);
  }

  function reserveMore() {
    if (reserving || lost || !started) return;
    // A run that outgrows its first block streams tokens: big blocks from then on.
    reserving = sql
      .reserveIds(pool, MAX_BLOCK)
      .then((more) => {
        ids = ids.slice(next).concat(more);
        next = 0;
        reserving = null;
        const ready = parked.splice(0, ids.length - next);
        for (const event of ready) publishLive(assign(event.kind, event.namespace, event.payload));
        if (parked.length > 0 || ids.length - next < ids.length / 4) reserveMore();
      })
      .catch((error) => {
        log.warn("reserving stream event ids failed; retrying", { runId, error });
        setTimeout(() => {
          reserving = null;
          reserveMore();
        }, 100).unref();
      });
  }

  function scheduleFlush(urgent = false) {
    if (lost || flushing) return; // A running flush reschedules when it is done.
    if (timer && !urgent) return;
    if (timer) clearTimeout(timer);
    const wait = urgent ? 0 : Math.max(0, lastFlushAt + options.flushMs - Date.now());
    timer = setTimeout(() => {
      timer = null;
      void flushOnce();
    }, wait);
  }

  /** Appends what is buffered (one commit); a failed batch stays first in line. */
  function flushOnce(): Promise<void> {
    if (flushing) return flushing;
    if (buffer.length === 0 || lost) return Promise.resolve();
    const batch = buffer;
    buffer = [];
    lastFlushAt = Date.now();
    flushing = sql
      .appendEvents(deps.appends, eventBatch({ id: runId, threadId }, batch, hub.origin, owner))
      .then((written) => {
        failures = 0;
        if (!written) {
          // Our lease is gone: the run's new owner records it from its last checkpoint.
          lost = true;
          buffer = [];
          log.warn("run lost to another worker; its stream continues there", { runId });
          return;
        }
        local?.markFlushed(batch[batch.length - 1]!.event.seq);
      })
      .catch((error) => {
        if (String((error as { code?: unknown }).code ?? "").startsWith("22")) {
          // A data exception never succeeds on retry: drop this batch rather than the stream.
          log.error("stream events the log refused were dropped", { runId, error });
          return;
        }
        failures++;
        buffer = batch.concat(buffer);
        log.warn("appending stream events failed; retrying", { runId, error, failures });
      })
      .finally(() => {
        flushing = null;
        if (buffer.length > 0 && !lost) {
          if (failures > 0) {
            timer = setTimeout(
              () => {
                timer = null;
                void flushOnce();
              },
              Math.min(1000, 50 * 2 ** failures),
            );
          } else scheduleFlush(buffer.length >= options.maxBatch);
        }
      });
    return flushing;
  }

  /** Waits until no write or id reservation is in flight; no flush is started after. */
  async function settle(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (reserving) await reserving;
    if (flushing) await flushing;
  }

  /** Waits until nothing is in flight and everything buffered is written (or given up). */
  async function drain(): Promise<void> {
    for (let i = 0; i < 20 && !lost; i++) {
      await settle();
      if (buffer.length === 0 && parked.length === 0) return;
      await flushOnce();
    }
  }

  async function ensureIds(client: pg.PoolClient, count: number) {
    if (reserving) await reserving.catch(() => undefined);
    if (ids.length - next >= count) return;
    const more = await sql.reserveIds(client, count);
    ids = ids.slice(next).concat(more);
    next = 0;
  }

  async function writeEnd(client: pg.PoolClient, ended: Run | null, outcome: RunEndOutcome) {
    await ensureIds(client, 4 + parked.length);
    const end: Pending[] = [...buffer.splice(0)];
    if (!started) {
      // The run ended before it started streaming: its log opens with its end.
      end.push(assign("RUN_STARTED", [], { attempt: run.attempt, run: runSnapshot(ended ?? run) }));
    }
    for (const event of parked.splice(0)) {
      end.push(assign(event.kind, event.namespace, event.payload));
    }
    end.push(...endEvents(assign, outcome));
    const { othersUnended } = await sql.appendEndEvents(
      client,
      eventBatch({ id: runId, threadId }, end, hub.origin, null),
      options.retentionSeconds,
    );
    finalBatches.push(batchOf(runId, threadId, end));
    if (!othersUnended) return;
    // Runs of this thread that ended while this one ran, without a worker to say so (cancelled
    // before they started): recorded now, while the thread is locked and nothing else writes.
    for (const other of await sql.unendedRunsOfThread(
      client,
      threadId,
      options.retentionSeconds,
      runId,
    )) {
      const events = await repairEvents(client, other, lastThread);
      lastThread = events[events.length - 1]!.event.seq;
      await writeFor(client, other, events, hub.origin);
      finalBatches.push(batchOf(other.id, threadId, events));
    }
  }

  return {
    started(current: Run) {
      // The claim reserved the attempt's place in the log: RUN_STARTED goes out at once.
      local = hub.registerLocal(runId, threadId, lastRun, lastThread);
      started = true;
      // The first batch waits like any other: a run shorter than that commits its whole log
      // with its end (local followers have every event from memory at once anyway).
      lastFlushAt = Date.now();
      publishLive(
        assign("RUN_STARTED", [], { attempt: current.attempt, run: runSnapshot(current) }),
      );
    },

    chunk(namespace: string[], mode: string, payload: unknown) {
      if (!started || lost) return;
      const kind = KIND_OF_MODE[mode];
      if (!kind || !modes.has(kind)) return;
      const eventNamespace = run.streamSubgraphs ? namespace : [];
      for (const event of encodeChunk(eventNamespace, mode, payload, metadataCache)) {
        emitLive(event.kind, event.namespace, event.payload);
      }
    },

    flush: drain,

    async finish(client: pg.PoolClient, ended: Run | null, outcome: RunEndOutcome) {
      // A short run's events all commit with its end, in one statement; a long backlog is
      // written first, so the end's transaction stays short.
      if (buffer.length + parked.length > END_BATCH) await drain();
      else await settle();
      if (lost) return;
      try {
        await writeEnd(client, ended, outcome);
      } catch (error) {
        finalBatches = [];
        throw error;
      }
    },

    ended(committed: boolean) {
      if (timer) clearTimeout(timer);
      timer = null;
      // Nothing of this attempt is written after: a flush failing now (the database away) must
      // not retry and land below the next attempt's events, which followers have passed by then.
      lost = true;
      buffer = [];
      const endLogged = committed && finalBatches.length > 0;
      if (committed) for (const batch of finalBatches) hub.publish(batch);
      finalBatches = [];
      if (local) hub.unregisterLocal(local);
      local = null;
      deps.onClose?.(endLogged);
    },
  };
}

/** The run row as RunStartedEvent keeps it (shown when the run itself is gone). */
export function runSnapshot(run: Run): Record<string, unknown> {
  const {
    assistant: _a,
    thread: _t,
    ...row
  } = run as Run & { assistant?: unknown; thread?: unknown };
  return toPlainJson(row) as Record<string, unknown>;
}

/** INTERRUPTED when the run stopped for input, RUN_ERROR when it failed, RUN_ENDED always. */
function endEvents(
  assign: (kind: EventKind, namespace: string[], payload: Record<string, unknown>) => Pending,
  outcome: RunEndOutcome,
): Pending[] {
  const events: Pending[] = [];
  if (outcome.waiting) {
    events.push(assign("INTERRUPTED", [], { interrupts: interruptList(outcome.interrupts ?? []) }));
  }
  if (outcome.error && (outcome.status === "ERROR" || outcome.status === "TIMEOUT")) {
    events.push(assign("RUN_ERROR", [], { error: outcome.error }));
  }
  events.push(assign("RUN_ENDED", [], { status: outcome.status }));
  return events;
}

export function batchOf(runId: string, threadId: string, events: Pending[]): EventBatch {
  return {
    runId,
    threadId,
    events: events.map((p) => p.event),
    prevRun: events[0]!.prevRun,
    prevThread: events[0]!.prevThread,
  };
}

/**
 * The end a run's log lacks: its start too when it never started, the error when it failed.
 * `prevThread` is the thread's last event (the caller holds the thread's lock).
 */
export async function repairEvents(
  client: pg.PoolClient,
  run: sql.UnendedRun,
  prevThread: number,
): Promise<Pending[]> {
  const ids = await sql.reserveIds(client, 3);
  let i = 0;
  let lastRun = run.lastId;
  let lastThread = prevThread;
  const make = (kind: EventKind, payload: Record<string, unknown>): Pending => {
    const seq = ids[i++]!;
    const pending: Pending = {
      event: {
        seq,
        id: String(seq),
        runId: run.id,
        threadId: run.threadId,
        namespace: [],
        kind,
        payload,
      },
      prevRun: lastRun,
      prevThread: lastThread,
    };
    lastRun = seq;
    lastThread = seq;
    return pending;
  };
  const events: Pending[] = [];
  if (run.lastId === 0) {
    events.push(make("RUN_STARTED", { attempt: run.attempt, run: camelRow(run.row) }));
  }
  if (run.error && (run.status === "ERROR" || run.status === "TIMEOUT")) {
    events.push(make("RUN_ERROR", { error: run.error }));
  }
  events.push(make("RUN_ENDED", { status: run.status }));
  return events;
}

/** Appends repair events of `run` (one commit when called outside a transaction). */
export async function writeFor(
  db: sql.Queryable,
  run: { id: string; threadId: string },
  events: Pending[],
  origin: string,
): Promise<void> {
  await sql.appendEvents(db, eventBatch(run, events, origin, null));
}

/** Events of `run` as the log appends them, with the notice announcing them. */
function eventBatch(
  run: { id: string; threadId: string },
  events: Pending[],
  origin: string,
  owner: string | null,
): sql.AppendBatch {
  const first = events[0]!;
  return {
    runId: run.id,
    threadId: run.threadId,
    owner,
    events: events.map(({ event }) => ({
      id: event.seq,
      kind: event.kind,
      namespace: event.namespace,
      payload: event.payload,
    })),
    notice: {
      r: run.id,
      t: run.threadId,
      f: first.event.seq,
      l: events[events.length - 1]!.event.seq,
      p: first.prevRun,
      q: first.prevThread,
      o: origin,
    },
  };
}

/** A run row read as JSON (snake_case columns) in the Prisma model's shape. */
function camelRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    out[key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())] = value;
  }
  return out;
}
