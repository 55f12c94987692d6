import { builder } from "./builder.ts";
import { connectionType, offsetAfter } from "./connection.ts";
import { MultitaskStrategyEnum, OnCompletionEnum } from "./enums.ts";
import { RunConnection, runPagesOf } from "./run.ts";
import "./webhook.ts";

export const Cron = builder.prismaObject("Cron", {
  fields: (t) => ({
    id: t.exposeID("id"),
    assistantId: t.exposeID("assistantId"),
    threadId: t.exposeID("threadId", {
      nullable: true,
      description:
        "Set for a cron that runs on one thread; null for a cron that starts a new thread each time.",
    }),
    schedule: t.exposeString("schedule"),
    timezone: t.exposeString("timezone", {
      description: "IANA time zone the schedule is read in; UTC when not given.",
    }),
    input: t.expose("input", { type: "JSON", nullable: true }),
    config: t.expose("config", { type: "JSON", nullable: true }),
    context: t.expose("context", { type: "JSON", nullable: true }),
    metadata: t.expose("metadata", { type: "JSON" }),
    endTime: t.expose("endTime", { type: "DateTime", nullable: true }),
    enabled: t.exposeBoolean("enabled"),
    nextRunAt: t.expose("nextRunAt", { type: "DateTime", nullable: true }),
    lastRunAt: t.expose("lastRunAt", { type: "DateTime", nullable: true }),
    onRunCompleted: t.expose("onRunCompleted", { type: OnCompletionEnum }),
    multitaskStrategy: t.expose("multitaskStrategy", {
      type: MultitaskStrategyEnum,
      description: "How each run joins its thread when the thread is busy (thread crons).",
    }),
    interruptBefore: t.exposeStringList("interruptBefore"),
    interruptAfter: t.exposeStringList("interruptAfter"),
    webhook: t.exposeString("webhook", {
      nullable: true,
      description: "POSTed each run when it ends.",
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    runs: t.field({
      type: RunConnection,
      description:
        "Runs this cron started, newest first. A stateless cron's runs with onRunCompleted DELETE go with their threads when they end.",
      args: { first: t.arg.int({ defaultValue: 10 }), after: t.arg.string() },
      resolve: (cron, args, ctx) =>
        runPagesOf(ctx, "cron").load({
          id: cron.id,
          status: null,
          first: args.first ?? null,
          offset: offsetAfter(args.after),
        }),
    }),
  }),
});

const CronConnection = connectionType("Cron", Cron);

builder.prismaObjectField("Run", "cronId", (t) =>
  t.exposeID("cronId", { nullable: true, description: "The cron that started this run." }),
);

const CronFilter = builder.inputType("CronFilter", {
  fields: (t) => ({
    assistantId: t.id(),
    threadId: t.id(),
    enabled: t.boolean(),
  }),
});

const CreateCronInput = builder.inputType("CreateCronInput", {
  fields: (t) => ({
    assistantId: t.id({ required: true }),
    threadId: t.id(),
    schedule: t.string({ required: true }),
    timezone: t.string(),
    input: t.field({ type: "JSON" }),
    config: t.field({ type: "JSON" }),
    context: t.field({ type: "JSON" }),
    metadata: t.field({ type: "JSON" }),
    endTime: t.field({ type: "DateTime" }),
    enabled: t.boolean({ defaultValue: true }),
    onRunCompleted: t.field({ type: OnCompletionEnum, defaultValue: "DELETE" }),
    multitaskStrategy: t.field({ type: MultitaskStrategyEnum, defaultValue: "ENQUEUE" }),
    interruptBefore: t.stringList(),
    interruptAfter: t.stringList(),
    webhook: t.string(),
  }),
});

const UpdateCronInput = builder.inputType("UpdateCronInput", {
  description:
    "Absent fields keep their value; null clears input, config, context, endTime and webhook. A change of schedule, timezone, endTime or enabled recounts nextRunAt from now.",
  fields: (t) => ({
    schedule: t.string(),
    timezone: t.string(),
    input: t.field({ type: "JSON" }),
    config: t.field({ type: "JSON" }),
    context: t.field({ type: "JSON" }),
    metadata: t.field({ type: "JSON" }),
    endTime: t.field({ type: "DateTime" }),
    enabled: t.boolean(),
    onRunCompleted: t.field({ type: OnCompletionEnum }),
    multitaskStrategy: t.field({ type: MultitaskStrategyEnum }),
    interruptBefore: t.stringList(),
    interruptAfter: t.stringList(),
    webhook: t.string(),
  }),
});

builder.queryFields((t) => ({
  cron: t.prismaField({
    type: "Cron",
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_query, _root, { id }, ctx) => ctx.services.crons.get(ctx.caller, String(id)),
  }),
  crons: t.field({
    type: CronConnection,
    args: {
      filter: t.arg({ type: CronFilter }),
      first: t.arg.int({ defaultValue: 10 }),
      after: t.arg.string(),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.crons.list(
        ctx.caller,
        args.filter && {
          assistantId: args.filter.assistantId == null ? null : String(args.filter.assistantId),
          threadId: args.filter.threadId == null ? null : String(args.filter.threadId),
          enabled: args.filter.enabled,
        },
        { first: args.first, offset: offsetAfter(args.after) },
      ),
  }),
}));

builder.mutationFields((t) => ({
  createCron: t.prismaField({
    type: "Cron",
    args: { input: t.arg({ type: CreateCronInput, required: true }) },
    resolve: (_query, _root, { input }, ctx) =>
      ctx.services.crons.create(ctx.caller, {
        ...input,
        assistantId: String(input.assistantId),
        threadId: input.threadId == null ? null : String(input.threadId),
      }),
  }),
  updateCron: t.prismaField({
    type: "Cron",
    args: {
      id: t.arg.id({ required: true }),
      input: t.arg({ type: UpdateCronInput, required: true }),
    },
    resolve: (_query, _root, { id, input }, ctx) =>
      ctx.services.crons.update(ctx.caller, String(id), input),
  }),
  deleteCron: t.id({
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.crons.delete(ctx.caller, String(id)),
  }),
}));
