/**
 * Every SQL statement of the cross-thread store (table `store_item`). Builders take already
 * validated requests and return parameterised statements; user data only ever travels as
 * parameters.
 *
 * Storage encoding: `prefix` is the namespace's labels joined with "." (labels never contain
 * one), so "items under a namespace prefix" is `prefix = p OR prefix LIKE 'p.%'`, served by the
 * text_pattern_ops index; `namespace` keeps the labels as an array for label-wise matching.
 * An item whose `expires_at` has passed is treated as absent by every statement, swept or not.
 */

export interface SqlStatement {
  text: string;
  values: unknown[];
}

/**
 * What a statement may see or touch; null means no restriction. `valueContains` is an auth
 * filter: only items whose value contains it (JSONB `@>`).
 */
export interface NamespaceScope {
  namespacePrefixes: readonly (readonly string[])[];
  valueContains?: Record<string, unknown> | null;
}

export type ComparisonOperator = "gt" | "gte" | "lt" | "lte";

/** One constraint on an item's value field (see src/store/filter.ts for what each means). */
export type ValueCondition =
  | { kind: "contains"; field: string; value: unknown }
  | { kind: "eq" | "ne"; field: string; value: unknown }
  | { kind: "absent" | "present"; field: string }
  | { kind: ComparisonOperator; field: string; number: number }
  | { kind: "in" | "nin"; field: string; values: unknown[] }
  | { kind: "always" }
  | { kind: "never" };

export interface GetRequest {
  op: number;
  namespace: readonly string[];
  key: string;
  refreshTtl: boolean;
}

export interface SearchRequest {
  op: number;
  namespacePrefix: readonly string[];
  conditions: readonly ValueCondition[];
  limit: number | null;
  offset: number;
  refreshTtl: boolean;
}

export interface NamespaceMatch {
  /** "prefix": labels from the root; "suffix": labels up to the leaf. */
  matchType: "prefix" | "suffix";
  /** "*" matches any one label. */
  path: readonly string[];
}

export interface ListNamespacesRequest {
  op: number;
  /** All must hold. */
  match: readonly NamespaceMatch[];
  maxDepth?: number;
  limit: number | null;
  offset: number;
}

export interface PutRow {
  namespace: readonly string[];
  key: string;
  /** The value as JSON text. */
  json: string;
  ttlMinutes: number | null;
}

export interface DeleteRow {
  namespace: readonly string[];
  key: string;
}

export interface ItemRow {
  op: number;
  namespace: string[];
  key: string;
  value: unknown;
  created_at: Date;
  updated_at: Date;
}

export interface NamespaceRow {
  op: number;
  namespace: string[];
}

export type WriteRow =
  | {
      kind: "put";
      namespace: string[];
      key: string;
      value: unknown;
      created_at: Date;
      updated_at: Date;
      live: true;
    }
  /** `live` is false when the deleted row had already expired (it was invisible). */
  | { kind: "delete"; namespace: string[]; key: string; live: boolean };

const SEPARATOR = ".";
const WILDCARD = "*";
const LIVE = "(s.expires_at IS NULL OR s.expires_at > now())";
/** Newest first; prefix and key make the order total so offset pages never overlap. */
const ITEM_ORDER = `s.updated_at DESC, s.prefix COLLATE "C", s.key COLLATE "C"`;
const ITEM_COLUMNS = "s.namespace, s.key, s.value, s.created_at, s.updated_at";
/** What JavaScript's Number() trims from a string before parsing it. */
const JS_WHITESPACE =
  "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";
/**
 * Decimal numerals as Number() reads them. The exponent is capped at four digits so a string
 * like "1e999999" reads as NaN (never matching) instead of overflowing numeric and failing the
 * whole query; JavaScript would read it as Infinity.
 */
const JS_DECIMAL = "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,4})?$";

export function namespacePrefix(namespace: readonly string[]): string {
  return namespace.join(SEPARATOR);
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, "\\$&");
}

class Params {
  readonly values: unknown[] = [];
  private readonly memo = new Map<string, string>();

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /** A parameter shared by every use within the statement. */
  shared(name: string, value: unknown): string {
    let placeholder = this.memo.get(name);
    if (!placeholder) {
      placeholder = this.add(value);
      this.memo.set(name, placeholder);
    }
    return placeholder;
  }
}

/** Items at `namespace` or below it, label-wise (["a"] covers ["a","b"], never ["ab"]). */
function underPrefix(params: Params, namespace: readonly string[]): string {
  if (namespace.length === 0) return "TRUE";
  const prefix = namespacePrefix(namespace);
  return `(s.prefix = ${params.add(prefix)} OR s.prefix LIKE ${params.add(`${escapeLike(prefix)}${SEPARATOR}%`)})`;
}

function scopeCondition(params: Params, scope: NamespaceScope | null): string {
  if (!scope) return "TRUE";
  const value = scope.valueContains
    ? ` AND s.value @> ${params.add(JSON.stringify(scope.valueContains))}::jsonb`
    : "";
  if (scope.namespacePrefixes.some((p) => p.length === 0)) return `(TRUE${value})`;
  if (scope.namespacePrefixes.length === 0) return "FALSE";
  const prefixes = scope.namespacePrefixes.map(namespacePrefix);
  const exact = params.add(prefixes);
  const below = params.add(prefixes.map((p) => `${escapeLike(p)}${SEPARATOR}%`));
  return `((s.prefix = ANY(${exact}::text[]) OR s.prefix LIKE ANY(${below}::text[]))${value})`;
}

function jsonText(value: unknown): string | null {
  return JSON.stringify(value) ?? null;
}

/** Number(field) in SQL, as numeric; NULL where JavaScript would produce NaN. */
function jsNumber(params: Params, field: string): string {
  const whitespace = params.shared("whitespace", JS_WHITESPACE);
  const decimal = params.shared("decimal", JS_DECIMAL);
  const text = `btrim(${field} #>> '{}', ${whitespace})`;
  return `(CASE jsonb_typeof(${field})
    WHEN 'number' THEN (${field})::numeric
    WHEN 'boolean' THEN CASE WHEN (${field})::boolean THEN 1 ELSE 0 END
    WHEN 'null' THEN 0
    WHEN 'string' THEN CASE
      WHEN ${text} = '' THEN 0
      WHEN ${text} ~ ${decimal} THEN (${text})::numeric
      WHEN ${text} IN ('Infinity', '+Infinity', '-Infinity') THEN (${text})::numeric
    END
  END)`;
}

const COMPARATORS: Record<ComparisonOperator, string> = { gt: ">", gte: ">=", lt: "<", lte: "<=" };

function valueConditions(params: Params, conditions: readonly ValueCondition[]): string[] {
  const sql: string[] = [];
  // Containment (and the containment that equality implies) goes into one `value @> {...}` so
  // the GIN index on value can narrow the scan before the exact checks run.
  const contained: Record<string, unknown> = {};
  for (const condition of conditions) {
    if (condition.kind === "always") continue;
    if (condition.kind === "never") {
      sql.push("FALSE");
      continue;
    }
    if (condition.kind === "contains") {
      contained[condition.field] = condition.value;
      continue;
    }
    // NaN compares false with everything in JavaScript; numeric has no such value.
    if ("number" in condition && Number.isNaN(condition.number)) {
      sql.push("FALSE");
      continue;
    }
    const field = `(s.value -> ${params.add(condition.field)}::text)`;
    switch (condition.kind) {
      case "eq":
        contained[condition.field] = condition.value;
        sql.push(`${field} = ${params.add(jsonText(condition.value))}::jsonb`);
        break;
      case "ne":
        sql.push(`${field} IS DISTINCT FROM ${params.add(jsonText(condition.value))}::jsonb`);
        break;
      case "absent":
        sql.push(`${field} IS NULL`);
        break;
      case "present":
        sql.push(`${field} IS NOT NULL`);
        break;
      case "gt":
      case "gte":
      case "lt":
      case "lte":
        sql.push(
          `${jsNumber(params, field)} ${COMPARATORS[condition.kind]} ${params.add(String(condition.number))}::numeric`,
        );
        break;
      case "in":
      case "nin": {
        const match = `SELECT 1 FROM jsonb_array_elements(${params.add(jsonText(condition.values))}::jsonb) AS e(v) WHERE e.v = ${field}`;
        sql.push(condition.kind === "in" ? `EXISTS (${match})` : `NOT EXISTS (${match})`);
        break;
      }
    }
  }
  if (Object.keys(contained).length > 0) {
    sql.unshift(`s.value @> ${params.add(jsonText(contained))}::jsonb`);
  }
  return sql;
}

/**
 * Gets and searches of one batch in one round trip. TTL refresh happens in the same statement,
 * for the rows read with `refreshTtl` that carry a TTL.
 */
export function selectItems(
  gets: readonly GetRequest[],
  searches: readonly SearchRequest[],
  scope: NamespaceScope | null,
): SqlStatement {
  const params = new Params();
  const branches: string[] = [];
  if (gets.length > 0) {
    const ops = params.add(gets.map((g) => g.op));
    const prefixes = params.add(gets.map((g) => namespacePrefix(g.namespace)));
    const keys = params.add(gets.map((g) => g.key));
    const refresh = params.add(gets.map((g) => g.refreshTtl));
    branches.push(`(SELECT g.op, s.prefix, ${ITEM_COLUMNS}, g.refresh
      FROM unnest(${ops}::int[], ${prefixes}::text[], ${keys}::text[], ${refresh}::boolean[]) AS g(op, prefix, key, refresh)
      JOIN store_item s ON s.prefix = g.prefix AND s.key = g.key
      WHERE ${LIVE} AND ${scopeCondition(params, scope)})`);
  }
  for (const search of searches) {
    const where = [
      LIVE,
      underPrefix(params, search.namespacePrefix),
      scopeCondition(params, scope),
      ...valueConditions(params, search.conditions),
    ];
    branches.push(`(SELECT ${search.op}::int AS op, s.prefix, ${ITEM_COLUMNS}, ${search.refreshTtl} AS refresh
      FROM store_item s
      WHERE ${where.join(" AND ")}
      ORDER BY ${ITEM_ORDER}
      LIMIT ${params.add(search.limit)}::bigint OFFSET ${params.add(search.offset)}::bigint)`);
  }
  const text = `WITH found AS (
    ${branches.join("\n    UNION ALL\n    ")}
  ), refreshed AS (
    UPDATE store_item s SET expires_at = now() + s.ttl_minutes * interval '1 minute'
    FROM found f
    WHERE f.refresh AND s.ttl_minutes IS NOT NULL AND s.prefix = f.prefix AND s.key = f.key
  )
  SELECT s.op, ${ITEM_COLUMNS} FROM found s ORDER BY s.op, ${ITEM_ORDER}`;
  return { text, values: params.values };
}

function matchPrefix(params: Params, path: readonly string[]): string[] {
  const sql = [`cardinality(s.namespace) >= ${path.length}`];
  // The literal labels before the first wildcard pin down a string prefix the index can serve.
  const firstWildcard = path.indexOf(WILDCARD);
  const literal = firstWildcard === -1 ? path : path.slice(0, firstWildcard);
  if (literal.length > 0) {
    const prefix = namespacePrefix(literal);
    const below = params.add(`${escapeLike(prefix)}${SEPARATOR}%`);
    sql.push(
      literal.length === path.length
        ? `(s.prefix = ${params.add(prefix)} OR s.prefix LIKE ${below})`
        : `s.prefix LIKE ${below}`,
    );
  }
  path.forEach((label, index) => {
    if (index >= literal.length && label !== WILDCARD) {
      sql.push(`s.namespace[${index + 1}] = ${params.add(label)}`);
    }
  });
  return sql;
}

function matchSuffix(params: Params, path: readonly string[]): string[] {
  const sql = [`cardinality(s.namespace) >= ${path.length}`];
  path.forEach((label, index) => {
    if (label !== WILDCARD) {
      sql.push(
        `s.namespace[cardinality(s.namespace) - ${path.length - index - 1}] = ${params.add(label)}`,
      );
    }
  });
  return sql;
}

/** Distinct namespaces of live items, after matching, truncated to maxDepth, in label order. */
export function listNamespaces(
  requests: readonly ListNamespacesRequest[],
  scope: NamespaceScope | null,
): SqlStatement {
  const params = new Params();
  const branches = requests.map((request) => {
    const where = [LIVE, scopeCondition(params, scope)];
    for (const { matchType, path } of request.match) {
      where.push(...(matchType === "prefix" ? matchPrefix : matchSuffix)(params, path));
    }
    const namespace =
      request.maxDepth === undefined
        ? "s.namespace"
        : `s.namespace[1:${params.add(request.maxDepth)}::int]`;
    return `(SELECT ${request.op}::int AS op, d.namespace
      FROM (SELECT DISTINCT ${namespace} AS namespace FROM store_item s WHERE ${where.join(" AND ")}) d
      ORDER BY d.namespace COLLATE "C"
      LIMIT ${params.add(request.limit)}::bigint OFFSET ${params.add(request.offset)}::bigint)`;
  });
  const text = `SELECT n.op, n.namespace FROM (
    ${branches.join("\n    UNION ALL\n    ")}
  ) n ORDER BY n.op, n.namespace COLLATE "C"`;
  return { text, values: params.values };
}

/**
 * A batch's deletes and upserts as one statement, so they commit together. `rows` must not name
 * the same (namespace, key) twice; the caller keeps the last write per item. Overwriting an
 * expired (not yet swept) row counts as creating the item afresh.
 */
export function writeItems(
  puts: readonly PutRow[],
  deletes: readonly DeleteRow[],
  scope: NamespaceScope | null,
): SqlStatement {
  const params = new Params();
  const ctes: string[] = [];
  const results: string[] = [];
  if (deletes.length > 0) {
    const prefixes = params.add(deletes.map((d) => namespacePrefix(d.namespace)));
    const keys = params.add(deletes.map((d) => d.key));
    ctes.push(`deleted AS (
      DELETE FROM store_item s
      USING unnest(${prefixes}::text[], ${keys}::text[]) AS d(prefix, key)
      WHERE s.prefix = d.prefix AND s.key = d.key AND ${scopeCondition(params, scope)}
      RETURNING s.namespace, s.key, ${LIVE} AS live
    )`);
    results.push(`SELECT 'delete' AS kind, namespace, key, NULL::jsonb AS value,
      NULL::timestamptz AS created_at, NULL::timestamptz AS updated_at, live FROM deleted`);
  }
  if (puts.length > 0) {
    const prefixes = params.add(puts.map((p) => namespacePrefix(p.namespace)));
    const keys = params.add(puts.map((p) => p.key));
    const values = params.add(puts.map((p) => p.json));
    const ttls = params.add(puts.map((p) => p.ttlMinutes));
    ctes.push(`upserted AS (
      INSERT INTO store_item AS s (prefix, key, namespace, value, created_at, updated_at, expires_at, ttl_minutes)
      SELECT u.prefix, u.key, string_to_array(u.prefix, '${SEPARATOR}'), u.value, now(), now(),
        now() + u.ttl * interval '1 minute', u.ttl
      FROM unnest(${prefixes}::text[], ${keys}::text[], ${values}::jsonb[], ${ttls}::float8[])
        AS u(prefix, key, value, ttl)
      -- One lock order for every writer, so concurrent multi-row upserts cannot deadlock.
      ORDER BY u.prefix COLLATE "C", u.key COLLATE "C"
      ON CONFLICT (prefix, key) DO UPDATE SET
        value = excluded.value,
        namespace = excluded.namespace,
        updated_at = excluded.updated_at,
        created_at = CASE WHEN ${LIVE} THEN s.created_at ELSE excluded.created_at END,
        expires_at = excluded.expires_at,
        ttl_minutes = excluded.ttl_minutes
      RETURNING ${ITEM_COLUMNS}
    )`);
    results.push(`SELECT 'put' AS kind, namespace, key, value, created_at, updated_at, TRUE AS live
      FROM upserted`);
  }
  return {
    text: `WITH ${ctes.join(", ")}\n${results.join("\nUNION ALL\n")}`,
    values: params.values,
  };
}

/** Deletes items whose TTL has passed; reads already ignore them, this reclaims the space. */
export const sweepExpiredItems: SqlStatement = {
  text: "DELETE FROM store_item WHERE expires_at <= now()",
  values: [],
};
