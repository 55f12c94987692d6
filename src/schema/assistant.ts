import { queryFromInfo } from "@pothos/plugin-prisma";
import type { AssistantVersion as AssistantVersionRow } from "../generated/prisma/client.ts";
import { builder } from "./builder.ts";
import { connectionType, inOrder, offsetAfter } from "./connection.ts";
import { IfExistsEnum, SortOrderEnum } from "./enums.ts";
import { Graph } from "./graph.ts";

const AssistantVersion = builder.objectRef<AssistantVersionRow>("AssistantVersion").implement({
  fields: (t) => ({
    assistantId: t.exposeID("assistantId"),
    version: t.exposeInt("version"),
    graphId: t.exposeString("graphId"),
    name: t.exposeString("name"),
    description: t.exposeString("description", { nullable: true }),
    config: t.expose("config", { type: "JSON" }),
    context: t.expose("context", { type: "JSON" }),
    metadata: t.expose("metadata", { type: "JSON" }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

const AssistantVersionConnection = connectionType("AssistantVersion", AssistantVersion);

export const Assistant = builder.prismaObject("Assistant", {
  fields: (t) => ({
    id: t.exposeID("id"),
    graphId: t.exposeString("graphId"),
    name: t.exposeString("name"),
    description: t.exposeString("description", { nullable: true }),
    config: t.expose("config", { type: "JSON" }),
    context: t.expose("context", { type: "JSON" }),
    metadata: t.expose("metadata", { type: "JSON" }),
    version: t.exposeInt("version", { description: "The active version." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    graph: t.field({ type: Graph, resolve: (assistant) => ({ id: assistant.graphId }) }),
    versions: t.field({
      type: AssistantVersionConnection,
      args: {
        first: t.arg.int({ defaultValue: 10 }),
        after: t.arg.string(),
        metadata: t.arg({ type: "JSON" }),
      },
      resolve: async (assistant, args, ctx) => {
        const offset = offsetAfter(args.after);
        const { rows, total } = await ctx.services.assistants.versions(
          ctx.caller,
          assistant.id,
          args.metadata,
          { first: args.first, offset },
        );
        return { items: rows, offset, total };
      },
    }),
  }),
});

const AssistantConnection = connectionType("Assistant", Assistant);

const AssistantFilter = builder.inputType("AssistantFilter", {
  fields: (t) => ({
    graphId: t.string(),
    name: t.string({ description: "Case-insensitive substring of the name." }),
    metadata: t.field({
      type: "JSON",
      description: "Assistants whose metadata contains this object.",
    }),
  }),
});

const AssistantOrderField = builder.enumType("AssistantOrderField", {
  values: ["CREATED_AT", "UPDATED_AT", "NAME", "GRAPH_ID"] as const,
});

const AssistantOrder = builder.inputType("AssistantOrder", {
  fields: (t) => ({
    field: t.field({ type: AssistantOrderField, required: true }),
    direction: t.field({ type: SortOrderEnum, required: true, defaultValue: "DESC" }),
  }),
});

const CreateAssistantInput = builder.inputType("CreateAssistantInput", {
  fields: (t) => ({
    assistantId: t.id(),
    graphId: t.string({ required: true }),
    name: t.string(),
    description: t.string(),
    config: t.field({ type: "JSON" }),
    context: t.field({ type: "JSON" }),
    metadata: t.field({ type: "JSON" }),
    ifExists: t.field({ type: IfExistsEnum, defaultValue: "RAISE" }),
  }),
});

const UpdateAssistantInput = builder.inputType("UpdateAssistantInput", {
  description: "Every update creates a new version and makes it the active one.",
  fields: (t) => ({
    graphId: t.string(),
    name: t.string(),
    description: t.string(),
    config: t.field({ type: "JSON" }),
    context: t.field({ type: "JSON" }),
    metadata: t.field({ type: "JSON" }),
  }),
});

builder.queryFields((t) => ({
  assistant: t.prismaField({
    type: "Assistant",
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_query, _root, { id }, ctx) => ctx.services.assistants.get(ctx.caller, String(id)),
  }),
  assistants: t.field({
    type: AssistantConnection,
    args: {
      filter: t.arg({ type: AssistantFilter }),
      orderBy: t.arg({ type: AssistantOrder }),
      first: t.arg.int({ defaultValue: 10 }),
      after: t.arg.string(),
    },
    resolve: async (_root, args, ctx, info) => {
      const offset = offsetAfter(args.after);
      const page = await ctx.services.assistants.search(ctx.caller, args.filter, args.orderBy, {
        first: args.first,
        offset,
      });
      const rows = await ctx.services.db.prisma.assistant.findMany({
        ...queryFromInfo({ context: ctx, info, paths: [["edges", "node"], ["nodes"]] }),
        where: { id: { in: page.ids } },
      });
      return { items: inOrder(page.ids, rows), offset, total: page.total };
    },
  }),
}));

builder.mutationFields((t) => ({
  createAssistant: t.prismaField({
    type: "Assistant",
    args: { input: t.arg({ type: CreateAssistantInput, required: true }) },
    resolve: (_query, _root, { input }, ctx) =>
      ctx.services.assistants.create(ctx.caller, {
        ...input,
        assistantId: input.assistantId == null ? null : String(input.assistantId),
      }),
  }),
  updateAssistant: t.prismaField({
    type: "Assistant",
    args: {
      id: t.arg.id({ required: true }),
      input: t.arg({ type: UpdateAssistantInput, required: true }),
    },
    resolve: (_query, _root, { id, input }, ctx) =>
      ctx.services.assistants.update(ctx.caller, String(id), input),
  }),
  setAssistantVersion: t.prismaField({
    type: "Assistant",
    description: "Make an earlier version the active one.",
    args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
    resolve: (_query, _root, { id, version }, ctx) =>
      ctx.services.assistants.setVersion(ctx.caller, String(id), version),
  }),
  deleteAssistant: t.id({
    args: {
      id: t.arg.id({ required: true }),
      deleteThreads: t.arg.boolean({ defaultValue: false }),
    },
    resolve: (_root, { id, deleteThreads }, ctx) =>
      ctx.services.assistants.delete(ctx.caller, String(id), {
        deleteThreads: deleteThreads ?? false,
      }),
  }),
}));
