import type { FieldMap } from "@pothos/core";
import type { Plugin } from "graphql-yoga";
import { DomainError } from "../errors.ts";
import type { Run as RunRow } from "../generated/prisma/client.ts";
import type { InterruptJson } from "../graphs/serialize.ts";
import type { StreamItem } from "../stream/access.ts";
import type { EventKind, StreamEvent } from "../stream/events.ts";
import type { CheckpointRef } from "../threads/service.ts";
import { builder } from "./builder.ts";
import { RunStatusEnum } from "./enums.ts";
import { Run, RunError, RunInput, runInputArg, StreamModeEnum } from "./run.ts";
import { shareable } from "./shared-events.ts";
import { Checkpoint, Interrupt } from "./thread.ts";

/**
 * Stream events are log rows: `payload` already holds each type's own fields (see
 * src/stream/encode.ts), so these resolvers only pick them out.
 */

type Payload = Record<string, any>;
const p = (event: StreamEvent) => event.payload as Payload;

const TYPE_OF_KIND: Record<EventKind, string> = {
  RUN_STARTED: "RunStartedEvent",
  VALUES: "ValuesEvent",
  UPDATES: "UpdatesEvent",
  MESSAGES: "MessageEvent",
  CUSTOM: "CustomEvent",
  EVENTS: "LangChainEvent",
  DEBUG: "DebugEvent",
  CHECKPOINTS: "CheckpointEvent",
  TASKS: "TaskEvent",
  TOOLS: "ToolEvent",
  INTERRUPTED: "InterruptedEvent",
  RUN_ERROR: "RunErrorEvent",
  RUN_ENDED: "RunEndedEvent",
};

export const StreamEventInterface = builder.interfaceRef<StreamEvent>("StreamEvent").implement({
  description:
    "One event of a run's stream. `id` is the event's position in the run's durable event log: pass the last id you received as `after` to resume without losing or repeating anything.",
  resolveType: (event) => TYPE_OF_KIND[event.kind],
  fields: (t) => ({
    id: t.exposeString("id"),
    runId: t.exposeID("runId"),
    threadId: t.exposeID("threadId"),
    namespace: t.exposeStringList("namespace", {
      description:
        "The namespace LangGraph reports for the event: [] for the root graph, e.g. [\"weather_graph:<task id>\"] inside a subgraph. An LLM call's tokens carry the namespace the installed LangGraph gives them: from 1.7 on, that of the graph whose node made the call (as Python LangGraph); before, the node's own task. Their metadata's langgraph_checkpoint_ns names the task either way.",
    }),
  }),
});

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

function eventType(
  name: string,
  description: string | undefined,
  fields: (t: PothosSchemaTypes.ObjectFieldBuilder<Types, StreamEvent>) => FieldMap,
) {
  return builder.objectRef<StreamEvent>(name).implement({
    description,
    interfaces: [StreamEventInterface],
    isTypeOf: (event) => TYPE_OF_KIND[(event as StreamEvent).kind] === name,
    fields,
  });
}

const ToolCallChunk = builder
  .objectRef<{ id: string | null; name: string | null; args: string | null; index: number | null }>(
    "ToolCallChunk",
  )
  .implement({
    fields: (t) => ({
      id: t.exposeString("id", { nullable: true }),
      name: t.exposeString("name", { nullable: true }),
      args: t.exposeString("args", { nullable: true }),
      index: t.exposeInt("index", { nullable: true }),
    }),
  });

const ToolCall = builder
  .objectRef<{ id: string | null; name: string; args: unknown }>("ToolCall")
  .implement({
    fields: (t) => ({
      id: t.exposeString("id", { nullable: true }),
      name: t.exposeString("name"),
      args: t.field({ type: "JSON", resolve: (c) => c.args ?? {} }),
    }),
  });

const MessageChunk = builder.objectRef<Payload>("MessageChunk").implement({
  description: "A chunk of a message as an LLM streams it, or a whole message.",
  fields: (t) => ({
    id: t.string({ nullable: true, resolve: (m) => m.id ?? null }),
    type: t.string({
      description: 'ai, human, tool, system, ... (a streamed AI chunk is "ai")',
      resolve: (m) => m.type ?? "ai",
    }),
    text: t.string({
      description: "The text of this chunk (content blocks flattened).",
      resolve: (m) => m.text ?? "",
    }),
    content: t.field({ type: "JSON", resolve: (m) => m.content ?? "" }),
    name: t.string({ nullable: true, resolve: (m) => m.name ?? null }),
    toolCallChunks: t.field({ type: [ToolCallChunk], resolve: (m) => m.toolCallChunks ?? [] }),
    toolCalls: t.field({ type: [ToolCall], resolve: (m) => m.toolCalls ?? [] }),
    toolCallId: t.string({ nullable: true, resolve: (m) => m.toolCallId ?? null }),
    usageMetadata: t.field({
      type: "JSON",
      nullable: true,
      resolve: (m) => m.usageMetadata ?? null,
    }),
    responseMetadata: t.field({
      type: "JSON",
      nullable: true,
      resolve: (m) => m.responseMetadata ?? null,
    }),
  }),
});

/** A run row kept in RunStartedEvent, for a run that no longer exists. */
function reviveRun(snapshot: Payload | undefined): RunRow {
  if (!snapshot) throw new Error("the run of this stream no longer exists");
  const run = { ...snapshot };
  for (const key of ["createdAt", "updatedAt", "startedAt", "endedAt", "availableAt"]) {
    if (typeof run[key] === "string") run[key] = new Date(run[key]);
  }
  return run as RunRow;
}

const RunStartedEvent = eventType(
  "RunStartedEvent",
  "Always first: the run this stream belongs to (`run` shows the run as it is now).",
  (t) => ({
    attempt: t.int({ resolve: (e) => Number(p(e).attempt ?? 1) }),
    run: t.field({
      type: Run,
      resolve: async (
        e: StreamEvent,
        _args: unknown,
        ctx: {
          services: import("../services.ts").Services;
          caller: import("../auth/caller.ts").Caller;
        },
      ) => (await ctx.services.streams.currentRun(e.runId)) ?? reviveRun(p(e).run),
    }),
  }),
);

const ValuesEvent = eventType("ValuesEvent", undefined, (t) => ({
  values: t.field({ type: "JSON", resolve: (e) => p(e).values ?? {} }),
}));

const UpdatesEvent = eventType("UpdatesEvent", undefined, (t) => ({
  node: t.string({
    description: 'The node whose update this is ("__interrupt__" for interrupts).',
    resolve: (e) => String(p(e).node ?? ""),
  }),
  update: t.field({ type: "JSON", nullable: true, resolve: (e) => p(e).update ?? null }),
}));

const MessageEvent = eventType("MessageEvent", undefined, (t) => ({
  message: t.field({ type: MessageChunk, resolve: (e) => p(e).message ?? {} }),
  metadata: t.field({
    type: "JSON",
    description: "LangGraph's metadata: langgraph_node, langgraph_step, tags, ...",
    resolve: (e) => p(e).metadata ?? {},
  }),
}));

const CustomEvent = eventType("CustomEvent", undefined, (t) => ({
  data: t.field({ type: "JSON", nullable: true, resolve: (e) => p(e).data ?? null }),
}));

const LangChainEvent = eventType(
  "LangChainEvent",
  "LangChain streamEvents v2 event (EVENTS mode).",
  (t) => ({
    event: t.string({ resolve: (e) => String(p(e).event ?? "") }),
    name: t.string({ resolve: (e) => String(p(e).name ?? "") }),
    data: t.field({ type: "JSON", nullable: true, resolve: (e) => p(e).data ?? null }),
    tags: t.stringList({ resolve: (e) => p(e).tags ?? [] }),
    metadata: t.field({
      type: "JSON",
      nullable: true,
      resolve: (e) => p(e).metadata ?? null,
    }),
  }),
);

const DebugEvent = eventType("DebugEvent", undefined, (t) => ({
  type: t.string({ resolve: (e) => String(p(e).type ?? "") }),
  step: t.int({ nullable: true, resolve: (e) => p(e).step ?? null }),
  payload: t.field({ type: "JSON", resolve: (e) => p(e).payload ?? {} }),
}));

const CheckpointEvent = eventType("CheckpointEvent", undefined, (t) => ({
  checkpoint: t.field({
    type: Checkpoint,
    resolve: (e) => p(e).checkpoint as CheckpointRef,
  }),
  parentCheckpoint: t.field({
    type: Checkpoint,
    nullable: true,
    resolve: (e) => (p(e).parentCheckpoint ?? null) as CheckpointRef | null,
  }),
  values: t.field({ type: "JSON", resolve: (e) => p(e).values ?? {} }),
  metadata: t.field({ type: "JSON", resolve: (e) => p(e).metadata ?? {} }),
  next: t.stringList({ resolve: (e) => p(e).next ?? [] }),
  tasks: t.field({ type: "JSON", resolve: (e) => p(e).tasks ?? [] }),
}));

const TaskEvent = eventType("TaskEvent", undefined, (t) => ({
  taskId: t.id({ resolve: (e) => String(p(e).taskId ?? "") }),
  name: t.string({ resolve: (e) => String(p(e).name ?? "") }),
  input: t.field({
    type: "JSON",
    nullable: true,
    description: "Set when the task starts.",
    resolve: (e) => p(e).input ?? null,
  }),
  triggers: t.stringList({ nullable: true, resolve: (e) => p(e).triggers ?? null }),
  result: t.field({
    type: "JSON",
    nullable: true,
    description: "Set when the task ends.",
    resolve: (e) => p(e).result ?? null,
  }),
  error: t.string({ nullable: true, resolve: (e) => p(e).error ?? null }),
  interrupts: t.field({
    type: [Interrupt],
    resolve: (e) => (p(e).interrupts ?? []) as InterruptJson[],
  }),
}));

const ToolEvent = eventType("ToolEvent", undefined, (t) => ({
  event: t.string({
    description: "tool-started, tool-output, tool-finished, tool-error",
    resolve: (e) => String(p(e).event ?? ""),
  }),
  toolCallId: t.string({ nullable: true, resolve: (e) => p(e).toolCallId ?? null }),
  name: t.string({ nullable: true, resolve: (e) => p(e).name ?? null }),
  input: t.field({ type: "JSON", nullable: true, resolve: (e) => p(e).input ?? null }),
  output: t.field({
    type: "JSON",
    nullable: true,
    resolve: (e) => p(e).output ?? null,
  }),
  error: t.string({ nullable: true, resolve: (e) => p(e).error ?? null }),
}));

const InterruptedEvent = eventType(
  "InterruptedEvent",
  "The run stopped to wait for input and its thread is now INTERRUPTED — after interrupt() (with the interrupts' values) and after interruptBefore/After (interrupts may be empty). Answer with a run whose command.resume holds the response (or, for a static stop, a run with null input).",
  (t) => ({
    interrupts: t.field({
      type: [Interrupt],
      resolve: (e) => (p(e).interrupts ?? []) as InterruptJson[],
    }),
  }),
);

const RunErrorEvent = eventType("RunErrorEvent", undefined, (t) => ({
  error: t.field({
    type: RunError,
    resolve: (e) =>
      (p(e).error ?? { type: "Error", message: "" }) as { type: string; message: string },
  }),
}));

const RunEndedEvent = eventType(
  "RunEndedEvent",
  "Always last: the run reached a final status.",
  (t) => ({
    status: t.field({
      type: RunStatusEnum,
      resolve: (e) => p(e).status as RunRow["status"],
    }),
  }),
);

export const RunEvent = builder.unionType("RunEvent", {
  types: [
    RunStartedEvent,
    ValuesEvent,
    UpdatesEvent,
    MessageEvent,
    CustomEvent,
    LangChainEvent,
    DebugEvent,
    CheckpointEvent,
    TaskEvent,
    ToolEvent,
    InterruptedEvent,
    RunErrorEvent,
    RunEndedEvent,
  ],
  resolveType: (event) => TYPE_OF_KIND[event.kind],
});

/** An open stream whose subscriber may no longer see it ends with the error a subscribe would get. */
function eventOrAccessLost(item: StreamItem): StreamEvent {
  if (item.kind === "ACCESS_LOST") throw item.error;
  return item;
}

builder.subscriptionType({});

builder.subscriptionFields((t) => ({
  streamRun: t.field({
    type: RunEvent,
    description:
      "Start a run and stream it: RunStartedEvent, then events of the requested modes, then RunEndedEvent.",
    args: { input: t.arg({ type: RunInput, required: true }) },
    subscribe: (_root, { input }, ctx) =>
      shareable(
        ctx,
        ctx.services.streams.streamRun(ctx.caller, runInputArg(input, ctx.runHeaders)),
      ),
    resolve: eventOrAccessLost,
  }),
  runEvents: t.field({
    type: RunEvent,
    description:
      "Join a run's stream. Replays the run's event log after `after` (from the start when omitted), then follows it live until RunEndedEvent. `streamMode` narrows the mode events delivered; RunStartedEvent, InterruptedEvent, RunErrorEvent and RunEndedEvent always come.",
    args: {
      runId: t.arg.id({ required: true }),
      after: t.arg.string(),
      streamMode: t.arg({ type: [StreamModeEnum] }),
    },
    subscribe: (_root, args, ctx) =>
      shareable(
        ctx,
        ctx.services.streams.runEvents(ctx.caller, String(args.runId), {
          after: args.after,
          streamMode: args.streamMode,
        }),
      ),
    resolve: eventOrAccessLost,
  }),
  threadEvents: t.field({
    type: RunEvent,
    description:
      "Everything that happens on a thread, across runs: each run's RunStartedEvent ... RunEndedEvent in order, for as long as the subscriber stays. `after` resumes from an event id of this thread; when omitted, the run in flight (if any) is delivered from its first event, then every later run.",
    args: {
      threadId: t.arg.id({ required: true }),
      after: t.arg.string(),
      streamMode: t.arg({ type: [StreamModeEnum] }),
    },
    subscribe: (_root, args, ctx) =>
      shareable(
        ctx,
        ctx.services.streams.threadEvents(ctx.caller, String(args.threadId), {
          after: args.after,
          streamMode: args.streamMode,
        }),
      ),
    resolve: eventOrAccessLost,
  }),
}));

/**
 * A subscription refused up front (run not found, a malformed `after`) is a result without data;
 * yoga answers those 500 unless told otherwise, and SSE clients (graphql-sse) then see a network
 * failure instead of the error. Expected refusals answer 200 and stream the error like any result,
 * as graphql-ws does.
 */
export function useSubscriptionRefusals(): Plugin {
  return {
    onSubscribe: () => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (Symbol.asyncIterator in result) return;
        const errors = result.errors ?? [];
        const expected = (error: { originalError?: unknown }) =>
          error.originalError instanceof DomainError;
        if (errors.length > 0 && errors.every(expected)) {
          setResult({ ...result, extensions: { ...result.extensions, http: { status: 200 } } });
        }
      },
    }),
  };
}
