import type { ObjectRef } from "@pothos/core";
import { InvalidInputError } from "../errors.ts";
import { builder } from "./builder.ts";

/**
 * Relay connections over offset pages (what LangGraph's own APIs page by). A cursor is the
 * item's offset, opaque to clients.
 */

export interface ConnectionShape<T> {
  items: T[];
  offset: number;
  total: number;
}

export const PageInfo = builder
  .objectRef<{
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  }>("PageInfo")
  .implement({
    fields: (t) => ({
      hasNextPage: t.exposeBoolean("hasNextPage"),
      hasPreviousPage: t.exposeBoolean("hasPreviousPage"),
      startCursor: t.exposeString("startCursor", { nullable: true }),
      endCursor: t.exposeString("endCursor", { nullable: true }),
    }),
  });

export function encodeCursor(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString("base64url");
}

/** The offset a page starts at: just past the `after` cursor, or 0. */
export function offsetAfter(after: string | null | undefined): number {
  if (after == null) return 0;
  const match = /^offset:(\d+)$/.exec(Buffer.from(after, "base64url").toString());
  if (!match)
    throw new InvalidInputError(`after is not a cursor of this list: "${after}"`, {
      field: "after",
    });
  return Number(match[1]) + 1;
}

/** `XConnection` and `XEdge` types for a node type, with `nodes` and `totalCount`. */
export function connectionType<T>(name: string, node: ObjectRef<any, T>) {
  const edge = builder.objectRef<{ cursor: string; node: T }>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.exposeString("cursor"),
      node: t.field({ type: node, resolve: (e) => e.node as never }),
    }),
  });
  return builder.objectRef<ConnectionShape<T>>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({
        type: [edge],
        resolve: (c) =>
          c.items.map((item, i) => ({ cursor: encodeCursor(c.offset + i), node: item })),
      }),
      nodes: t.field({ type: [node], resolve: (c) => c.items as never }),
      pageInfo: t.field({
        type: PageInfo,
        resolve: (c) => ({
          hasNextPage: c.offset + c.items.length < c.total,
          hasPreviousPage: c.offset > 0,
          startCursor: c.items.length ? encodeCursor(c.offset) : null,
          endCursor: c.items.length ? encodeCursor(c.offset + c.items.length - 1) : null,
        }),
      }),
      totalCount: t.int({ resolve: (c) => c.total }),
    }),
  });
}

/** Rows in the order of `ids` (a search's order), dropping ids whose rows vanished meanwhile. */
export function inOrder<T extends { id: string }>(ids: string[], rows: T[]): T[] {
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}
