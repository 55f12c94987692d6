import type { Item, SearchItem } from "@langchain/langgraph-checkpoint";
import type { AuthAction, Authorizer } from "../auth/authorizer.ts";
import type { Caller } from "../auth/caller.ts";
import { inScope } from "../auth/filters.ts";
import type { Database } from "../db/database.ts";
import { ForbiddenError } from "../errors.ts";
import {
  NamespaceOutOfScopeError,
  type NamespaceScope,
  PostgresStore,
  type StoreTtlConfig,
} from "./store.ts";
import {
  checkFilter,
  checkKey,
  checkLabels,
  checkNamespace,
  checkRange,
  checkValue,
  MAX_PAGE_SIZE,
} from "./validation.ts";

/** An item as the API shows it; `score` is set only when a semantic query ranked it. */
export interface StoreItem {
  namespace: string[];
  key: string;
  value: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
  score: number | null;
}

export interface SearchItemsOptions {
  filter?: unknown;
  /** Semantic query; ignored while no embeddings index is configured (see PostgresStore). */
  query?: string | null;
  first?: number | null;
  offset?: number | null;
}

export interface ListNamespacesOptions {
  prefix?: readonly string[] | null;
  suffix?: readonly string[] | null;
  maxDepth?: number | null;
  first?: number | null;
  offset?: number | null;
}

function toStoreItem(item: Item | SearchItem): StoreItem {
  return {
    namespace: item.namespace,
    key: item.key,
    value: item.value,
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
    score: "score" in item && typeof item.score === "number" ? item.score : null,
  };
}

export function createStoreService(deps: {
  db: Database;
  ttl?: StoreTtlConfig;
  authz: Authorizer;
}) {
  /** The store graphs receive (`graph.store`): unscoped, as LangGraph gives nodes the whole store. */
  const backend = new PostgresStore({ pool: deps.db.pool, ttl: deps.ttl });

  /**
   * Runs the `store:<action>` handler. It may rewrite `value.namespace` (LangGraph's way to
   * confine each user to their own namespaces, e.g. prefixing their identity), which is then the
   * namespace used, re-validated; filters it returns must hold for an item's value, inside every
   * statement (reads filter in SQL; writes of values outside them are refused).
   */
  async function authorize<V extends { namespace: readonly string[] }>(
    caller: Caller,
    action: AuthAction,
    value: V,
  ): Promise<{
    value: V;
    namespace: string[];
    store: PostgresStore;
    scope: NamespaceScope | null;
  }> {
    const checked = { ...value, namespace: [...value.namespace] };
    const filters = await deps.authz.authorize(caller, "store", action, checked);
    const namespace: unknown = checked.namespace;
    if (!Array.isArray(namespace) || namespace.some((l) => typeof l !== "string")) {
      throw new Error(`the store:${action} auth handler set a namespace that is not a string list`);
    }
    const scope: NamespaceScope | null = filters
      ? { namespacePrefixes: [[]], valueContains: filters }
      : null;
    return {
      value: checked,
      namespace: namespace as string[],
      store: scope ? backend.scoped(scope) : backend,
      scope,
    };
  }

  return {
    backend,

    async getItem(
      caller: Caller,
      namespace: readonly string[],
      key: string,
    ): Promise<StoreItem | null> {
      checkNamespace("namespace", namespace);
      checkKey(key);
      const allowed = await authorize(caller, "get", { namespace, key });
      const ns = checkNamespace("namespace", allowed.namespace);
      const item = await allowed.store.get(ns, key);
      return item ? toStoreItem(item) : null;
    },

    async searchItems(
      caller: Caller,
      namespacePrefix: readonly string[],
      options: SearchItemsOptions = {},
    ): Promise<StoreItem[]> {
      checkLabels("namespacePrefix", namespacePrefix);
      const filter = checkFilter(options.filter);
      const limit = checkRange("first", options.first ?? 10, { min: 1, max: MAX_PAGE_SIZE });
      const offset = checkRange("offset", options.offset ?? 0, { min: 0 });
      const allowed = await authorize(caller, "search", {
        namespace: namespacePrefix,
        filter: filter ?? null,
        limit,
        offset,
        query: options.query ?? null,
      });
      const prefix = checkLabels("namespacePrefix", allowed.namespace);
      const items = await allowed.store.search(prefix, {
        filter,
        query: options.query ?? undefined,
        limit,
        offset,
      });
      return items.map(toStoreItem);
    },

    async listNamespaces(caller: Caller, options: ListNamespacesOptions = {}): Promise<string[][]> {
      if (options.prefix) checkLabels("prefix", options.prefix);
      const suffix = options.suffix ? checkLabels("suffix", options.suffix) : undefined;
      const maxDepth =
        options.maxDepth == null ? undefined : checkRange("maxDepth", options.maxDepth, { min: 1 });
      const limit = checkRange("first", options.first ?? 100, { min: 1, max: MAX_PAGE_SIZE });
      const offset = checkRange("offset", options.offset ?? 0, { min: 0 });
      const allowed = await authorize(caller, "list_namespaces", {
        namespace: options.prefix ?? [],
        suffix: suffix ?? null,
        max_depth: maxDepth ?? null,
        limit,
        offset,
      });
      const prefix = allowed.namespace.length
        ? checkLabels("prefix", allowed.namespace)
        : undefined;
      return allowed.store.listNamespaces({ prefix, suffix, maxDepth, limit, offset });
    },

    async putItem(
      caller: Caller,
      namespace: readonly string[],
      key: string,
      value: unknown,
    ): Promise<StoreItem> {
      checkNamespace("namespace", namespace);
      checkKey(key);
      const request = { namespace, key, value: { ...checkValue(value) } };
      const allowed = await authorize(caller, "put", request);
      const ns = checkNamespace("namespace", allowed.namespace);
      const object = checkValue(allowed.value.value);
      if (allowed.scope) {
        // Neither the new value nor the item it replaces may lie outside the handler's filters.
        const filters = allowed.scope.valueContains ?? null;
        const existing = await backend.get(ns, key, { refreshTtl: false });
        const outside =
          !inScope(object, filters) || (existing !== null && !inScope(existing.value, filters));
        if (outside) {
          throw new ForbiddenError("Not authorized to write this item", { field: "value" });
        }
      }
      try {
        return toStoreItem(await allowed.store.putItem(ns, key, object));
      } catch (error) {
        if (error instanceof NamespaceOutOfScopeError) {
          throw new ForbiddenError("Not authorized to write to this namespace", {
            field: "namespace",
            cause: error,
          });
        }
        throw error;
      }
    },

    /** Whether there was an item to delete; false also when the caller cannot see it. */
    async deleteItem(caller: Caller, namespace: readonly string[], key: string): Promise<boolean> {
      checkNamespace("namespace", namespace);
      checkKey(key);
      const allowed = await authorize(caller, "delete", { namespace, key });
      const ns = checkNamespace("namespace", allowed.namespace);
      // A scoped delete only removes an item inside the handler's filters (see scopeCondition).
      return allowed.store.deleteItem(ns, key);
    },

    /** Reclaims expired items; a system task, not a caller's. */
    sweepExpired(): Promise<number> {
      return backend.sweepExpired();
    },
  };
}

export type StoreService = ReturnType<typeof createStoreService>;
