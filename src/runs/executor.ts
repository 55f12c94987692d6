import type { BaseStore, LangGraphRunnableConfig, StreamMode } from "@langchain/langgraph";
import { Command } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import type pg from "pg";
import { authConfigurable } from "../auth/caller.ts";
import { RunCheckpointView } from "../checkpoint/run-view.ts";
import type { Database } from "../db/database.ts";
import { runForExecution } from "../db/sql/reads.ts";
import type { ClaimedRun, LogPlace } from "../db/sql/runs.ts";
import * as sql from "../db/sql/runs.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import type { Run } from "../generated/prisma/client.ts";
import type { LoadedGraph } from "../graphs/load.ts";
import { type GraphRegistry, withPersistence } from "../graphs/registry.ts";
import { mergeGraphConfigs, toGraphConfig } from "../graphs/runnable-config.ts";
import { type InterruptJson, interruptsToJson, toJson } from "../graphs/serialize.ts";
import type { Logger } from "../log.ts";
import { type ThreadCheckpointer, waitsForInput } from "../threads/service.ts";
import type { CancelAction, KeptOutcome, RunResult, RunService } from "./service.ts";

/** Why an executing run's graph was aborted. */
export type StopReason =
  | { kind: "cancel"; action: CancelAction }
  | { kind: "timeout" }
  /** The worker is shutting down: the run goes back to the queue and resumes elsewhere. */
  | { kind: "shutdown" };

/** How a run ended, as its stream reports it. */
export interface RunEndOutcome {
  status: Run["status"];
  error: RunResult["error"];
  interrupts: InterruptJson[] | null;
  /** It stopped to wait for input: an interrupt(), or interruptBefore/After (no interrupts then). */
  waiting: boolean;
}

/**
 * Receives what a run streams, in execution order. The run engine calls it; the streaming layer
 * turns it into the durable event log.
 */
export interface RunEventSink {
  started(run: Run): Promise<void> | void;
  /** A LangGraph chunk (`mode` "events": a streamEvents v2 event). */
  chunk(namespace: string[], mode: string, payload: unknown): void;
  /** Writes what is buffered (before the run goes back to the queue). */
  flush(): Promise<void>;
  /**
   * Inside the transaction that records the end (`run` null when the run row is gone, rolled
   * back): the stream's last events (and what is still buffered) commit with it, before the
   * thread's next run can start.
   */
  finish(client: pg.PoolClient, run: Run | null, outcome: RunEndOutcome): Promise<void>;
  /** After that transaction: `committed` false when it recorded nothing (or failed). */
  ended(committed: boolean): void;
}

export interface ExecutorDeps {
  db: Database;
  graphs: GraphRegistry;
  checkpointer: ThreadCheckpointer & {
    deleteWritesSince(threadId: string, since: Date): Promise<void>;
    /** With `db`, inside that transaction (a stateless run's end deletes its thread). */
    deleteThread(threadId: string, db?: Pick<pg.ClientBase, "query">): Promise<void>;
  };
  store: BaseStore;
  runs: RunService;
  log: Logger;
  /** Builds the sink for one run (the streaming layer); null records nothing. */
  sinkFor?: (run: Run, place: LogPlace) => RunEventSink | null;
  /**
   * Called inside the transaction that records a run's end (before commit), so work owed for
   * the end — a webhook delivery, a cron's bookkeeping — is promised exactly when the end is.
   */
  onFinish?: Array<(client: pg.PoolClient, run: Run) => Promise<void>>;
}

const LANGGRAPH_MODES: Record<string, StreamMode> = {
  VALUES: "values",
  UPDATES: "updates",
  MESSAGES: "messages",
  CUSTOM: "custom",
  DEBUG: "debug",
  CHECKPOINTS: "checkpoints",
  TASKS: "tasks",
  TOOLS: "tools" as StreamMode,
};

/**
 * Executes one claimed run: builds its config as LangGraph Platform does, streams the graph,
 * and records how it ended — run status, thread status and cached state, the next run of the
 * thread — in one transaction, so a crash leaves either the old picture or the new one.
 */
export function createExecutor(deps: ExecutorDeps) {
  const { pool } = deps.db;

  async function graphFor(
    run: Run & { assistant: { graphId: string } },
    config: LangGraphRunnableConfig,
    checkpointer: BaseCheckpointSaver = deps.checkpointer,
  ) {
    const graph = await deps.graphs.get(run.assistant.graphId, config);
    return withPersistence(graph, { checkpointer, store: deps.store });
  }

  function buildConfig(
    run: Run & {
      assistant: { graphId: string; config: unknown; context: unknown; metadata: unknown };
      thread: { config: unknown; metadata: unknown };
    },
  ) {
    // Stored as clients gave them (the platform's snake_case or LangGraph's camelCase); this is
    // where they become what LangGraph reads.
    const merged = mergeGraphConfigs(
      toGraphConfig(run.assistant.config),
      // A thread contributes its configurable only, as on LangGraph Platform.
      { configurable: toGraphConfig(run.thread.config).configurable },
      toGraphConfig(run.config),
    );
    const ids = {
      run_id: run.id,
      thread_id: run.threadId,
      graph_id: run.assistant.graphId,
      assistant_id: run.assistantId,
    };
    const checkpoint = (run.checkpoint ?? {}) as Record<string, unknown>;
    const config: LangGraphRunnableConfig = {
      ...merged,
      configurable: {
        ...withoutAuthKeys(merged.configurable),
        // Only the server says who the user is: a client's config cannot claim to be someone.
        ...authConfigurable(run.authUser),
        ...ids,
        ...(checkpoint.checkpoint_id ? { checkpoint_id: checkpoint.checkpoint_id } : {}),
        ...(checkpoint.checkpoint_ns ? { checkpoint_ns: checkpoint.checkpoint_ns } : {}),
        ...(checkpoint.checkpoint_map ? { checkpoint_map: checkpoint.checkpoint_map } : {}),
      },
      // Checkpoints record these (the saver merges config.metadata), so history can be
      // filtered by run, and a retried attempt recognises the checkpoints its run wrote.
      metadata: {
        ...merged.metadata,
        ...((run.assistant.metadata ?? {}) as object),
        ...((run.thread.metadata ?? {}) as object),
        ...((run.metadata ?? {}) as object),
        ...ids,
      },
    };
    const assistantContext = run.assistant.context;
    const context =
      assistantContext && typeof assistantContext === "object" && !Array.isArray(assistantContext)
        ? { ...(assistantContext as object), ...((run.context ?? {}) as object) }
        : (run.context ?? assistantContext ?? undefined);
    return { config, context };
  }

  /** The values and interrupts a finished run left: the state at the last checkpoint it wrote. */
  async function readOutcome(run: Run): Promise<{ values: unknown; interrupts: InterruptJson[] }> {
    const full = await runForExecution(pool, run.id);
    if (!full) return { values: null, interrupts: [] };
    const checkpointId = await sql.lastRunCheckpoint(pool, run.threadId, run.id);
    if (!checkpointId) return { values: null, interrupts: [] };
    const { config } = buildConfig(full);
    const graph = await graphFor(full, config);
    const state = await graph.getState({
      configurable: { thread_id: run.threadId, checkpoint_ns: "", checkpoint_id: checkpointId },
    });
    return stateOutcome(state);
  }

  /**
   * Executes a run this worker (`owner`) claimed, until it ends or `signal` stops it. `settle`
   * runs inside the transaction that ends, rolls back or releases the run (the worker's job
   * bookkeeping), so it commits with it.
   *
   * A run whose attempt the database's going away ended (a write failed for want of it) is not
   * over: it goes back to the queue once the database is back, and its next attempt resumes
   * from its last checkpoint. Until then it waits here, holding its slot, unless `quit` (the
   * worker stopping) says to give up, leaving its lease to lapse.
   */
  async function execute(
    claimed: ClaimedRun,
    owner: string,
    signal: AbortSignal,
    settle?: Settle,
    quit?: AbortSignal,
  ): Promise<void> {
    const { run, place } = claimed;
    const runId = run.id;
    const sink = deps.sinkFor?.(run, place) ?? null;
    const { config, context } = buildConfig(run);
    let status: Run["status"] = "SUCCESS";
    let error: RunResult["error"] = null;
    let graph: LoadedGraph | null = null;
    let view: RunCheckpointView | null = null;
    try {
      await sink?.started(run);
      // The run's own view of the saver: its outcome is read from what it wrote (see finish).
      // Nothing to read on a thread known to have no checkpoint (see lgql_lock_idle_thread), nor on
      // a stateless run's first attempt: its thread was created with it.
      const fresh = claimed.threadFresh || (run.onCompletion !== null && run.attempt === 1);
      // Only "sync" durability waits for each checkpoint's WAL flush; the run's end waits for all.
      const waitForFlush = run.durability === "SYNC";
      // Fenced by the lease: once another worker took the run over, nothing more of this
      // attempt lands, even before it learns so (see RunLease).
      const lease = { runId, owner };
      view = new RunCheckpointView(deps.checkpointer, run.threadId, { fresh, waitForFlush, lease });
      graph = await graphFor(run, config, view);
      // A retried attempt whose run already checkpointed resumes from there: LangGraph sees the
      // same run_id in the latest checkpoint and continues instead of starting over.
      const resumed =
        run.attempt > 1 && (await sql.lastRunCheckpoint(pool, run.threadId, run.id)) !== null;
      const input = resumed
        ? null
        : run.command
          ? new Command(run.command as ConstructorParameters<typeof Command>[0])
          : run.input;
      // Only what the run records: every extra mode costs LangGraph work per step or token.
      const modes = [
        ...new Set(run.streamModes.map((m) => LANGGRAPH_MODES[m]).filter(Boolean)),
      ] as StreamMode[];
      // Without streamSubgraphs LangGraph streams the root graph's events (plus custom events
      // from anywhere, namespace dropped; messages from anywhere too before LangGraph 1.7, which
      // drops a subgraph's, as Python LangGraph does), exactly as the platform does.
      const subgraphs = run.streamSubgraphs;
      const options = {
        ...config,
        ...(context !== undefined ? { context } : {}),
        signal,
        // LangGraph needs some mode to stream; the sink records only what the run asked for.
        streamMode: modes.length ? modes : (["values"] as StreamMode[]),
        subgraphs,
        interruptBefore: run.interruptBefore.length ? (run.interruptBefore as never) : undefined,
        interruptAfter: run.interruptAfter.length ? (run.interruptAfter as never) : undefined,
        durability: run.durability.toLowerCase() as "sync" | "async" | "exit",
      };
      const split = (chunk: unknown[]) =>
        (subgraphs ? chunk : [[], ...chunk]) as [string[], string, unknown];
      if (run.streamModes.includes("EVENTS")) {
        // streamEvents v2 interleaves LangChain's events with the stream-mode chunks, which
        // arrive as the root run's on_chain_stream events (as LangGraph Platform reads them).
        const events = graph.streamEvents(input, { ...options, version: "v2", runId: run.id });
        for await (const event of events) {
          if (event.event === "on_chain_stream" && event.run_id === run.id) {
            const [namespace, mode, payload] = split(event.data.chunk as unknown[]);
            sink?.chunk(namespace, mode, payload);
          } else if (!event.tags?.includes("langsmith:hidden")) {
            sink?.chunk([], "events", event);
          }
        }
      } else {
        const stream = await graph.stream(input, options);
        for await (const chunk of stream as AsyncIterable<unknown[]>) {
          const [namespace, mode, payload] = split(chunk);
          sink?.chunk(namespace, mode, payload);
        }
      }
    } catch (caught) {
      const reason = signal.aborted ? (signal.reason as StopReason | undefined) : undefined;
      // An aborted stream ends at once, while LangGraph still writes what it writes on its way
      // out (an EXIT run's only checkpoint, a superstep's last): those land before the run's
      // end is recorded, and anything later is refused. (Otherwise LangGraph has written
      // everything before its stream ends.)
      if (signal.aborted) await view?.close();
      if (reason?.kind === "shutdown") {
        await release(run, owner, sink, settle, quit);
        return;
      }
      if (!reason && isDatabaseUnavailable(caught)) {
        deps.log.warn("a run's attempt ended: the database is unavailable; it resumes once back", {
          runId,
          attempt: run.attempt,
          error: caught,
        });
        // Nothing of the attempt lands after its hand-back.
        await view?.close();
        await release(run, owner, sink, settle, quit);
        return;
      }
      if (reason?.kind === "cancel" && reason.action === "ROLLBACK") {
        try {
          await rollback(run, sink, settle);
          return;
        } catch (rollbackError) {
          // Never leave a run RUNNING: if undoing it failed, it ends as an error that says so.
          deps.log.error("rolling back a run failed", { runId, error: rollbackError });
          ({ status, error } = {
            status: "ERROR",
            error: { type: "RollbackFailed", message: errorJson(rollbackError).message },
          });
        }
      } else {
        ({ status, error } = endOf(caught, reason));
        if (status === "ERROR") deps.log.debug("run failed", { runId, error: caught });
      }
    }
    try {
      await finish(run, owner, graph, { status, error }, sink, settle);
    } catch (finishError) {
      if (!isDatabaseUnavailable(finishError)) throw finishError;
      // Its end was not recorded: the next attempt finds the graph where this one left it.
      deps.log.warn(
        "recording a run's end failed: the database is unavailable; it resumes once back",
        {
          runId,
          error: finishError,
        },
      );
      await release(run, owner, null, settle, quit);
    }
  }

  async function finish(
    run: Run & { assistant: { graphId: string }; thread: { metadata: unknown } },
    owner: string,
    graph: LoadedGraph | null,
    end: sql.RunEnd,
    sink: RunEventSink | null,
    settle?: Settle,
  ) {
    let state: Outcome | null = null;
    if (graph) {
      try {
        state = stateOutcome(await graph.getState({ configurable: { thread_id: run.threadId } }));
      } catch (error) {
        deps.log.warn("could not read the state a run left", { runId: run.id, error });
      }
    }
    const deleteThread = run.onCompletion === "DELETE";
    // What waiters get, guarded by the thread's metadata once the thread may be gone.
    const kept = (ended: Run): KeptOutcome => ({
      result: {
        run: ended,
        values: state?.values ?? null,
        interrupts: state?.interrupts ?? [],
        error: end.error,
      },
      threadMetadata: run.thread.metadata,
    });
    const outcome: RunEndOutcome = {
      status: end.status,
      error: end.error,
      interrupts: state?.interrupts ?? null,
      waiting: settledStatus(end.status, state) === "INTERRUPTED",
    };
    let ended: Run | null = null;
    try {
      ended = await recordEnd(run.id, sink, (endStream) =>
        deps.runs.transaction(async (client) => {
          const finished = await sql.finishRun(
            client,
            run.id,
            owner,
            end,
            // Cached on the thread even when this end deletes it: the end's hooks (a webhook's
            // payload) read the values from the row first.
            { state, settled: settledStatus(end.status, state) },
            deps.runs.endAnnouncement(run.id),
          );
          if (!finished) return null;
          const { run: endedRow, next } = finished;
          // Kept before the commit: the announcement's echo may reach this process's waiters
          // before the commit's reply reaches us.
          deps.runs.keepOutcome(kept(endedRow));
          for (const hook of deps.onFinish ?? []) await hook(client, endedRow);
          await settle?.(client);
          // Before the next run is dispatched (or the thread deleted): the stream's end comes first.
          await endStream?.(client, endedRow, outcome);
          if (deleteThread) {
            // Sent together (the pool pipelines; the wire keeps this order): one round trip.
            // The checkpoints go with the row: once the run's end is heard, nothing of its
            // thread is left.
            await Promise.all([
              deps.runs.saveOutcome(client, kept(endedRow)),
              sql.deleteThreadRow(client, run.threadId),
              deps.checkpointer.deleteThread(run.threadId, client),
            ]);
          } else if (next) {
            await deps.runs.announce(client, next);
          }
          return endedRow;
        }, lockedThread(run)),
      );
    } finally {
      sink?.ended(ended !== null);
      if (ended === null) deps.runs.forgetOutcome(run.id);
    }
    if (!ended) {
      deps.log.info("another worker took the run over; this attempt stops", { runId: run.id });
      return;
    }
    // The end was announced at commit; local listeners hear it now (NOTIFY's echo may lag).
    deps.runs.announceLocally({ runId: run.id, kind: "ended" });
  }

  /** ROLLBACK: the run and everything it wrote go; the thread is as it was before it. */
  async function rollback(run: Run, sink: RunEventSink | null, settle?: Settle) {
    // started_at is the first claim's time: it covers what every attempt of the run wrote.
    const current = await runForExecution(pool, run.id);
    if (current?.startedAt) {
      await deps.checkpointer.deleteWritesSince(run.threadId, current.startedAt);
    }
    const graph = current ? await graphFor(current, {}).catch(() => null) : null;
    const state = graph
      ? stateOutcome(await graph.getState({ configurable: { thread_id: run.threadId } }))
      : null;
    await sink?.flush();
    let committed = false;
    await recordEnd(run.id, sink, (endStream) =>
      deps.runs.transaction(async (client) => {
        const row = await sql.lockRun(client, run.id);
        if (row?.status !== "RUNNING") return;
        await sql.deleteRunRow(client, run.id);
        await sql.setThreadState(client, run.threadId, state);
        await sql.settleThreadStatus(client, run.threadId);
        // The log outlives the run: its subscribers still learn that it ended.
        await endStream?.(client, null, {
          status: "INTERRUPTED",
          error: null,
          interrupts: null,
          waiting: false,
        });
        await deps.runs.dispatchNext(client, run.threadId);
        await settle?.(client);
        committed = true;
      }, lockedThread(run)),
    );
    // (If the transaction failed, the run ends as an error through finish(), sink and all.)
    sink?.ended(committed);
    await deps.runs.control({ runId: run.id, kind: "ended" });
  }

  /**
   * Runs `record`, the transaction recording a run's end, with the stream's end written in it.
   * If writing the stream's end fails, that transaction is rolled back and run once more without
   * it: the run's end must not depend on its log. The end repair (any process, on the run's
   * "ended" notification) writes the missing events.
   */
  async function recordEnd<T>(
    runId: string,
    sink: RunEventSink | null,
    record: (endStream: RunEventSink["finish"] | null) => Promise<T>,
  ): Promise<T> {
    if (!sink) return record(null);
    let streamEndFailed = false;
    try {
      return await record(async (client, run, outcome) => {
        try {
          await sink.finish(client, run, outcome);
        } catch (error) {
          streamEndFailed = true;
          throw error;
        }
      });
    } catch (error) {
      if (!streamEndFailed) throw error;
      deps.log.warn("recording the end of a run's stream failed; it will be repaired", {
        runId,
        error,
      });
      return record(null);
    }
  }

  /**
   * Hands the run back to the queue (its next attempt resumes from its last checkpoint). While
   * the database is away it tries again until it is back or `quit` says to stop trying.
   */
  async function release(
    run: Run,
    owner: string,
    sink: RunEventSink | null,
    settle?: Settle,
    quit?: AbortSignal,
  ) {
    // What this attempt streamed stays in the log; the next attempt continues after it.
    await sink?.flush();
    sink?.ended(false);
    await whenReachable(
      () =>
        deps.runs.transaction(async (client) => {
          if (await sql.releaseRun(client, run.id, owner))
            await deps.runs.dispatchNext(client, run.threadId);
          await settle?.(client);
        }, lockedThread(run)),
      quit,
    );
  }

  return { execute, readOutcome };
}

export type Executor = ReturnType<typeof createExecutor>;

/**
 * Runs `attempt` until it does not fail for want of the database, waiting longer between tries
 * (up to 5 s), for as long as that takes unless `quit` is aborted.
 */
async function whenReachable<T>(attempt: () => Promise<T>, quit?: AbortSignal): Promise<T> {
  for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await attempt();
    } catch (error) {
      if (!isDatabaseUnavailable(error) || quit?.aborted) throw error;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, delay);
      function done() {
        clearTimeout(timer);
        quit?.removeEventListener("abort", done);
        resolve();
      }
      quit?.addEventListener("abort", done, { once: true });
    });
  }
}

/**
 * A transaction holding the run's thread from its first round trip: it orders the run's end (or
 * hand-back) against runs being created on the thread.
 */
function lockedThread(run: Run): { opening: string } {
  return { opening: sql.lockThreadOpening(run.threadId) };
}

/** Work committed with a run's end (or hand-back); see execute(). */
type Settle = (client: pg.PoolClient) => Promise<void>;

interface Outcome {
  values: unknown;
  interrupts: InterruptJson[];
  next: string[];
}

function stateOutcome(state: {
  values: unknown;
  next: string[];
  tasks: ReadonlyArray<{ interrupts: ReadonlyArray<{ id?: string; value?: unknown }> }>;
}): Outcome {
  return {
    values: toJson(state.values ?? {}),
    interrupts: interruptsToJson(state.tasks.flatMap((t) => t.interrupts)),
    next: [...state.next],
  };
}

/**
 * How a run leaves its thread: waiting for input when it stopped with nodes still to run (an
 * interrupt() or interruptBefore/After), failed when it failed or timed out, otherwise idle —
 * also after a cancel, which stops the graph but asks nothing of the user.
 */
function settledStatus(
  status: Run["status"],
  state: Outcome | null,
): "IDLE" | "INTERRUPTED" | "ERROR" {
  if (status === "ERROR" || status === "TIMEOUT") return "ERROR";
  if (status === "SUCCESS" && state && waitsForInput(state)) {
    return "INTERRUPTED";
  }
  return "IDLE";
}

/** How a run whose graph threw (or was aborted for `reason`) ends. */
function endOf(caught: unknown, reason: StopReason | undefined): sql.RunEnd {
  if (reason?.kind === "cancel") return { status: "INTERRUPTED", error: null };
  if (reason?.kind === "timeout") {
    return {
      status: "TIMEOUT",
      error: { type: "TimeoutError", message: "the run exceeded its time limit" },
    };
  }
  return { status: "ERROR", error: errorJson(caught) };
}

function errorJson(error: unknown): { type: string; message: string } {
  if (error instanceof Error) return { type: error.name || "Error", message: error.message };
  return { type: "Error", message: typeof error === "string" ? error : JSON.stringify(error) };
}

/** Config without the auth keys only the server may set (see buildConfig). */
function withoutAuthKeys(configurable: Record<string, unknown> | undefined) {
  if (!configurable) return {};
  const { langgraph_auth_user, langgraph_auth_user_id, langgraph_auth_permissions, ...rest } =
    configurable;
  return rest;
}
