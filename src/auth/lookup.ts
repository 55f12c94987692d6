import { NotFoundError } from "../errors.ts";
import type { AuthAction } from "./authorizer.ts";
import type { Caller } from "./caller.ts";

/**
 * What each service answers with: `find` reads a resource if the caller may do `action` to it
 * (null otherwise, indistinguishable from missing).
 */
export type AuthorizedFind<T> = (
  caller: Caller,
  id: string,
  action?: AuthAction,
  value?: Record<string, unknown>,
) => Promise<T | null>;

/** A service's `get` (read) and `require` (any action; NOT_FOUND naming `field`) over its `find`. */
export function authorizedLookups<T>(kind: string, find: AuthorizedFind<T>) {
  return {
    get(caller: Caller, id: string): Promise<T | null> {
      return find(caller, id);
    },
    async require(
      caller: Caller,
      id: string,
      field = "id",
      action: AuthAction = "read",
      value: Record<string, unknown> = {},
    ): Promise<T> {
      const found = await find(caller, id, action, value);
      if (!found) throw new NotFoundError(`${kind} "${id}" not found`, { field });
      return found;
    },
  };
}
