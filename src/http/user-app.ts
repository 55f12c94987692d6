import { stat } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../config.ts";

/** Our own routes, for a request the user's app has no route for. */
export type Fallthrough = (request: Request) => Response | Promise<Response>;

/**
 * langgraph.json's `http.app`, mounted before our routes. `handle` answers a request with the
 * app, or passes it on to `next` when the app has no route for it.
 */
export interface UserApp {
  kind: "hono" | "fetch";
  handle(request: Request, env: object, next: Fallthrough): Response | Promise<Response>;
}

/** What we use of a Hono app (the official server's `http.app`); any version has it. */
interface HonoLike {
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  route(path: string, app: HonoLike): HonoLike;
  notFound(
    handler: (c: { env: unknown; req: { raw: Request } }) => Response | Promise<Response>,
  ): unknown;
  routes: unknown[];
}

type FetchHandler = (request: Request, env?: unknown) => Response | Promise<Response>;

/** Imports the `http.app` export (a .ts file loads as graphs do). Errors name the file and key. */
export async function loadUserApp(
  spec: { path: string; exportName: string },
  mountPrefix: string,
): Promise<UserApp> {
  const fail = (problem: string, cause?: unknown): never => {
    throw new ConfigError(`http.app (${spec.path}): ${problem}`, { cause });
  };
  if (!(await stat(spec.path).catch(() => null))?.isFile()) fail("file does not exist");
  let module: Record<string, unknown> = {};
  try {
    module = await import(pathToFileURL(spec.path).href);
  } catch (error) {
    fail(`module failed to import: ${(error as Error)?.message ?? String(error)}`, error);
  }
  const exportName = spec.exportName || "default";
  if (!(exportName in module)) {
    const available = Object.keys(module).map((name) => `"${name}"`);
    fail(
      `export "${exportName}" not found; the module exports ${available.join(", ") || "nothing"}`,
    );
  }
  const value = module[exportName];
  if (isHono(value)) return honoApp(value, mountPrefix);
  if (typeof value === "function") return fetchApp(value as FetchHandler, mountPrefix);
  if (typeof (value as { fetch?: unknown } | null)?.fetch === "function") {
    const app = value as { fetch: FetchHandler };
    return fetchApp((request, env) => app.fetch(request, env), mountPrefix);
  }
  return fail(
    `export "${exportName}" is not an HTTP app; expected a Hono app, an object with fetch(request), or a function (request) => Response`,
  );
}

function isHono(value: unknown): value is HonoLike {
  const app = value as Partial<HonoLike> | null;
  return (
    typeof app?.fetch === "function" &&
    typeof app.route === "function" &&
    typeof app.notFound === "function" &&
    Array.isArray(app.routes)
  );
}

/**
 * As the official server does, the app's routes join a router placed before ours: a request
 * that matches none of its route handlers (its middleware alone does not count) comes to us.
 * The router is a fresh instance of the app's own Hono class, so no copy of Hono ships with the
 * server, and our routes are its not-found handler: the app's middleware wraps them too.
 */
function honoApp(app: HonoLike, mountPrefix: string): UserApp {
  const Router = app.constructor as new () => HonoLike;
  const router = new Router();
  router.route(mountPrefix || "/", app);
  const fallthroughs = new WeakMap<object, Fallthrough>();
  router.notFound((c) => fallthroughs.get(c.env as object)!(c.req.raw));
  return {
    kind: "hono",
    handle(request, env, next) {
      // A fresh env per request (@hono/node-server's { incoming, outgoing }) keys its fallthrough.
      const requestEnv = { ...env };
      fallthroughs.set(requestEnv, next);
      return router.fetch(request, requestEnv);
    },
  };
}

/**
 * Any other fetch handler has no routes to look at: its 404 passes the request on, unless it
 * read the body (which is then gone) — the app's 404 stands.
 */
function fetchApp(fetch: FetchHandler, mountPrefix: string): UserApp {
  return {
    kind: "fetch",
    async handle(request, env, next) {
      if (mountPrefix && !underPrefix(request.url, mountPrefix)) return next(request);
      const response = await fetch(request, env);
      if (response.status !== 404 || request.bodyUsed) return response;
      await response.body?.cancel();
      return next(request);
    },
  };
}

function underPrefix(url: string, prefix: string): boolean {
  const path = new URL(url).pathname;
  return path === prefix || path.startsWith(`${prefix}/`);
}
