import { InvalidInputError } from "../errors.ts";
import { builder } from "./builder.ts";

interface GraphRef {
  id: string;
}

const GraphDrawing = builder
  .objectRef<{ nodes: unknown[]; edges: unknown[]; mermaid: string }>("GraphDrawing")
  .implement({
    fields: (t) => ({
      nodes: t.expose("nodes", { type: "JSON" }),
      edges: t.expose("edges", { type: "JSON" }),
      mermaid: t.exposeString("mermaid"),
    }),
  });

const Subgraph = builder
  .objectRef<{
    namespace: string;
    input: unknown;
    output: unknown;
    state: unknown;
    config: unknown;
  }>("Subgraph")
  .implement({
    fields: (t) => ({
      namespace: t.exposeString("namespace"),
      inputSchema: t.field({ type: "JSON", nullable: true, resolve: (s) => s.input ?? null }),
      outputSchema: t.field({ type: "JSON", nullable: true, resolve: (s) => s.output ?? null }),
      stateSchema: t.field({ type: "JSON", nullable: true, resolve: (s) => s.state ?? null }),
      configSchema: t.field({ type: "JSON", nullable: true, resolve: (s) => s.config ?? null }),
    }),
  });

type SchemaName = "input" | "output" | "state" | "config" | "context";

export const Graph = builder.objectRef<GraphRef>("Graph").implement({
  description: "A graph registered in langgraph.json.",
  fields: (t) => {
    const schemaField = (name: SchemaName) =>
      t.field({
        type: "JSON",
        nullable: true,
        resolve: async (graph, _args, ctx) =>
          (await ctx.services.graphs.schemas(graph.id))[name] ?? null,
      });
    return {
      id: t.exposeID("id"),
      inputSchema: schemaField("input"),
      outputSchema: schemaField("output"),
      stateSchema: schemaField("state"),
      configSchema: schemaField("config"),
      contextSchema: schemaField("context"),
      drawing: t.field({
        type: GraphDrawing,
        description:
          "Nodes and edges (xray > 0 expands subgraphs that many levels) and a Mermaid rendering.",
        args: { xray: t.arg.int({ defaultValue: 0 }) },
        resolve: (graph, { xray }, ctx) => {
          if (xray == null || xray < 0) {
            throw new InvalidInputError(`xray must be 0 or more, got ${xray}`, { field: "xray" });
          }
          return ctx.services.graphs.drawing(graph.id, { xray });
        },
      }),
      subgraphs: t.field({
        type: [Subgraph],
        args: {
          namespace: t.arg.string(),
          recurse: t.arg.boolean({ defaultValue: false }),
        },
        resolve: (graph, { namespace, recurse }, ctx) =>
          ctx.services.graphs.subgraphs(graph.id, {
            namespace: namespace ?? undefined,
            recurse: recurse ?? false,
          }),
      }),
    };
  },
});

builder.queryFields((t) => ({
  graphs: t.field({
    type: [Graph],
    resolve: (_root, _args, ctx) => ctx.services.graphs.ids().map((id) => ({ id })),
  }),
  graph: t.field({
    type: Graph,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) =>
      ctx.services.graphs.has(String(id)) ? { id: String(id) } : null,
  }),
}));
