import { createHash, timingSafeEqual } from "node:crypto";
import type { AuthCacheConfig } from "../config.ts";
import { DomainError, UnauthenticatedError } from "../errors.ts";
import { WeightedLru } from "../lru.ts";
import { fromHandlerError } from "./authorizer.ts";
import { anonymousCaller, type Caller } from "./caller.ts";

/** LangGraph's `Auth.authenticate` callback: a user identity from a request. */
export type AuthenticateHandler = (request: Request) => unknown;

/**
 * Turns a request's credentials into a caller, the same way for HTTP, SSE and graphql-ws (whose
 * `connection_init` payload is read as headers). Throws UnauthenticatedError, FORBIDDEN from a
 * handler's HTTPException(403), or the handler's own bug (masked as an internal error).
 */
export interface Authenticator {
  /** What the start-up log reports. */
  readonly description: string;
  readonly open: boolean;
  authenticate(request: Request): Promise<Caller>;
}

function digest(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}

/** The credential a request presents: `x-api-key`, else an `Authorization: Bearer` token. */
function presentedKeys(headers: Headers): string[] {
  const keys: string[] = [];
  const apiKey = headers.get("x-api-key");
  if (apiKey) keys.push(apiKey.trim());
  const authorization = headers.get("authorization");
  const bearer = authorization?.match(/^Bearer\s+(.+)$/i)?.[1];
  if (bearer) keys.push(bearer.trim());
  return keys;
}

export function createAuthenticator(options: {
  apiKeys: readonly string[];
  authenticate: AuthenticateHandler | null;
  /** langgraph.json auth.cache: remember `authenticate`'s callers by these headers' values. */
  cache?: AuthCacheConfig | null;
}): Authenticator {
  // Compared as digests so that every comparison takes the same time whatever the key's length.
  const keyDigests = options.apiKeys.map(digest);
  const handler = options.authenticate;
  const custom: ((request: Request) => Promise<Caller>) | null = !handler
    ? null
    : options.cache
      ? cachedAuthenticate(handler, options.cache)
      : (request) => callHandler(handler, request);

  function hasValidKey(headers: Headers): boolean {
    let valid = false;
    for (const presented of presentedKeys(headers)) {
      const candidate = digest(presented);
      for (const known of keyDigests) if (timingSafeEqual(candidate, known)) valid = true;
    }
    return valid;
  }

  const description = custom
    ? keyDigests.length
      ? `API keys (${keyDigests.length}) and the auth module's authenticate`
      : "the auth module's authenticate"
    : keyDigests.length
      ? `API keys (${keyDigests.length})`
      : "none: every request is allowed (configure LANGGRAPH_GQL_API_KEYS or langgraph.json auth.path)";

  return {
    description,
    open: !custom && keyDigests.length === 0,
    async authenticate(request) {
      if (keyDigests.length && !hasValidKey(request.headers)) {
        throw new UnauthenticatedError(
          presentedKeys(request.headers).length
            ? "invalid API key"
            : "missing credentials: send an API key as x-api-key or Authorization: Bearer",
        );
      }
      if (!custom) {
        return keyDigests.length
          ? { kind: "user", identity: null, permissions: [], user: null }
          : anonymousCaller;
      }
      return custom(request);
    },
  };
}

/** The auth module's authenticate, its result made a caller (errors mapped as LangGraph's). */
async function callHandler(handler: AuthenticateHandler, request: Request): Promise<Caller> {
  let result: unknown;
  try {
    result = await handler(request);
  } catch (error) {
    const mapped = fromHandlerError(error, "authenticate");
    if (mapped instanceof DomainError) throw mapped;
    throw error;
  }
  return callerFromAuthResult(result);
}

/**
 * `authenticate` with its successes remembered for `ttlSeconds`, per process, keyed by the
 * values of the configured headers; a request carrying none of them is always authenticated
 * afresh, and so is every failure.
 */
function cachedAuthenticate(
  handler: AuthenticateHandler,
  cache: AuthCacheConfig,
): (request: Request) => Promise<Caller> {
  const remembered = new WeightedLru<{ caller: Caller; expiresAt: number }>(cache.maxSize, () => 1);
  return async (request) => {
    const values = cache.headers.map((name) => request.headers.get(name));
    if (values.every((value) => value === null)) return callHandler(handler, request);
    const key = JSON.stringify(values);
    const hit = remembered.get(key);
    if (hit && hit.expiresAt > Date.now()) return hit.caller;
    const caller = await callHandler(handler, request);
    remembered.set(key, { caller, expiresAt: Date.now() + cache.ttlSeconds * 1000 });
    return caller;
  };
}

/** LangGraph's normalisation of what `authenticate` returned into a user. */
export function callerFromAuthResult(result: unknown): Caller {
  if (typeof result === "string" && result) {
    const user = {
      identity: result,
      display_name: result,
      is_authenticated: true,
      permissions: [],
    };
    return { kind: "user", identity: result, permissions: [], user };
  }
  const raw = result as Record<string, unknown> | null;
  if (!raw || typeof raw !== "object" || typeof raw.identity !== "string" || !raw.identity) {
    throw new Error(
      `authenticate must return an identity string or {identity, permissions}, got ${JSON.stringify(result)}`,
    );
  }
  if (raw.is_authenticated === false) throw new UnauthenticatedError("not authenticated");
  const permissions = Array.isArray(raw.permissions)
    ? raw.permissions.filter((p): p is string => typeof p === "string")
    : [];
  const user = {
    ...raw,
    identity: raw.identity,
    display_name: typeof raw.display_name === "string" ? raw.display_name : raw.identity,
    is_authenticated: true,
    permissions,
  };
  return { kind: "user", identity: raw.identity, permissions, user };
}

/**
 * The request `authenticate` sees for a graphql-ws connection: the upgrade request's headers,
 * overridden by the `connection_init` payload — its `headers` object, and its own string fields
 * (`{Authorization: "Bearer …"}` or `{"x-api-key": …}`), since clients put credentials in either.
 */
export function requestForConnection(
  url: string,
  upgradeHeaders: Record<string, string | string[] | undefined>,
  payload: unknown,
): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(upgradeHeaders)) {
    if (value === undefined) continue;
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  const params = payload && typeof payload === "object" ? (payload as Record<string, unknown>) : {};
  const nested = params.headers && typeof params.headers === "object" ? params.headers : {};
  for (const source of [params, nested as Record<string, unknown>]) {
    for (const [name, value] of Object.entries(source)) {
      if (typeof value === "string") {
        try {
          headers.set(name, value);
        } catch {
          // Not a valid header name: not a credential either.
        }
      }
    }
  }
  return new Request(url, { method: "GET", headers });
}

/** A body-less copy, so a handler reading the body cannot consume the one GraphQL needs. */
export function requestForHandler(request: Request): Request {
  return new Request(request.url, { method: request.method, headers: request.headers });
}
