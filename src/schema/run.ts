import type { Run as RunRow, RunStatus } from "../generated/prisma/client.ts";
import type { RunResult as RunResultShape } from "../runs/service.ts";
import { STREAM_MODES } from "../runs/service.ts";
import { createBatcher, perRequest } from "./batch.ts";
import { builder, type GraphQLContext } from "./builder.ts";
import { type ConnectionShape, connectionType, offsetAfter } from "./connection.ts";
import {
  CancelActionEnum,
  DurabilityEnum,
  IfNotExistsEnum,
  MultitaskStrategyEnum,
  OnCompletionEnum,
  OnDisconnectEnum,
  RunStatusEnum,
} from "./enums.ts";
import { CheckpointInput, Interrupt, lazyValues } from "./thread.ts";

export const RunError = builder.objectRef<{ type: string; message: string }>("RunError").implement({
  fields: (t) => ({
    type: t.exposeString("type"),
    message: t.exposeString("message"),
  }),
});

export const Run = builder.prismaObject("Run", {
  fields: (t) => ({
    id: t.exposeID("id"),
    threadId: t.exposeID("threadId"),
    assistantId: t.exposeID("assistantId"),
    status: t.expose("status", { type: RunStatusEnum }),
    multitaskStrategy: t.expose("multitaskStrategy", { type: MultitaskStrategyEnum }),
    input: t.expose("input", { type: "JSON", nullable: true }),
    command: t.expose("command", { type: "JSON", nullable: true }),
    config: t.expose("config", { type: "JSON" }),
    context: t.expose("context", { type: "JSON", nullable: true }),
    metadata: t.expose("metadata", { type: "JSON" }),
    attempt: t.exposeInt("attempt", {
      description: "How many times a worker has started this run (retries after a crash count).",
    }),
    error: t.field({
      type: RunError,
      nullable: true,
      resolve: (run) => (run.error ?? null) as { type: string; message: string } | null,
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
    endedAt: t.expose("endedAt", { type: "DateTime", nullable: true }),
    // Not relations: a stateless run's result outlives its (deleted) thread.
    thread: t.prismaField({
      type: "Thread",
      nullable: true,
      resolve: (_query, run, _args, ctx) =>
        lazyValues(ctx.services.threads.get(ctx.caller, run.threadId)),
    }),
    assistant: t.prismaField({
      type: "Assistant",
      nullable: true,
      resolve: (_query, run, _args, ctx) =>
        ctx.services.assistants.get(ctx.caller, run.assistantId),
    }),
  }),
});

export const RunConnection = connectionType("Run", Run);

interface RunPageKey {
  /** The thread or cron whose runs to page. */
  id: string;
  status: RunStatus | null;
  first: number | null;
  offset: number;
}

const runPageBatchers = {
  thread: perRequest((ctx: GraphQLContext) => runPageBatcher(ctx, "thread")),
  cron: perRequest((ctx: GraphQLContext) => runPageBatcher(ctx, "cron")),
};

function runPageBatcher(ctx: GraphQLContext, by: "thread" | "cron") {
  return createBatcher<RunPageKey, ConnectionShape<RunRow>>(
    (key) => `${key.status}|${key.first}|${key.offset}`,
    async (keys) => {
      const { status, first, offset } = keys[0]!;
      const ids = keys.map((k) => k.id);
      const pages = await ctx.services.runs.listFor(ctx.caller, by, ids, { status, first, offset });
      return keys.map((k) => pages.get(k.id)!);
    },
  );
}

/**
 * `runs` of a thread or cron: the runs of every thread (cron) in a list are read together, so
 * `threads { runs }` costs two queries however many threads there are.
 */
export function runPagesOf(ctx: GraphQLContext, by: "thread" | "cron") {
  return runPageBatchers[by](ctx);
}

export const CommandInput = builder.inputType("CommandInput", {
  fields: (t) => ({
    resume: t.field({
      type: "JSON",
      description:
        "Resume value for interrupt(); a map {interruptId: value} answers several interrupts.",
    }),
    update: t.field({ type: "JSON" }),
    goto: t.field({ type: "JSON" }),
  }),
});

builder.queryFields((t) => ({
  run: t.prismaField({
    type: "Run",
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_query, _root, { id }, ctx) => ctx.services.runs.get(ctx.caller, String(id)),
  }),
  runs: t.field({
    type: RunConnection,
    args: {
      threadId: t.arg.id(),
      status: t.arg({ type: RunStatusEnum }),
      first: t.arg.int({ defaultValue: 10 }),
      after: t.arg.string(),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.runs.list(ctx.caller, {
        threadId: args.threadId == null ? null : String(args.threadId),
        status: args.status,
        first: args.first,
        offset: offsetAfter(args.after),
      }),
  }),
}));

export const StreamModeEnum = builder.enumType("StreamMode", {
  description:
    "Stream modes, as in LangGraph. MESSAGES is LangGraph's \"messages-tuple\": LLM tokens as message chunks with their metadata. EVENTS is LangChain's streamEvents v2.",
  values: STREAM_MODES,
});

const RunResult = builder.objectRef<RunResultShape>("RunResult").implement({
  description: "The outcome of a finished run.",
  fields: (t) => ({
    run: t.field({ type: Run, resolve: (r) => r.run }),
    values: t.expose("values", {
      type: "JSON",
      nullable: true,
      description:
        "The graph's output (final state values) — also when the run stopped at an interrupt.",
    }),
    interrupts: t.field({ type: [Interrupt], resolve: (r) => r.interrupts }),
    error: t.field({ type: RunError, nullable: true, resolve: (r) => r.error }),
  }),
});

export const RunInput = builder.inputType("RunInput", {
  fields: (t) => ({
    threadId: t.id({ description: "Omit for a stateless run on a temporary thread." }),
    assistantId: t.id({
      required: true,
      description: "An assistant id, or a graph id (its default assistant).",
    }),
    input: t.field({ type: "JSON" }),
    command: t.field({ type: CommandInput }),
    config: t.field({ type: "JSON" }),
    context: t.field({ type: "JSON" }),
    metadata: t.field({ type: "JSON" }),
    checkpoint: t.field({
      type: CheckpointInput,
      description: "Start from this checkpoint (time travel / fork).",
    }),
    interruptBefore: t.stringList({ description: 'Node names, or ["*"] for all.' }),
    interruptAfter: t.stringList(),
    multitaskStrategy: t.field({ type: MultitaskStrategyEnum, defaultValue: "ENQUEUE" }),
    ifNotExists: t.field({
      type: IfNotExistsEnum,
      defaultValue: "REJECT",
      description: "What to do when threadId names no thread.",
    }),
    onCompletion: t.field({
      type: OnCompletionEnum,
      defaultValue: "DELETE",
      description:
        "Stateless runs only: delete the temporary thread when the run ends, or keep it.",
    }),
    afterSeconds: t.int({ description: "Delay the start." }),
    webhook: t.string({ description: "POSTed the run when it ends." }),
    durability: t.field({ type: DurabilityEnum, defaultValue: "ASYNC" }),
    streamMode: t.field({
      type: [StreamModeEnum],
      description:
        "Modes recorded in the run's event log (what runEvents can replay). Defaults to [VALUES].",
    }),
    streamSubgraphs: t.boolean({ defaultValue: false }),
    onDisconnect: t.field({
      type: OnDisconnectEnum,
      defaultValue: "CONTINUE",
      description: "For streamRun: cancel the run when the subscriber goes away.",
    }),
    idempotencyKey: t.string({
      description:
        "Makes creation safe to retry: a createRun, waitRun or streamRun carrying a key this caller already used returns, waits for or streams the run that key created, and creates nothing; the same key with a different input is CONFLICT.",
    }),
  }),
});

const CancelRunsInput = builder.inputType("CancelRunsInput", {
  fields: (t) => ({
    threadId: t.id(),
    runIds: t.idList(),
    status: t.field({
      type: RunStatusEnum,
      description: "Cancel every run in this status (PENDING or RUNNING).",
    }),
    action: t.field({ type: CancelActionEnum, defaultValue: "INTERRUPT" }),
  }),
});

/** RunInput as the service takes it (ids as strings), with the request's run headers. */
export function runInputArg(
  input: typeof RunInput.$inferInput,
  headers: Readonly<Record<string, string>>,
) {
  return {
    ...input,
    config: withHeaders(input.config, headers),
    threadId: input.threadId == null ? null : String(input.threadId),
    assistantId: String(input.assistantId),
  };
}

/**
 * The headers langgraph.json's http.configurable_headers copies into config.configurable, over
 * the client's own values (as on LangGraph Platform). A config or configurable that is not an
 * object is left for the service to refuse.
 */
function withHeaders(config: unknown, headers: Readonly<Record<string, string>>): unknown {
  if (Object.keys(headers).length === 0) return config;
  const given = config ?? {};
  if (!isPlainObject(given)) return config;
  const configurable = given.configurable ?? {};
  if (!isPlainObject(configurable)) return config;
  return { ...given, configurable: { ...configurable, ...headers } };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

builder.queryFields((t) => ({
  runResult: t.field({
    type: RunResult,
    description: "Wait (by default) for a run to finish and return its outcome (LangGraph's join).",
    args: { id: t.arg.id({ required: true }), wait: t.arg.boolean({ defaultValue: true }) },
    resolve: (_root, { id, wait }, ctx) =>
      ctx.services.runs.join(ctx.caller, String(id), wait ?? true, ctx.signal),
  }),
}));

builder.mutationFields((t) => ({
  createRun: t.prismaField({
    type: "Run",
    description: "Start a background run; returns at once.",
    args: { input: t.arg({ type: RunInput, required: true }) },
    resolve: (_query, _root, { input }, ctx) =>
      ctx.services.runs.create(ctx.caller, runInputArg(input, ctx.runHeaders)),
  }),
  waitRun: t.field({
    type: RunResult,
    description:
      "Start a run and wait for its outcome. A stateless run with onCompletion DELETE is removed with its temporary thread when it ends; the result still carries it.",
    args: { input: t.arg({ type: RunInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.runs.createAndWait(ctx.caller, runInputArg(input, ctx.runHeaders), ctx.signal),
  }),
  cancelRun: t.field({
    type: Run,
    description: "With `wait`, answers once the run has stopped, showing its final status.",
    args: {
      id: t.arg.id({ required: true }),
      action: t.arg({ type: CancelActionEnum, defaultValue: "INTERRUPT" }),
      wait: t.arg.boolean({ defaultValue: false }),
    },
    resolve: (_root, { id, action, wait }, ctx) =>
      ctx.services.runs.cancel(
        ctx.caller,
        String(id),
        action ?? "INTERRUPT",
        wait ?? false,
        ctx.signal,
      ),
  }),
  cancelRuns: t.field({
    type: [Run],
    args: { input: t.arg({ type: CancelRunsInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.runs.cancelRuns(ctx.caller, {
        ...input,
        threadId: input.threadId == null ? null : String(input.threadId),
        runIds: input.runIds?.map(String),
      }),
  }),
  deleteRun: t.id({
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.runs.delete(ctx.caller, String(id)),
  }),
}));
