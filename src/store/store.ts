import {
  BaseStore,
  type GetOperation,
  type Item,
  type ListNamespacesOperation,
  type Operation,
  type OperationResults,
  type PutOperation,
  type SearchItem,
  type SearchOperation,
} from "@langchain/langgraph-checkpoint";
import type pg from "pg";
import { holdsUnstorable } from "../db/sql/json.ts";
import {
  type DeleteRow,
  type GetRequest,
  type ItemRow,
  type ListNamespacesRequest,
  listNamespaces,
  type NamespaceRow,
  type NamespaceScope,
  type PutRow,
  type SearchRequest,
  type SqlStatement,
  selectItems,
  sweepExpiredItems,
  type WriteRow,
  writeItems,
} from "../db/sql/store.ts";
import { parseFilter } from "./filter.ts";
import { assertReadableNamespace, assertValidNamespace, isAddressable } from "./namespace.ts";

export type { NamespaceScope } from "../db/sql/store.ts";

/** LangGraph's TTLConfig (langgraph.json `store.ttl`), in minutes. */
export interface StoreTtlConfig {
  /** Applied to puts that do not give a ttl. Unset: such items never expire. */
  defaultTtl?: number;
  /** Whether reads push a TTL'd item's expiry forward unless the read says otherwise. Default true. */
  refreshOnRead?: boolean;
}

export interface StorePutOptions {
  /** Minutes until the item expires; null: never, even when a default TTL is configured. */
  ttl?: number | null;
}

/** LangGraph's operations plus the TTL knobs its Python stores and SDK already have. */
export type StoreGetOperation = GetOperation & { refreshTtl?: boolean };
export type StoreSearchOperation = SearchOperation & { refreshTtl?: boolean };
export type StorePutOperation = PutOperation & { ttl?: number | null };

/** A scoped store was asked to write outside the namespaces it may see. */
export class NamespaceOutOfScopeError extends Error {
  override name = "NamespaceOutOfScopeError";
}

const DEFAULT_SEARCH_LIMIT = 10;
const DEFAULT_LIST_LIMIT = 100;

function toItem(row: ItemRow | Extract<WriteRow, { kind: "put" }>): Item {
  return {
    namespace: row.namespace,
    key: row.key,
    value: row.value as Record<string, unknown>,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Limits and offsets from graph code are not validated upstream; SQL rejects negatives. */
function count(value: number | undefined, fallback: number | null): number | null {
  if (value === undefined || !Number.isFinite(value)) return fallback;
  return Math.max(0, Math.floor(value));
}

function withinScope(namespace: readonly string[], scope: NamespaceScope | null): boolean {
  if (!scope) return true;
  return scope.namespacePrefixes.some(
    (prefix) => prefix.length <= namespace.length && prefix.every((l, i) => namespace[i] === l),
  );
}

/**
 * LangGraph's BaseStore on the `store_item` table, so graphs get it as `graph.store` and the API
 * reads and writes the very same items.
 *
 * A batch runs its reads first and its writes last, like InMemoryStore and LangGraph's Python
 * PostgresStore: every read in a batch sees the store as it was before the batch's writes, and
 * two writes to one item keep the last. Gets and searches share one statement, namespace
 * listings another, and all writes a third (so they commit together).
 *
 * Semantic search: no embeddings index is supported, so `query` is ignored, as InMemoryStore
 * and the Python stores do without an index; results come in the usual order (most recently
 * updated first) with no score. `index` on put is accepted and ignored for the same reason.
 *
 * TTL: a put with `ttl` (minutes) makes the item expire that long after; reads with refreshTtl
 * (the default) push the expiry forward by the item's ttl. Expired items are invisible at once;
 * `sweepExpired()` reclaims their rows.
 */
export class PostgresStore extends BaseStore {
  private readonly pool: pg.Pool;
  private readonly ttlConfig: StoreTtlConfig;
  /** Namespaces this instance may see; null: all (graphs, and callers allowed everything). */
  readonly scope: NamespaceScope | null;

  constructor(options: { pool: pg.Pool; ttl?: StoreTtlConfig; scope?: NamespaceScope | null }) {
    super();
    this.pool = options.pool;
    this.ttlConfig = options.ttl ?? {};
    this.scope = options.scope ?? null;
  }

  /** The same store seeing only `scope`: reads filter in SQL, writes outside it are refused. */
  scoped(scope: NamespaceScope | null): PostgresStore {
    return new PostgresStore({ pool: this.pool, ttl: this.ttlConfig, scope });
  }

  override async get(
    namespace: string[],
    key: string,
    options: { refreshTtl?: boolean } = {},
  ): Promise<Item | null> {
    assertReadableNamespace(namespace);
    const [item] = await this.batch([{ namespace, key, ...options } as StoreGetOperation]);
    return item ?? null;
  }

  override async search(
    namespacePrefix: string[],
    options: {
      filter?: Record<string, unknown>;
      limit?: number;
      offset?: number;
      query?: string;
      refreshTtl?: boolean;
    } = {},
  ): Promise<SearchItem[]> {
    assertReadableNamespace(namespacePrefix);
    const { limit = DEFAULT_SEARCH_LIMIT, offset = 0, ...rest } = options;
    const [items] = await this.batch([
      { namespacePrefix, limit, offset, ...rest } as StoreSearchOperation,
    ]);
    return items ?? [];
  }

  override async put(
    namespace: string[],
    key: string,
    value: Record<string, unknown>,
    index?: false | string[],
    options: StorePutOptions = {},
  ): Promise<void> {
    await this.batch([{ namespace, key, value, index, ...options } as StorePutOperation]);
  }

  /** put, answering the item as stored (with its timestamps). */
  async putItem(
    namespace: string[],
    key: string,
    value: Record<string, unknown>,
    options: StorePutOptions = {},
  ): Promise<Item> {
    const row = this.toPutRow({ namespace, key, value, ...options });
    const rows = await this.run<WriteRow>(writeItems([row], [], this.scope));
    const put = rows.find((r) => r.kind === "put");
    if (!put) throw new Error("the upsert returned no row");
    return toItem(put);
  }

  /** delete, answering whether a (live, visible) item was there. */
  async deleteItem(namespace: string[], key: string): Promise<boolean> {
    assertValidNamespace(namespace);
    const rows = await this.run<WriteRow>(writeItems([], [{ namespace, key }], this.scope));
    return rows.some((r) => r.kind === "delete" && r.live);
  }

  /** Deletes expired items; answers how many. Meant to be called periodically. */
  async sweepExpired(): Promise<number> {
    const result = await this.pool.query(sweepExpiredItems.text, sweepExpiredItems.values);
    return result.rowCount ?? 0;
  }

  override async batch<Op extends Operation[]>(operations: Op): Promise<OperationResults<Op>> {
    const results: unknown[] = operations.map(() => null);
    const gets: GetRequest[] = [];
    const searches: SearchRequest[] = [];
    const lists: ListNamespacesRequest[] = [];
    // Keyed by item so the last write to an item wins and the upsert never meets a row twice.
    const writes = new Map<string, PutRow | DeleteRow>();

    // Everything is checked before anything runs, so a bad operation fails the whole batch
    // without leaving part of it written.
    operations.forEach((operation, op) => {
      if ("namespacePrefix" in operation) {
        const search = operation as StoreSearchOperation;
        results[op] = [];
        if (!isAddressable(search.namespacePrefix)) return;
        searches.push({
          op,
          namespacePrefix: search.namespacePrefix,
          conditions: parseFilter(search.filter),
          limit: count(search.limit, DEFAULT_SEARCH_LIMIT),
          offset: count(search.offset, 0) ?? 0,
          refreshTtl: this.refreshes(search.refreshTtl),
        });
      } else if ("value" in operation) {
        const put = operation as StorePutOperation;
        const id = JSON.stringify([put.namespace, put.key]);
        writes.set(
          id,
          put.value === null ? this.toDeleteRow(put.namespace, put.key) : this.toPutRow(put),
        );
      } else if ("key" in operation && "namespace" in operation) {
        const get = operation as StoreGetOperation;
        if (!isAddressable(get.namespace)) return;
        gets.push({
          op,
          namespace: get.namespace,
          key: get.key,
          refreshTtl: this.refreshes(get.refreshTtl),
        });
      } else if ("matchConditions" in operation || "limit" in operation) {
        const list = operation as ListNamespacesOperation;
        results[op] = [];
        const match = list.matchConditions ?? [];
        if (!match.every((condition) => isAddressable(condition.path))) return;
        lists.push({
          op,
          match,
          maxDepth: list.maxDepth,
          limit: count(list.limit, DEFAULT_LIST_LIMIT),
          offset: count(list.offset, 0) ?? 0,
        });
      } else {
        throw new Error(`Unsupported store operation: ${JSON.stringify(operation)}`);
      }
    });

    const [items, namespaces] = await Promise.all([
      gets.length + searches.length > 0
        ? this.run<ItemRow>(selectItems(gets, searches, this.scope))
        : [],
      lists.length > 0 ? this.run<NamespaceRow>(listNamespaces(lists, this.scope)) : [],
    ]);
    for (const row of items) {
      const item = toItem(row);
      const slot = results[row.op];
      if (Array.isArray(slot)) slot.push(item);
      else results[row.op] = item;
    }
    for (const row of namespaces) (results[row.op] as string[][]).push(row.namespace);

    if (writes.size > 0) {
      const puts: PutRow[] = [];
      const deletes: DeleteRow[] = [];
      for (const write of writes.values()) ("json" in write ? puts : deletes).push(write);
      await this.run(writeItems(puts, deletes, this.scope));
    }
    return results as OperationResults<Op>;
  }

  /** Keeps the pool out of anything that serialises the config a graph runs with. */
  toJSON() {
    return { lg_name: "PostgresStore" };
  }

  private refreshes(requested: boolean | undefined): boolean {
    return requested ?? this.ttlConfig.refreshOnRead ?? true;
  }

  private toDeleteRow(namespace: string[], key: string): DeleteRow {
    assertValidNamespace(namespace);
    return { namespace, key: String(key) };
  }

  private toPutRow(put: {
    namespace: string[];
    key: string;
    value: unknown;
    ttl?: number | null;
  }): PutRow {
    assertValidNamespace(put.namespace);
    if (!withinScope(put.namespace, this.scope)) {
      throw new NamespaceOutOfScopeError(
        `Namespace ${JSON.stringify(put.namespace)} is outside what this store may write.`,
      );
    }
    const json = put.value === undefined ? undefined : JSON.stringify(put.value);
    if (json === undefined) {
      throw new TypeError(
        `Store values must be JSON-serialisable objects; got ${typeof put.value}.`,
      );
    }
    if (holdsUnstorable(json)) {
      throw new TypeError(
        "Store values cannot hold U+0000 or an unpaired UTF-16 surrogate (PostgreSQL's jsonb cannot store them).",
      );
    }
    const ttl = put.ttl === undefined ? (this.ttlConfig.defaultTtl ?? null) : put.ttl;
    if (ttl !== null && !(typeof ttl === "number" && Number.isFinite(ttl) && ttl > 0)) {
      throw new RangeError(`ttl must be a positive number of minutes; got ${ttl}.`);
    }
    return { namespace: put.namespace, key: String(put.key), json, ttlMinutes: ttl };
  }

  private async run<Row extends object>(statement: SqlStatement): Promise<Row[]> {
    const result = await this.pool.query<Row & pg.QueryResultRow>(statement.text, statement.values);
    return result.rows;
  }
}
