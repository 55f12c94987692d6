import { builder } from "./builder.ts";

const ServerInfo = builder
  .objectRef<{ version: string; langgraphVersion: string; graphs: string[] }>("ServerInfo")
  .implement({
    fields: (t) => ({
      version: t.exposeString("version"),
      langgraphVersion: t.exposeString("langgraphVersion"),
      graphs: t.exposeStringList("graphs"),
    }),
  });

builder.queryFields((t) => ({
  info: t.field({
    type: ServerInfo,
    resolve: (_root, _args, ctx) => ({
      version: ctx.services.info.version,
      langgraphVersion: ctx.services.info.langgraphVersion,
      graphs: ctx.services.graphs.ids(),
    }),
  }),
}));
