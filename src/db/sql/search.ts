import type pg from "pg";
import type { Run } from "../../generated/prisma/client.ts";
import { rowToRun } from "./reads.ts";

/**
 * Search queries Prisma cannot express: JSONB containment (`@>`, served by the GIN
 * jsonb_path_ops indexes) together with ordering and offset paging. They return the page's ids
 * and the total in one round trip; the GraphQL layer then loads exactly the selected fields of
 * those rows through Prisma, so nested selections stay batched.
 */

export interface Page {
  ids: string[];
  total: number;
}

/** Builds a WHERE clause from parts, numbering parameters as it goes. */
export class Where {
  readonly params: unknown[] = [];
  readonly #parts: string[] = [];

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  add(sql: string): this {
    this.#parts.push(sql);
    return this;
  }

  /** `column @> value::jsonb`. */
  contains(column: string, value: unknown): this {
    return this.add(`${column} @> ${this.param(JSON.stringify(value))}::jsonb`);
  }

  /** Case-insensitive substring match; LIKE wildcards in `text` match themselves. */
  ilike(column: string, text: string): this {
    const escaped = text.replace(/[\\%_]/g, (c) => `\\${c}`);
    return this.add(`${column} ILIKE ${this.param(`%${escaped}%`)}`);
  }

  equals(column: string, value: unknown, cast = ""): this {
    return this.add(`${column} = ${this.param(value)}${cast}`);
  }

  anyOf(column: string, values: unknown[], cast: string): this {
    return this.add(`${column} = ANY(${this.param(values)}${cast})`);
  }

  toString(): string {
    return this.#parts.length ? `WHERE ${this.#parts.join(" AND ")}` : "";
  }
}

export type Direction = "ASC" | "DESC";

/**
 * A page of ids from `table`. `orderBy` must be a trusted column name (callers map enum values
 * to columns); `id` breaks ties so pages never overlap.
 */
export async function searchPage(
  pool: pg.Pool,
  table: "assistant" | "thread" | "run" | "cron",
  where: Where,
  order: { column: string; direction: Direction },
  limit: number,
  offset: number,
): Promise<Page> {
  const sql = `SELECT id::text AS id, count(*) OVER () AS total FROM ${table} ${where}
    ORDER BY ${order.column} ${order.direction}, id ${order.direction}
    LIMIT ${where.param(limit)} OFFSET ${where.param(offset)}`;
  const { rows } = await pool.query<{ id: string; total: string }>(sql, where.params);
  if (rows.length === 0 && offset > 0) {
    // Past the end: the window count is not available, so count separately.
    const count = await pool.query<{ total: string }>(
      `SELECT count(*) AS total FROM ${table} ${where}`,
      where.params.slice(0, -2),
    );
    return { ids: [], total: Number(count.rows[0]?.total ?? 0) };
  }
  return { ids: rows.map((r) => r.id), total: Number(rows[0]?.total ?? 0) };
}

/**
 * Runs newest first, optionally of one thread, one cron, one status, and only on threads whose
 * metadata contains `scope` (an auth filter).
 */
export async function runsPage(
  pool: pg.Pool,
  filter: { threadId?: string; cronId?: string; status?: string; scope: object | null },
  limit: number,
  offset: number,
): Promise<{ rows: Run[]; total: number }> {
  const where = new Where();
  if (filter.threadId) where.equals("r.thread_id", filter.threadId, "::uuid");
  if (filter.cronId) where.equals("r.cron_id", filter.cronId, "::uuid");
  if (filter.status) where.equals("r.status", filter.status, '::"RunStatus"');
  const join = filter.scope ? "JOIN thread t ON t.id = r.thread_id" : "";
  if (filter.scope) where.contains("t.metadata", filter.scope);
  const { rows } = await pool.query(
    `SELECT r.*, count(*) OVER () AS total FROM run r ${join} ${where}
     ORDER BY r.created_at DESC, r.id DESC LIMIT ${where.param(limit)} OFFSET ${where.param(offset)}`,
    where.params,
  );
  let total = Number(rows[0]?.total ?? 0);
  if (rows.length === 0 && offset > 0) {
    const count = await pool.query<{ total: string }>(
      `SELECT count(*) AS total FROM run r ${join} ${where}`,
      where.params.slice(0, -2),
    );
    total = Number(count.rows[0]?.total ?? 0);
  }
  return { rows: rows.map(rowToRun), total };
}

/**
 * The same page of runs (newest first) for each of several threads or crons, in two round trips
 * whatever their number: what `threads { runs }` and `crons { runs }` need without a query per
 * item. Only runs on threads whose metadata contains `scope` count.
 */
export async function runsPagesBy(
  pool: pg.Pool,
  by: "thread" | "cron",
  ids: string[],
  filter: { status?: string; scope: object | null },
  limit: number,
  offset: number,
): Promise<Map<string, { rows: Run[]; total: number }>> {
  const pages = new Map<string, { rows: Run[]; total: number }>(
    ids.map((id) => [id, { rows: [], total: 0 }]),
  );
  if (ids.length === 0) return pages;
  const column = by === "thread" ? "r.thread_id" : "r.cron_id";
  const params: unknown[] = [ids, filter.status ?? null, JSON.stringify(filter.scope)];
  const conditions = `($2::text IS NULL OR r.status = $2::"RunStatus")
    AND ($3::jsonb = 'null'::jsonb OR t.metadata @> $3::jsonb)`;
  const [page, counts] = await Promise.all([
    pool.query(
      `SELECT p.*, o.id::text AS page_owner FROM unnest($1::uuid[]) AS o(id)
       CROSS JOIN LATERAL (SELECT r.* FROM run r JOIN thread t ON t.id = r.thread_id
         WHERE ${column} = o.id AND ${conditions}
         ORDER BY r.created_at DESC, r.id DESC LIMIT $4 OFFSET $5) p`,
      [...params, limit, offset],
    ),
    pool.query<{ owner: string; total: string }>(
      `SELECT ${column}::text AS owner, count(*) AS total FROM run r JOIN thread t ON t.id = r.thread_id
       WHERE ${column} = ANY($1::uuid[]) AND ${conditions} GROUP BY ${column}`,
      params,
    ),
  ]);
  for (const row of page.rows) pages.get(row.page_owner)?.rows.push(rowToRun(row));
  for (const row of counts.rows) {
    const entry = pages.get(row.owner);
    if (entry) entry.total = Number(row.total);
  }
  return pages;
}

/** Those of `ids` whose metadata contains `scope` (an auth filter). */
export async function idsInScope(
  pool: pg.Pool,
  table: "assistant" | "thread" | "cron",
  ids: string[],
  scope: object,
): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id::text AS id FROM ${table} WHERE id = ANY($1::uuid[]) AND metadata @> $2::jsonb`,
    [ids, JSON.stringify(scope)],
  );
  return rows.map((r) => r.id);
}

export interface VersionRow {
  assistant_id: string;
  version: number;
  graph_id: string;
  name: string;
  description: string | null;
  config: unknown;
  context: unknown;
  metadata: unknown;
  created_at: Date;
}

/** An assistant's versions, newest first, optionally those whose metadata contains `metadata`. */
export async function assistantVersionsPage(
  pool: pg.Pool,
  assistantId: string,
  metadata: unknown,
  limit: number,
  offset: number,
): Promise<{ rows: VersionRow[]; total: number }> {
  const where = new Where().equals("assistant_id", assistantId, "::uuid");
  if (metadata != null) where.contains("metadata", metadata);
  const { rows } = await pool.query<VersionRow & { total: string }>(
    `SELECT *, count(*) OVER () AS total FROM assistant_version ${where}
     ORDER BY version DESC LIMIT ${where.param(limit)} OFFSET ${where.param(offset)}`,
    where.params,
  );
  return { rows, total: Number(rows[0]?.total ?? 0) };
}
