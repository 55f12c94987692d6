import type { StoreItem as StoreItemShape } from "../store/service.ts";
import { builder } from "./builder.ts";

export const StoreItem = builder.objectRef<StoreItemShape>("StoreItem").implement({
  description: "An item of the cross-thread store (LangGraph's long-term memory).",
  fields: (t) => ({
    namespace: t.exposeStringList("namespace"),
    key: t.exposeString("key"),
    value: t.expose("value", { type: "JSON" }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    score: t.exposeFloat("score", {
      nullable: true,
      description: "Relevance when found by a semantic query.",
    }),
  }),
});

builder.queryFields((t) => ({
  storeItem: t.field({
    type: StoreItem,
    nullable: true,
    args: {
      namespace: t.arg.stringList({ required: true }),
      key: t.arg.string({ required: true }),
    },
    resolve: (_root, { namespace, key }, ctx) =>
      ctx.services.store.getItem(ctx.caller, namespace, key),
  }),
  storeItems: t.field({
    type: [StoreItem],
    description:
      "Items under a namespace prefix; `filter` matches value fields; `query` ranks by meaning where an index is configured.",
    args: {
      namespacePrefix: t.arg.stringList({ required: true }),
      filter: t.arg({ type: "JSON" }),
      query: t.arg.string(),
      first: t.arg.int({ defaultValue: 10 }),
      offset: t.arg.int({ defaultValue: 0 }),
    },
    resolve: (_root, { namespacePrefix, ...options }, ctx) =>
      ctx.services.store.searchItems(ctx.caller, namespacePrefix, options),
  }),
  storeNamespaces: t.field({
    type: t.listRef(t.listRef("String")),
    args: {
      prefix: t.arg.stringList(),
      suffix: t.arg.stringList(),
      maxDepth: t.arg.int(),
      first: t.arg.int({ defaultValue: 100 }),
      offset: t.arg.int({ defaultValue: 0 }),
    },
    resolve: (_root, options, ctx) => ctx.services.store.listNamespaces(ctx.caller, options),
  }),
}));

builder.mutationFields((t) => ({
  putStoreItem: t.field({
    type: StoreItem,
    args: {
      namespace: t.arg.stringList({ required: true }),
      key: t.arg.string({ required: true }),
      value: t.arg({ type: "JSON", required: true }),
    },
    resolve: (_root, { namespace, key, value }, ctx) =>
      ctx.services.store.putItem(ctx.caller, namespace, key, value),
  }),
  deleteStoreItem: t.boolean({
    args: {
      namespace: t.arg.stringList({ required: true }),
      key: t.arg.string({ required: true }),
    },
    resolve: (_root, { namespace, key }, ctx) =>
      ctx.services.store.deleteItem(ctx.caller, namespace, key),
  }),
}));
