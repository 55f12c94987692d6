import { queryFromInfo } from "@pothos/plugin-prisma";
import type { ThreadRow } from "../db/sql/reads.ts";
import type { Thread as ThreadModel } from "../generated/prisma/client.ts";
import type { InterruptJson } from "../graphs/serialize.ts";
import type { CheckpointRef, StateView, TaskView } from "../threads/service.ts";
import { builder } from "./builder.ts";
import { connectionType, inOrder, offsetAfter } from "./connection.ts";
import { IfExistsEnum, RunStatusEnum, SortOrderEnum, ThreadStatusEnum } from "./enums.ts";
import { CommandInput, RunConnection, runPagesOf } from "./run.ts";

export const Interrupt = builder.objectRef<InterruptJson>("Interrupt").implement({
  fields: (t) => ({
    id: t.exposeString("id"),
    value: t.expose("value", { type: "JSON", nullable: true }),
  }),
});

export const Checkpoint = builder.objectRef<CheckpointRef>("Checkpoint").implement({
  description:
    "Where a state lives. `checkpointId` is null when this names the latest checkpoint of a namespace (a subgraph task's) or a thread that has none yet.",
  fields: (t) => ({
    threadId: t.exposeID("threadId"),
    checkpointNs: t.exposeString("checkpointNs"),
    checkpointId: t.exposeID("checkpointId", { nullable: true }),
    checkpointMap: t.expose("checkpointMap", { type: "JSON", nullable: true }),
  }),
});

export const CheckpointInput = builder.inputType("CheckpointInput", {
  fields: (t) => ({
    checkpointId: t.id(),
    checkpointNs: t.string({ defaultValue: "" }),
    checkpointMap: t.field({ type: "JSON" }),
  }),
});

const ThreadTask = builder.objectRef<TaskView>("ThreadTask");
export const ThreadState = builder.objectRef<StateView>("ThreadState");

ThreadTask.implement({
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    error: t.exposeString("error", { nullable: true }),
    interrupts: t.field({ type: [Interrupt], resolve: (task) => task.interrupts }),
    checkpoint: t.field({
      type: Checkpoint,
      nullable: true,
      description: "Set when the task is a subgraph: where its own state lives.",
      resolve: (task) => task.checkpoint,
    }),
    state: t.field({
      type: ThreadState,
      nullable: true,
      description: "The subgraph's state, when asked for with subgraphs: true.",
      resolve: (task) => task.state,
    }),
    result: t.expose("result", { type: "JSON", nullable: true }),
  }),
});

ThreadState.implement({
  description: "The state of a thread at one checkpoint.",
  fields: (t) => ({
    values: t.expose("values", { type: "JSON" }),
    next: t.exposeStringList("next"),
    tasks: t.field({ type: [ThreadTask], resolve: (state) => state.tasks }),
    interrupts: t.field({ type: [Interrupt], resolve: (state) => state.interrupts }),
    checkpoint: t.field({ type: Checkpoint, resolve: (state) => state.checkpoint }),
    parentCheckpoint: t.field({
      type: Checkpoint,
      nullable: true,
      resolve: (state) => state.parentCheckpoint,
    }),
    metadata: t.expose("metadata", { type: "JSON", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime", nullable: true }),
  }),
});

/**
 * The thread service's rows leave out `values` (ThreadRow); Thread.values reads the column when
 * a query selects it, so such a row serves as the whole model.
 */
export function lazyValues(row: Promise<ThreadRow>): Promise<ThreadModel>;
export function lazyValues(row: Promise<ThreadRow | null>): Promise<ThreadModel | null>;
export function lazyValues(row: Promise<ThreadRow | null>): Promise<ThreadModel | null> {
  return row as Promise<ThreadModel | null>;
}

export const Thread = builder.prismaObject("Thread", {
  fields: (t) => ({
    id: t.exposeID("id"),
    status: t.expose("status", { type: ThreadStatusEnum }),
    metadata: t.expose("metadata", { type: "JSON" }),
    values: t.field({
      type: "JSON",
      nullable: true,
      description: "Values at the latest checkpoint.",
      // Rows from the thread service's lookups leave the column out (see ThreadRow); rows from
      // Pothos-Prisma queries have it (the Thread model is loaded in include mode: every column).
      resolve: (thread, _args, ctx) =>
        "values" in thread ? thread.values : ctx.services.threads.storedValues(thread),
    }),
    interrupts: t.field({
      type: [Interrupt],
      description: "Interrupts waiting for a response.",
      resolve: (thread) => (thread.interrupts ?? []) as unknown as InterruptJson[],
    }),
    config: t.expose("config", { type: "JSON", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    state: t.field({
      type: ThreadState,
      description:
        "Current state, or the state at `checkpoint` (also a subgraph's, through checkpointNs).",
      args: {
        checkpoint: t.arg({ type: CheckpointInput }),
        subgraphs: t.arg.boolean({ defaultValue: false }),
      },
      resolve: (thread, args, ctx) =>
        ctx.services.threads.state(ctx.caller, thread, {
          checkpoint: args.checkpoint,
          subgraphs: args.subgraphs,
        }),
    }),
    history: t.field({
      type: [ThreadState],
      description:
        "Newest first. `before` pages backwards; `metadata` keeps states whose metadata contains it.",
      args: {
        first: t.arg.int({ defaultValue: 10 }),
        before: t.arg({ type: CheckpointInput }),
        metadata: t.arg({ type: "JSON" }),
        checkpoint: t.arg({ type: CheckpointInput }),
      },
      resolve: (thread, args, ctx) =>
        ctx.services.threads.history(ctx.caller, thread, {
          first: args.first,
          before: args.before,
          metadata: args.metadata,
          checkpoint: args.checkpoint,
        }),
    }),
    runs: t.field({
      type: RunConnection,
      args: {
        first: t.arg.int({ defaultValue: 10 }),
        after: t.arg.string(),
        status: t.arg({ type: RunStatusEnum }),
      },
      resolve: (thread, args, ctx) =>
        runPagesOf(ctx, "thread").load({
          id: thread.id,
          status: args.status ?? null,
          first: args.first ?? null,
          offset: offsetAfter(args.after),
        }),
    }),
  }),
});

const ThreadConnection = connectionType("Thread", Thread);

const ThreadFilter = builder.inputType("ThreadFilter", {
  fields: (t) => ({
    ids: t.idList(),
    status: t.field({ type: ThreadStatusEnum }),
    metadata: t.field({
      type: "JSON",
      description: "Threads whose metadata contains this object.",
    }),
    values: t.field({
      type: "JSON",
      description: "Threads whose latest values contain this object.",
    }),
  }),
});

const ThreadOrderField = builder.enumType("ThreadOrderField", {
  values: ["CREATED_AT", "UPDATED_AT", "STATUS"] as const,
});

const ThreadOrder = builder.inputType("ThreadOrder", {
  fields: (t) => ({
    field: t.field({ type: ThreadOrderField, required: true }),
    direction: t.field({ type: SortOrderEnum, required: true, defaultValue: "DESC" }),
  }),
});

const SuperstepUpdateInput = builder.inputType("SuperstepUpdateInput", {
  fields: (t) => ({
    values: t.field({ type: "JSON" }),
    asNode: t.string({ required: true }),
    command: t.field({ type: CommandInput }),
  }),
});

const SuperstepInput = builder.inputType("SuperstepInput", {
  fields: (t) => ({
    updates: t.field({ type: [SuperstepUpdateInput], required: true }),
  }),
});

const CreateThreadInput = builder.inputType("CreateThreadInput", {
  fields: (t) => ({
    threadId: t.id(),
    metadata: t.field({ type: "JSON" }),
    ifExists: t.field({ type: IfExistsEnum, defaultValue: "RAISE" }),
    graphId: t.string({
      description: "Bind the thread to a graph up front (needed for supersteps).",
    }),
    supersteps: t.field({
      type: [SuperstepInput],
      description:
        "Replay these state updates, superstep by superstep, to build the thread's history.",
    }),
  }),
});

const UpdateThreadStateInput = builder.inputType("UpdateThreadStateInput", {
  fields: (t) => ({
    threadId: t.id({ required: true }),
    values: t.field({ type: "JSON" }),
    asNode: t.string(),
    checkpoint: t.field({
      type: CheckpointInput,
      description:
        "Update at this checkpoint (a past one forks; a subgraph's through checkpointNs).",
    }),
  }),
});

builder.queryFields((t) => ({
  // A plain field: Thread has no Prisma relations to plan, and the read is a prepared statement.
  thread: t.field({
    type: Thread,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => lazyValues(ctx.services.threads.get(ctx.caller, String(id))),
  }),
  threads: t.field({
    type: ThreadConnection,
    args: {
      filter: t.arg({ type: ThreadFilter }),
      orderBy: t.arg({ type: ThreadOrder }),
      first: t.arg.int({ defaultValue: 10 }),
      after: t.arg.string(),
    },
    resolve: async (_root, args, ctx, info) => {
      const offset = offsetAfter(args.after);
      const filter = args.filter && { ...args.filter, ids: args.filter.ids?.map(String) };
      const page = await ctx.services.threads.search(ctx.caller, filter, args.orderBy, {
        first: args.first,
        offset,
      });
      const rows = await ctx.services.db.prisma.thread.findMany({
        ...queryFromInfo({ context: ctx, info, paths: [["edges", "node"], ["nodes"]] }),
        where: { id: { in: page.ids } },
      });
      return { items: inOrder(page.ids, rows), offset, total: page.total };
    },
  }),
}));

builder.mutationFields((t) => ({
  createThread: t.prismaField({
    type: "Thread",
    args: { input: t.arg({ type: CreateThreadInput }) },
    resolve: (_query, _root, { input }, ctx) =>
      lazyValues(
        ctx.services.threads.create(
          ctx.caller,
          input && { ...input, threadId: input.threadId == null ? null : String(input.threadId) },
        ),
      ),
  }),
  updateThread: t.prismaField({
    type: "Thread",
    description: "Merges into the thread's metadata.",
    args: { id: t.arg.id({ required: true }), metadata: t.arg({ type: "JSON", required: true }) },
    resolve: (_query, _root, { id, metadata }, ctx) =>
      ctx.services.threads.updateMetadata(ctx.caller, String(id), metadata),
  }),
  deleteThread: t.id({
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.threads.delete(ctx.caller, String(id)),
  }),
  copyThread: t.prismaField({
    type: "Thread",
    description: "A new thread with the same history.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_query, _root, { id }, ctx) => ctx.services.threads.copy(ctx.caller, String(id)),
  }),
  updateThreadState: t.field({
    type: Checkpoint,
    description:
      "Write state as if `asNode` had run; returns the new checkpoint. CONFLICT while a run is in flight.",
    args: { input: t.arg({ type: UpdateThreadStateInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.threads.updateState(ctx.caller, { ...input, threadId: String(input.threadId) }),
  }),
}));
