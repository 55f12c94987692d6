import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import type { Caller } from "../auth/caller.ts";
import type PrismaTypes from "../generated/pothos-types.ts";
import { getDatamodel } from "../generated/pothos-types.ts";
import type { Services } from "../services.ts";

export interface GraphQLContext {
  caller: Caller;
  services: Services;
  /** Aborted when the client goes away, so waiting resolvers stop waiting. */
  signal?: AbortSignal;
  /** Request headers a run created by this request gets in config.configurable. */
  runHeaders: Readonly<Record<string, string>>;
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  PrismaTypes: PrismaTypes;
  DefaultFieldNullability: false;
  Scalars: {
    JSON: { Input: unknown; Output: unknown };
    DateTime: { Input: Date; Output: Date | string };
  };
}>({
  plugins: [PrismaPlugin],
  defaultFieldNullability: false,
  prisma: {
    client: (ctx) => ctx.services.db.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
});
builder.queryType({});
builder.mutationType({});
