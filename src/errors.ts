/**
 * Domain errors. Services throw these; the GraphQL layer turns each into an error whose
 * `extensions.code` is the `code` here. Nothing below src/schema imports graphql.
 */
export type ErrorCode =
  | "BAD_USER_INPUT"
  | "NOT_FOUND"
  | "CONFLICT"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "OVERLOADED"
  /** PostgreSQL is out of reach for now: the same request succeeds once it is back. */
  | "UNAVAILABLE";

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
  /** The argument or input field the problem is about, when there is one. */
  readonly field?: string;

  constructor(message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.field = options.field;
  }
}

export class InvalidInputError extends DomainError {
  readonly code = "BAD_USER_INPUT";
  override name = "InvalidInputError";
}

export class NotFoundError extends DomainError {
  readonly code = "NOT_FOUND";
  override name = "NotFoundError";
}

export class ConflictError extends DomainError {
  readonly code = "CONFLICT";
  override name = "ConflictError";
}

export class UnauthenticatedError extends DomainError {
  readonly code = "UNAUTHENTICATED";
  override name = "UnauthenticatedError";
}

export class ForbiddenError extends DomainError {
  readonly code = "FORBIDDEN";
  override name = "ForbiddenError";
}

/**
 * The server is at capacity: nothing was done, and the same request may succeed after
 * `retryAfterSeconds` (sent as extensions.retryAfter and an HTTP Retry-After header).
 */
export class OverloadedError extends DomainError {
  readonly code = "OVERLOADED";
  override name = "OverloadedError";
  readonly retryAfterSeconds: number;

  constructor(message: string, options: { retryAfterSeconds: number; field?: string }) {
    super(message, { field: options.field });
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/**
 * The client went away before its answer (a waited run it stopped waiting for). Not a domain
 * error: nobody receives it, and it is nobody's fault.
 */
export class ClientGoneError extends Error {
  override name = "ClientGoneError";
}

export class UnavailableError extends DomainError {
  readonly code = "UNAVAILABLE";
  override name = "UnavailableError";
}
