import { stat } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import type { AuthenticateHandler } from "./authenticate.ts";
import type { AuthHandler } from "./authorizer.ts";

export class AuthModuleError extends Error {
  override name = "AuthModuleError";
}

export interface AuthModule {
  authenticate: AuthenticateHandler;
  handlers: Record<string, AuthHandler>;
}

/**
 * Imports langgraph.json's `auth.path` and reads the `Auth` object it exports. The object is
 * recognised by the registry `@langchain/langgraph-sdk/auth` keeps on it rather than by class,
 * so a module built against another copy of the SDK works unchanged.
 */
export async function loadAuthModule(spec: {
  path: string;
  exportName: string;
}): Promise<AuthModule> {
  const where = `auth.path (${spec.path})`;
  if (!(await stat(spec.path).catch(() => null))?.isFile()) {
    throw new AuthModuleError(`${where}: file does not exist`);
  }
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(spec.path).href);
  } catch (error) {
    throw new AuthModuleError(`${where}: module failed to import: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const exportName = spec.exportName || "default";
  const value = module[exportName] as Record<string, unknown> | undefined;
  const cache = value?.["~handlerCache"] as
    | { authenticate?: AuthenticateHandler; callbacks?: Record<string, AuthHandler> }
    | undefined;
  if (!cache || typeof cache !== "object") {
    throw new AuthModuleError(
      `${where}: export "${exportName}" is not an Auth object from @langchain/langgraph-sdk/auth`,
    );
  }
  if (typeof cache.authenticate !== "function") {
    throw new AuthModuleError(
      `${where}: the Auth object registers no authenticate handler, so no request could be identified`,
    );
  }
  return { authenticate: cache.authenticate, handlers: { ...(cache.callbacks ?? {}) } };
}
