import {
  type ASTNode,
  GraphQLError,
  type GraphQLObjectType,
  type GraphQLSchema,
  type ValidationRule,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { ApiFamily } from "../config.ts";

/**
 * Which LangGraph Platform route group (`http.disable_*` in langgraph.json) each root field
 * belongs to. Crons are runs, as the platform serves them under /runs/crons; graphs are the
 * assistants' (the platform's /assistants/{id}/graph and /schemas).
 */
export const ROOT_FIELD_FAMILIES: Record<string, ApiFamily> = {
  "Query.assistant": "assistants",
  "Query.assistants": "assistants",
  "Query.graph": "assistants",
  "Query.graphs": "assistants",
  "Mutation.createAssistant": "assistants",
  "Mutation.updateAssistant": "assistants",
  "Mutation.deleteAssistant": "assistants",
  "Mutation.setAssistantVersion": "assistants",

  "Query.thread": "threads",
  "Query.threads": "threads",
  "Mutation.createThread": "threads",
  "Mutation.updateThread": "threads",
  "Mutation.deleteThread": "threads",
  "Mutation.copyThread": "threads",
  "Mutation.updateThreadState": "threads",
  "Subscription.threadEvents": "threads",

  "Query.run": "runs",
  "Query.runs": "runs",
  "Query.runResult": "runs",
  "Mutation.createRun": "runs",
  "Mutation.waitRun": "runs",
  "Mutation.cancelRun": "runs",
  "Mutation.cancelRuns": "runs",
  "Mutation.deleteRun": "runs",
  "Subscription.streamRun": "runs",
  "Subscription.runEvents": "runs",
  "Query.cron": "runs",
  "Query.crons": "runs",
  "Mutation.createCron": "runs",
  "Mutation.updateCron": "runs",
  "Mutation.deleteCron": "runs",

  "Query.storeItem": "store",
  "Query.storeItems": "store",
  "Query.storeNamespaces": "store",
  "Mutation.putStoreItem": "store",
  "Mutation.deleteStoreItem": "store",

  "Query.info": "meta",
};

/** Root fields ("Query.threads") the given families leave out, with the family of each. */
export function disabledRootFields(
  schema: GraphQLSchema,
  families: readonly ApiFamily[],
): Map<string, ApiFamily> {
  const disabled = new Map<string, ApiFamily>();
  if (families.length === 0) return disabled;
  for (const root of rootTypes(schema)) {
    for (const name of Object.keys(root.getFields())) {
      const key = `${root.name}.${name}`;
      const family = ROOT_FIELD_FAMILIES[key];
      if (family === undefined) throw new Error(`root field ${key} belongs to no http family`);
      if (families.includes(family)) disabled.set(key, family);
    }
  }
  return disabled;
}

/**
 * The schema as served: the full one without the disabled root fields (a root type left with
 * none goes too). Every other type stays, so results keep their shape.
 */
export function servedSchema(schema: GraphQLSchema, disabled: Map<string, ApiFamily>) {
  if (disabled.size === 0) return schema;
  // The schema's own classes: graphql's CommonJS and ESM builds may both be loaded, and each
  // refuses the other's types.
  const Schema = schema.constructor as typeof GraphQLSchema;
  const config = schema.toConfig();
  const roots = rootTypes(schema);
  const without = (root: GraphQLObjectType | null | undefined) => {
    if (!root) return undefined;
    const ObjectType = root.constructor as typeof GraphQLObjectType;
    const { fields, ...rest } = root.toConfig();
    const kept = Object.fromEntries(
      Object.entries(fields).filter(([name]) => !disabled.has(`${root.name}.${name}`)),
    );
    return Object.keys(kept).length ? new ObjectType({ ...rest, fields: kept }) : undefined;
  };
  const query = without(config.query);
  if (!query) throw new Error("every Query field is disabled");
  return new Schema({
    ...config,
    query,
    mutation: without(config.mutation),
    subscription: without(config.subscription),
    types: config.types.filter((type) => !roots.includes(type as GraphQLObjectType)),
  });
}

/**
 * A document naming a disabled root field is refused saying so (BAD_USER_INPUT, through
 * useClientErrorCodes), in place of graphql's "Cannot query field" for the same selection.
 */
export function useDisabledRootFields(disabled: Map<string, ApiFamily>): Plugin {
  if (disabled.size === 0) return {};
  return {
    onValidate: ({ addValidationRule }) => {
      const refused = new Set<ASTNode>();
      const rule: ValidationRule = (context) => ({
        Field(node) {
          const parent = context.getParentType();
          const key = parent ? `${parent.name}.${node.name.value}` : "";
          const family = disabled.get(key);
          if (family === undefined || !isRoot(context.getSchema(), parent!.name)) return;
          refused.add(node);
          context.reportError(
            new GraphQLError(
              `${key} is disabled on this server (http.disable_${family} in langgraph.json)`,
              { nodes: node, extensions: { code: "BAD_USER_INPUT", field: key } },
            ),
          );
        },
      });
      addValidationRule(rule);
      return ({ result, setResult }) => {
        if (refused.size === 0) return;
        setResult(
          result.filter(
            (error) =>
              error.extensions?.field !== undefined ||
              !error.nodes?.some((node: ASTNode) => refused.has(node)),
          ),
        );
      };
    },
  };
}

function rootTypes(schema: GraphQLSchema): GraphQLObjectType[] {
  return [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter(
    (type): type is GraphQLObjectType => type != null,
  );
}

function isRoot(schema: GraphQLSchema, typeName: string): boolean {
  return rootTypes(schema).some((root) => root.name === typeName);
}
