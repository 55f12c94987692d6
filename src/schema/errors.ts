import { type ExecutionResult, type FormattedExecutionResult, GraphQLError } from "graphql";
import { createGraphQLError, type Plugin } from "graphql-yoga";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import { ClientGoneError, DomainError, OverloadedError } from "../errors.ts";
import type { Logger } from "../log.ts";

type GraphQLErrorLike = Error & {
  originalError?: unknown;
  nodes?: GraphQLError["nodes"];
  path?: GraphQLError["path"];
  extensions?: Record<string, unknown>;
};

// graphql ships CommonJS and ESM builds; yoga and our code may hold different GraphQLError
// classes, so recognise errors by name rather than with instanceof.
function isGraphQLError(error: unknown): error is GraphQLErrorLike {
  return error instanceof Error && error.name === "GraphQLError";
}

/** What a client is told while PostgreSQL is out of reach (HTTP 503: retry later). */
export const UNAVAILABLE_MESSAGE = "the database is unavailable; retry shortly";

/**
 * Domain errors become GraphQL errors carrying their code (and the offending field); GraphQL's
 * own errors (bad variables, bad arguments) are the client's fault and get BAD_USER_INPUT; a
 * database out of reach is UNAVAILABLE (HTTP 503), a request worth retrying; anything else is
 * masked as INTERNAL_SERVER_ERROR and logged, since its message may leak internals.
 */
export function createMaskError(log: Logger) {
  return (error: unknown, message: string): Error => {
    const located = isGraphQLError(error) ? error : undefined;
    const original = located ? located.originalError : error;
    if (original instanceof OverloadedError) {
      // Made by yoga's own GraphQLError class (see isGraphQLError): yoga recognises the error to
      // apply `http` (503, Retry-After) to the response and leave it out of the body.
      return createGraphQLError(original.message, {
        nodes: located?.nodes,
        path: located?.path,
        extensions: {
          code: original.code,
          retryAfter: original.retryAfterSeconds,
          http: {
            status: 503,
            headers: { "Retry-After": String(original.retryAfterSeconds) },
          },
        },
      });
    }
    if (
      (original instanceof DomainError && original.code === "UNAVAILABLE") ||
      isDatabaseUnavailable(original)
    ) {
      log.warn("a request failed: the database is unavailable", {
        path: located?.path?.join("."),
        error: original instanceof Error ? original.message : String(original),
      });
      // yoga's own class, so that it applies the 503 (see the OVERLOADED case above).
      return createGraphQLError(UNAVAILABLE_MESSAGE, {
        nodes: located?.nodes,
        path: located?.path,
        extensions: { code: "UNAVAILABLE", http: { status: 503 } },
      });
    }
    if (original instanceof DomainError) {
      return new GraphQLError(original.message, {
        nodes: located?.nodes,
        path: located?.path,
        extensions: { code: original.code, ...(original.field ? { field: original.field } : {}) },
      });
    }
    if (located && (!original || isGraphQLError(original))) {
      const source = (original as GraphQLErrorLike | undefined) ?? located;
      if (source.extensions?.code) return source;
      return withCode(source, "BAD_USER_INPUT", located);
    }
    if (original instanceof ClientGoneError) {
      // What a client that left is sent goes nowhere; its leaving is routine.
      log.debug("client went away before its answer", { path: located?.path?.join(".") });
      return new GraphQLError(original.message, {
        nodes: located?.nodes,
        path: located?.path,
        extensions: { code: "CLIENT_CLOSED_REQUEST" },
      });
    }
    log.error("unexpected error while resolving a request", {
      path: located?.path?.join("."),
      error: original,
    });
    return new GraphQLError(message, {
      nodes: located?.nodes,
      path: located?.path,
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
  };
}

function withCode(error: GraphQLErrorLike, code: string, located = error): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: located.nodes,
    path: located.path,
    extensions: { ...error.extensions, code },
  });
}

/**
 * Documents that do not parse or validate are bad input like any other: the contract promises
 * one set of codes, so yoga's GRAPHQL_PARSE_FAILED / GRAPHQL_VALIDATION_FAILED become
 * BAD_USER_INPUT (the HTTP status stays 400).
 */
export function useClientErrorCodes(): Plugin {
  return {
    onValidate:
      () =>
      ({ result, setResult }) => {
        if (result.length) setResult(result.map((e) => withCode(e, "BAD_USER_INPUT")));
      },
    onParse:
      () =>
      ({ result, replaceParseResult }) => {
        if (isGraphQLError(result)) replaceParseResult(withCode(result, "BAD_USER_INPUT"));
      },
  };
}

/**
 * A graphql-ws result as a client should see it: yoga reads an error's `extensions.http` (its
 * HTTP status and headers) and leaves it out of HTTP and SSE bodies, but graphql-ws sends results
 * as they are. Undefined when there is nothing to leave out (nearly every result: no errors).
 */
export function withoutHttpExtensions(
  result: ExecutionResult,
): FormattedExecutionResult | undefined {
  if (!result.errors?.some((error) => error.extensions?.http !== undefined)) return undefined;
  return {
    ...result,
    errors: result.errors.map((error) => {
      const { http: _http, ...extensions } = error.extensions ?? {};
      return { ...error.toJSON(), extensions };
    }),
  };
}
