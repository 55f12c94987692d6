import type { Item, SearchItem } from "@langchain/langgraph-checkpoint";
import type { Caller } from "../auth/caller.ts";
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

export function createStoreService(deps: { db: Database; ttl?: StoreTtlConfig }) {
  /** The store graphs receive (`graph.store`): unscoped, as LangGraph gives nodes the whole store. */
  const backend = new PostgresStore({ pool: deps.db.pool, ttl: deps.ttl });

  /**
   * The auth seam: the namespaces a caller may see, applied inside every statement (reads filter
   * in SQL, writes outside are refused). Everyone sees everything until an auth handler exists;
   * then a `store:*` handler's namespace restriction becomes a scope here.
   */
  function scopeFor(_caller: Caller): NamespaceScope | null {
    return null;
  }

  function storeFor(caller: Caller): PostgresStore {
    const scope = scopeFor(caller);
    return scope ? backend.scoped(scope) : backend;
  }

  return {
    backend,

    async getItem(
      caller: Caller,
      namespace: readonly string[],
      key: string,
    ): Promise<StoreItem | null> {
      const ns = checkNamespace("namespace", namespace);
      checkKey(key);
      const item = await storeFor(caller).get(ns, key);
      return item ? toStoreItem(item) : null;
    },

    async searchItems(
      caller: Caller,
      namespacePrefix: readonly string[],
      options: SearchItemsOptions = {},
    ): Promise<StoreItem[]> {
      const prefix = checkLabels("namespacePrefix", namespacePrefix);
      const filter = checkFilter(options.filter);
      const limit = checkRange("first", options.first ?? 10, { min: 1, max: MAX_PAGE_SIZE });
      const offset = checkRange("offset", options.offset ?? 0, { min: 0 });
      const items = await storeFor(caller).search(prefix, {
        filter,
        query: options.query ?? undefined,
        limit,
        offset,
      });
      return items.map(toStoreItem);
    },

    async listNamespaces(caller: Caller, options: ListNamespacesOptions = {}): Promise<string[][]> {
      const prefix = options.prefix ? checkLabels("prefix", options.prefix) : undefined;
      const suffix = options.suffix ? checkLabels("suffix", options.suffix) : undefined;
      const maxDepth =
        options.maxDepth == null ? undefined : checkRange("maxDepth", options.maxDepth, { min: 1 });
      const limit = checkRange("first", options.first ?? 100, { min: 1, max: MAX_PAGE_SIZE });
      const offset = checkRange("offset", options.offset ?? 0, { min: 0 });
      return storeFor(caller).listNamespaces({ prefix, suffix, maxDepth, limit, offset });
    },

    async putItem(
      caller: Caller,
      namespace: readonly string[],
      key: string,
      value: unknown,
    ): Promise<StoreItem> {
      const ns = checkNamespace("namespace", namespace);
      checkKey(key);
      const object = checkValue(value);
      try {
        return toStoreItem(await storeFor(caller).putItem(ns, key, object));
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
      const ns = checkNamespace("namespace", namespace);
      checkKey(key);
      return storeFor(caller).deleteItem(ns, key);
    },

    /** Reclaims expired items; a system task, not a caller's. */
    sweepExpired(): Promise<number> {
      return backend.sweepExpired();
    },
  };
}

export type StoreService = ReturnType<typeof createStoreService>;
