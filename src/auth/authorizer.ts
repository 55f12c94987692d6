import {
  ConflictError,
  DomainError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnauthenticatedError,
} from "../errors.ts";
import type { Caller } from "./caller.ts";
import { compileFilters, InvalidFilterError, type Scope } from "./filters.ts";

export type AuthResource = "threads" | "assistants" | "crons" | "store";
export type AuthAction =
  | "create"
  | "read"
  | "update"
  | "delete"
  | "search"
  | "create_run"
  | "put"
  | "get"
  | "list_namespaces";

/** What LangGraph's `Auth.on(...)` handlers are called with. */
export interface AuthHandlerArgs {
  event: string;
  resource: AuthResource;
  action: AuthAction;
  value: Record<string, unknown>;
  user: Record<string, unknown>;
  permissions: string[];
}

export type AuthHandler = (args: AuthHandlerArgs) => unknown;

/**
 * Runs a deployment's resource handlers. `authorize` may let the handler change `value` in
 * place (stamping `metadata.owner`, prefixing a store namespace); the caller persists the
 * changed value. It resolves with the scope the resource must be in, or null for none.
 */
export interface Authorizer {
  /** False when no handler can ever run, so callers may skip building values. */
  readonly enabled: boolean;
  authorize(
    caller: Caller,
    resource: AuthResource,
    action: AuthAction,
    value: Record<string, unknown>,
  ): Promise<Scope | null>;
}

export const openAuthorizer: Authorizer = {
  enabled: false,
  authorize: async () => null,
};

/**
 * An authorizer over the handlers an `Auth` object registered. As on LangGraph Platform exactly
 * one handler runs, the most specific: `resource:action`, then `resource`, then `*:action`,
 * then `*`. Its answer: nothing or `true` allows; `false` refuses (FORBIDDEN); an object allows
 * within those filters; a thrown HTTPException maps its status to our codes.
 */
export function createAuthorizer(handlers: Record<string, AuthHandler>): Authorizer {
  const enabled = Object.keys(handlers).length > 0;
  return {
    enabled,
    async authorize(caller, resource, action, value) {
      if (!enabled || caller.kind !== "user") return null;
      const event = `${resource}:${action}`;
      const handler =
        handlers[event] ?? handlers[resource] ?? handlers[`*:${action}`] ?? handlers["*"];
      if (!handler) return null;
      let answer: unknown;
      try {
        answer = await handler({
          event,
          resource,
          action,
          value,
          user: caller.user ?? {},
          permissions: caller.permissions,
        });
      } catch (error) {
        throw fromHandlerError(error, event);
      }
      if (answer === undefined || answer === null || answer === true) return null;
      if (answer === false) throw new ForbiddenError(`not allowed: ${event}`);
      try {
        return compileFilters(answer);
      } catch (error) {
        if (error instanceof InvalidFilterError) {
          // The deployment's bug, not the client's: masked as an internal error and logged.
          throw new Error(`auth handler for ${event} returned bad filters: ${error.message}`);
        }
        throw error;
      }
    },
  };
}

/** An HTTPException (or anything carrying an HTTP `status`) thrown by a handler or authenticate. */
export function fromHandlerError(error: unknown, what: string): unknown {
  if (error instanceof DomainError) return error;
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status !== "number") return error;
  const message = (error as Error).message || `${what}: ${status}`;
  if (status === 401) return new UnauthenticatedError(message, { cause: error });
  if (status === 403) return new ForbiddenError(message, { cause: error });
  if (status === 404) return new NotFoundError(message, { cause: error });
  if (status === 409) return new ConflictError(message, { cause: error });
  if (status >= 400 && status < 500) return new InvalidInputError(message, { cause: error });
  return error;
}
