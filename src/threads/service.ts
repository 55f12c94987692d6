import { randomUUID } from "node:crypto";
import type { BaseCheckpointSaver, BaseStore, StateSnapshot } from "@langchain/langgraph";
import { Command } from "@langchain/langgraph";
import type { AuthAction, Authorizer } from "../auth/authorizer.ts";
import type { Caller } from "../auth/caller.ts";
import { inScope } from "../auth/filters.ts";
import { authorizedLookups } from "../auth/lookup.ts";
import type { Database } from "../db/database.ts";
import { notifyThreadAccess } from "../db/sql/events.ts";
import { storable } from "../db/sql/json.ts";
import { insertThread, type ThreadRow, threadById, threadValues } from "../db/sql/reads.ts";
import { type Direction, searchPage, Where } from "../db/sql/search.ts";
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from "../errors.ts";
import type { Prisma, Thread, ThreadStatus } from "../generated/prisma/client.ts";
import type { LoadedGraph } from "../graphs/load.ts";
import { type GraphRegistry, withPersistence } from "../graphs/registry.ts";
import { toGraphConfig } from "../graphs/runnable-config.ts";
import {
  createJsonCache,
  type InterruptJson,
  interruptsToJson,
  type JsonCache,
  toJson,
} from "../graphs/serialize.ts";
import { isUuid, type JsonObject, jsonObject, pageArgs, uuid } from "../validation.ts";

/**
 * The checkpointer threads need: LangGraph's, plus copying a thread's whole history, and deleting
 * one inside a transaction of the caller's.
 */
export interface ThreadCheckpointer extends BaseCheckpointSaver {
  copyThread(fromThreadId: string, toThreadId: string): Promise<void>;
  deleteThread(threadId: string): Promise<void>;
}

export interface CheckpointRef {
  threadId: string;
  checkpointNs: string;
  checkpointId: string | null;
  checkpointMap: Record<string, unknown> | null;
}

export interface CheckpointArg {
  checkpointId?: string | null;
  checkpointNs?: string | null;
  checkpointMap?: unknown;
}

export interface TaskView {
  id: string;
  name: string;
  error: string | null;
  interrupts: InterruptJson[];
  checkpoint: CheckpointRef | null;
  state: StateView | null;
  result: unknown;
}

/** A LangGraph StateSnapshot as the API shows it. */
export interface StateView {
  values: unknown;
  next: string[];
  tasks: TaskView[];
  interrupts: InterruptJson[];
  checkpoint: CheckpointRef;
  parentCheckpoint: CheckpointRef | null;
  metadata: unknown;
  createdAt: Date | null;
}

export interface ThreadFilter {
  ids?: readonly string[] | null;
  status?: ThreadStatus | null;
  metadata?: unknown;
  values?: unknown;
}

export type ThreadOrderField = "CREATED_AT" | "UPDATED_AT" | "STATUS";

const orderColumns: Record<ThreadOrderField, string> = {
  CREATED_AT: "created_at",
  UPDATED_AT: "updated_at",
  STATUS: "status",
};

export interface CreateThreadInput {
  threadId?: string | null;
  metadata?: unknown;
  ifExists?: "RAISE" | "DO_NOTHING" | null;
  graphId?: string | null;
  supersteps?: ReadonlyArray<{
    updates: ReadonlyArray<{
      values?: unknown;
      asNode: string;
      command?: { resume?: unknown; update?: unknown; goto?: unknown } | null;
    }>;
  }> | null;
}

/** Runs that hold a thread: while one exists, its state must not be edited. */
const IN_FLIGHT = ["PENDING", "RUNNING"] as const;

export function createThreadService(deps: {
  db: Database;
  graphs: GraphRegistry;
  checkpointer: ThreadCheckpointer;
  /**
   * The saver for reading state and history: one that shares decoded values between reads
   * (CheckpointSaverOptions.sharedReadItems), which is safe because these reads only convert
   * values to JSON. Default: `checkpointer`.
   */
  reader?: BaseCheckpointSaver;
  store: BaseStore;
  authz: Authorizer;
  /** Stops the runs in flight on a thread (cancel, and wait for them to stop). */
  stopRuns?: (caller: Caller, threadId: string) => Promise<void>;
}) {
  const { prisma, pool } = deps.db;
  const { graphs, checkpointer, authz } = deps;
  const reader = deps.reader ?? checkpointer;
  // Keyed by the reader's shared objects, so a message is converted once for every read that
  // returns it, not once per request; entries go when the reader's cache lets go of them.
  const readJson = createJsonCache({ shared: true });

  /**
   * The thread if it exists and the caller may do `action` to it; another user's thread is
   * indistinguishable from a missing one. The auth handler sees `value` (the thread id added).
   */
  async function find(
    caller: Caller,
    id: string,
    action: AuthAction = "read",
    value: Record<string, unknown> = {},
  ): Promise<ThreadRow | null> {
    if (!isUuid(id)) return null;
    const threadId = id.toLowerCase();
    // The handler gets `value` itself, so what it sets (an owner stamped on an update) is what
    // the caller stores.
    const scope = await authz.authorize(
      caller,
      "threads",
      action,
      Object.assign(value, { thread_id: threadId }),
    );
    return threadById(pool, threadId, scope);
  }

  const { get, require } = authorizedLookups("thread", find);

  /**
   * `threads:create` for a thread about to be made: the handler may stamp its metadata (the
   * returned metadata is what to store), and a thread outside the handler's own filters is
   * refused, so nobody can create what they could not see.
   */
  async function authorizeCreate(
    caller: Caller,
    value: { thread_id: string; metadata: JsonObject; [key: string]: unknown },
    field: string,
  ): Promise<JsonObject> {
    if (!authz.enabled) return value.metadata;
    const scope = await authz.authorize(caller, "threads", "create", value);
    const metadata = jsonObject(value.metadata ?? {}, field);
    if (!inScope(metadata, scope)) {
      throw new ForbiddenError("the thread's metadata is outside what the auth handler allows", {
        field,
      });
    }
    return metadata;
  }

  function graphIdOf(thread: ThreadRow): string | null {
    const fromMetadata = (thread.metadata as Record<string, unknown> | null)?.graph_id;
    return thread.graphId ?? (typeof fromMetadata === "string" ? fromMetadata : null);
  }

  /** The thread's graph with our checkpointer (or `saver`) and store, built with its config. */
  async function graphFor(
    thread: ThreadRow,
    saver: BaseCheckpointSaver = checkpointer,
  ): Promise<LoadedGraph | null> {
    const graphId = graphIdOf(thread);
    if (!graphId || !graphs.has(graphId)) return null;
    const config = toGraphConfig(thread.config);
    const graph = await graphs.get(graphId, {
      ...config,
      configurable: { ...config.configurable, thread_id: thread.id },
    });
    return withPersistence(graph, { checkpointer: saver, store: deps.store });
  }

  function stateConfig(threadId: string, checkpoint?: CheckpointArg | null) {
    const configurable: Record<string, unknown> = {
      thread_id: threadId,
      checkpoint_ns: checkpoint?.checkpointNs ?? "",
    };
    if (checkpoint?.checkpointId) configurable.checkpoint_id = checkpoint.checkpointId;
    if (checkpoint?.checkpointMap != null) {
      configurable.checkpoint_map = jsonObject(
        checkpoint.checkpointMap,
        "checkpoint.checkpointMap",
      );
    }
    return { configurable };
  }

  function emptyState(threadId: string): StateView {
    return {
      values: {},
      next: [],
      tasks: [],
      interrupts: [],
      checkpoint: { threadId, checkpointNs: "", checkpointId: null, checkpointMap: null },
      parentCheckpoint: null,
      metadata: null,
      createdAt: null,
    };
  }

  /**
   * Reads the latest root state and stores what searches and `Thread` fields show of it, after
   * a state edit: the thread waits for input (INTERRUPTED) while the state has nodes to run or
   * interrupts, as after a run.
   */
  async function refresh(thread: ThreadRow, db: Prisma.TransactionClient = prisma) {
    const graph = await graphFor(thread, reader);
    if (!graph) return thread;
    const snapshot = await graph.getState(stateConfig(thread.id));
    const view = toStateView(thread.id, snapshot, readJson);
    return db.thread.update({
      where: { id: thread.id },
      data: {
        values: view.checkpoint.checkpointId ? storable(view.values as object) : undefined,
        interrupts: storable(view.interrupts as object[]),
        status: waitsForInput(view) ? "INTERRUPTED" : "IDLE",
      },
    });
  }

  return {
    get,
    find,
    require,
    authorizeCreate,
    graphIdOf,
    graphFor,
    refresh,

    async search(
      caller: Caller,
      filter: ThreadFilter | null | undefined,
      order: { field: ThreadOrderField; direction: Direction } | null | undefined,
      page: { first?: number | null; offset: number },
    ) {
      const where = new Where();
      const scope = await authz.authorize(caller, "threads", "search", {
        ids: filter?.ids ?? null,
        status: filter?.status?.toLowerCase() ?? null,
        metadata: filter?.metadata ?? null,
        values: filter?.values ?? null,
        limit: page.first ?? 10,
        offset: page.offset,
      });
      if (scope) where.contains("metadata", scope);
      if (filter?.ids) {
        where.anyOf(
          "id",
          filter.ids.map((id, i) => uuid(id, `filter.ids[${i}]`)),
          "::uuid[]",
        );
      }
      if (filter?.status) where.equals("status", filter.status, '::"ThreadStatus"');
      if (filter?.metadata != null) {
        where.contains("metadata", jsonObject(filter.metadata, "filter.metadata"));
      }
      if (filter?.values != null) {
        where.contains("values", jsonObject(filter.values, "filter.values"));
      }
      const { limit } = pageArgs(page.first);
      return searchPage(
        pool,
        "thread",
        where,
        {
          column: orderColumns[order?.field ?? "CREATED_AT"],
          direction: order?.direction ?? "DESC",
        },
        limit,
        page.offset,
      );
    },

    async create(caller: Caller, input: CreateThreadInput | null | undefined): Promise<ThreadRow> {
      const id = input?.threadId != null ? uuid(input.threadId, "input.threadId") : randomUUID();
      const metadata = await authorizeCreate(
        caller,
        {
          thread_id: id,
          metadata: { ...jsonObject(input?.metadata ?? {}, "input.metadata") },
          if_exists: input?.ifExists === "DO_NOTHING" ? "do_nothing" : "raise",
        },
        "input.metadata",
      );
      const graphId = input?.graphId ?? null;
      if (graphId !== null && !graphs.has(graphId)) {
        throw new NotFoundError(`graph "${graphId}" is not in langgraph.json`, {
          field: "input.graphId",
        });
      }
      if (input?.supersteps?.length && graphId === null) {
        throw new InvalidInputError("supersteps need input.graphId: the graph to replay them on", {
          field: "input.supersteps",
        });
      }
      let thread = await insertThread(deps.db.grouped.durable, {
        id,
        metadata: graphId ? { ...metadata, graph_id: graphId } : metadata,
        graphId,
      });
      if (thread === null) {
        // Only a thread the caller can read is handed back; someone else's is just a clash.
        const visible = input?.ifExists === "DO_NOTHING" ? await get(caller, id) : null;
        if (visible) return visible;
        throw new ConflictError(`thread "${id}" already exists`, { field: "input.threadId" });
      }
      if (input?.supersteps?.length) {
        try {
          const graph = (await graphFor(thread))!;
          await graph.bulkUpdateState(
            stateConfig(id),
            input.supersteps.map((step) => ({
              updates: step.updates.map((update) => ({
                asNode: update.asNode,
                values: update.command ? new Command(update.command as never) : update.values,
              })),
            })),
          );
          thread = await refresh(thread);
        } catch (error) {
          // Nothing half-written: a replay that fails removes the thread it was building.
          await checkpointer.deleteThread(id);
          await prisma.thread.delete({ where: { id } });
          throw new InvalidInputError(
            `supersteps could not be applied: ${(error as Error).message}`,
            {
              field: "input.supersteps",
              cause: error,
            },
          );
        }
      }
      return thread;
    },

    async updateMetadata(caller: Caller, id: string, metadata: unknown): Promise<Thread> {
      const value = { metadata: { ...jsonObject(metadata, "metadata") } };
      const thread = await require(caller, id, "id", "update", value);
      const patch = jsonObject(value.metadata, "metadata");
      return prisma.$transaction(async (tx) => {
        // Re-read under the row lock so concurrent merges do not drop each other's keys.
        await tx.thread.update({ where: { id: thread.id }, data: { updatedAt: new Date() } });
        const fresh = await tx.thread.findUniqueOrThrow({ where: { id: thread.id } });
        // Auth filters read metadata: streams open on the thread check their access again.
        await notifyThreadAccess(tx, thread.id);
        return tx.thread.update({
          where: { id: thread.id },
          data: { metadata: { ...(fresh.metadata as JsonObject), ...patch } },
        });
      });
    },

    async delete(caller: Caller, id: string): Promise<string> {
      const thread = await require(caller, id, "id", "delete");
      // A run in flight is stopped first: left running, it would keep writing checkpoints for a
      // thread that no longer exists.
      await deps.stopRuns?.(caller, thread.id);
      await prisma.thread.delete({ where: { id: thread.id } });
      await notifyThreadAccess(prisma, thread.id);
      await checkpointer.deleteThread(thread.id);
      return thread.id;
    },

    /** A new thread with the same metadata, state and history; nothing is shared with the source. */
    async copy(caller: Caller, id: string): Promise<Thread> {
      const source = await require(caller, id);
      const copyId = randomUUID();
      const copied = { ...(source.metadata as JsonObject) };
      if ("thread_id" in copied) copied.thread_id = copyId;
      const metadata = await authorizeCreate(
        caller,
        { thread_id: copyId, metadata: copied, if_exists: "raise" },
        "id",
      );
      const thread = await prisma.thread.create({
        data: {
          id: copyId,
          metadata,
          config: source.config as object,
          graphId: source.graphId,
          values: ((await threadValues(pool, source.id)) ?? undefined) as object | undefined,
          interrupts: source.interrupts as object,
          // The copy has no runs: a busy source's copy is idle (or waiting, if interrupted).
          status: source.status === "BUSY" ? "IDLE" : source.status,
        },
      });
      try {
        await checkpointer.copyThread(source.id, copyId);
      } catch (error) {
        await prisma.thread.delete({ where: { id: copyId } });
        await checkpointer.deleteThread(copyId);
        throw error;
      }
      return thread;
    },

    /** The thread's stored latest values, for a row read without them (ThreadRow). */
    storedValues(thread: ThreadRow) {
      return threadValues(pool, thread.id);
    },

    async state(
      _caller: Caller,
      thread: ThreadRow,
      options: { checkpoint?: CheckpointArg | null; subgraphs?: boolean | null },
    ): Promise<StateView> {
      const graph = await graphFor(thread, reader);
      if (!graph) return emptyState(thread.id);
      const snapshot = await graph.getState(stateConfig(thread.id, options.checkpoint), {
        subgraphs: options.subgraphs ?? false,
      });
      return toStateView(thread.id, snapshot, readJson);
    },

    async history(
      _caller: Caller,
      thread: ThreadRow,
      options: {
        first?: number | null;
        before?: CheckpointArg | null;
        metadata?: unknown;
        checkpoint?: CheckpointArg | null;
      },
    ): Promise<StateView[]> {
      const { limit } = pageArgs(options.first);
      const filter =
        options.metadata != null ? jsonObject(options.metadata, "metadata") : undefined;
      const graph = await graphFor(thread, reader);
      if (!graph) return [];
      const before = options.before?.checkpointId
        ? stateConfig(thread.id, {
            ...options.before,
            checkpointNs: options.before.checkpointNs ?? options.checkpoint?.checkpointNs,
          })
        : undefined;
      const states: StateView[] = [];
      for await (const snapshot of graph.getStateHistory(
        stateConfig(thread.id, options.checkpoint),
        { limit, before, filter },
      )) {
        states.push(toStateView(thread.id, snapshot, readJson));
      }
      return states;
    },

    /**
     * Writes state as if `asNode` had run (at a past checkpoint this forks; with a checkpoint
     * namespace it edits a subgraph's state). Refused while a run holds the thread: the run
     * would overwrite the edit, or the edit would change state under a running graph.
     */
    async updateState(
      caller: Caller,
      input: {
        threadId: string;
        values?: unknown;
        asNode?: string | null;
        checkpoint?: CheckpointArg | null;
      },
    ): Promise<CheckpointRef> {
      const thread = await require(caller, input.threadId, "input.threadId", "update", {
        values: input.values ?? null,
        as_node: input.asNode ?? null,
        checkpoint_id: input.checkpoint?.checkpointId ?? null,
      });
      const graph = await graphFor(thread);
      if (!graph) {
        throw new InvalidInputError(
          `thread "${thread.id}" has no graph yet: run it once, or create it with graphId`,
          { field: "input.threadId" },
        );
      }
      return prisma.$transaction(
        async (tx) => {
          // The thread row lock orders this edit against run creation, which takes it too.
          await tx.thread.update({ where: { id: thread.id }, data: { updatedAt: new Date() } });
          const busy = await tx.run.count({
            where: { threadId: thread.id, status: { in: [...IN_FLIGHT] } },
          });
          if (busy > 0) {
            throw new ConflictError(`thread "${thread.id}" has a run in flight`, {
              field: "input.threadId",
            });
          }
          let config: { configurable?: Record<string, unknown> };
          try {
            config = await graph.updateState(
              stateConfig(thread.id, input.checkpoint),
              input.values ?? null,
              input.asNode ?? undefined,
            );
          } catch (error) {
            throw new InvalidInputError(`state update refused: ${(error as Error).message}`, {
              field: "input",
              cause: error,
            });
          }
          await refresh(thread, tx);
          return checkpointRef(thread.id, config.configurable ?? {});
        },
        { timeout: 60_000 },
      );
    },
  };
}

export type ThreadService = ReturnType<typeof createThreadService>;

/**
 * Whether a thread at this state waits for input, as LangGraph Platform shows it: INTERRUPTED
 * while nodes are still to run (an interrupt(), an interruptBefore/After breakpoint, or an edit
 * that left the graph mid-way) or interrupts are pending.
 */
export function waitsForInput(state: {
  next: readonly string[];
  interrupts: readonly unknown[];
}): boolean {
  return state.next.length > 0 || state.interrupts.length > 0;
}

function checkpointRef(threadId: string, configurable: Record<string, unknown>): CheckpointRef {
  const map = configurable.checkpoint_map;
  return {
    threadId,
    checkpointNs: (configurable.checkpoint_ns as string | undefined) ?? "",
    checkpointId: (configurable.checkpoint_id as string | undefined) ?? null,
    checkpointMap: map && typeof map === "object" ? (map as Record<string, unknown>) : null,
  };
}

function isSnapshot(value: unknown): value is StateSnapshot {
  return value != null && typeof value === "object" && "values" in value && "next" in value;
}

export function toStateView(
  threadId: string,
  snapshot: StateSnapshot,
  cache: JsonCache = createJsonCache(),
): StateView {
  const tasks: TaskView[] = snapshot.tasks.map((task) => ({
    id: task.id,
    name: task.name,
    error: task.error == null ? null : errorText(task.error),
    interrupts: interruptsToJson(task.interrupts, cache),
    checkpoint:
      task.state && !isSnapshot(task.state)
        ? checkpointRef(threadId, (task.state.configurable ?? {}) as Record<string, unknown>)
        : task.state && isSnapshot(task.state)
          ? checkpointRef(
              threadId,
              (task.state.config.configurable ?? {}) as Record<string, unknown>,
            )
          : null,
    state: task.state && isSnapshot(task.state) ? toStateView(threadId, task.state, cache) : null,
    result: task.result === undefined ? null : toJson(task.result, cache),
  }));
  return {
    values: toJson(snapshot.values ?? {}, cache),
    next: [...snapshot.next],
    tasks,
    interrupts: tasks.flatMap((t) => t.interrupts),
    checkpoint: checkpointRef(
      threadId,
      (snapshot.config.configurable ?? {}) as Record<string, unknown>,
    ),
    parentCheckpoint: snapshot.parentConfig
      ? checkpointRef(
          threadId,
          (snapshot.parentConfig.configurable ?? {}) as Record<string, unknown>,
        )
      : null,
    metadata: snapshot.metadata ? toJson(snapshot.metadata, cache) : null,
    createdAt: snapshot.createdAt ? new Date(snapshot.createdAt) : null,
  };
}

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return typeof error === "string" ? error : JSON.stringify(error);
}
