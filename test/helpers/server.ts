import { resolve } from "node:path";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type ExecutionResult, print } from "graphql";
import { startServer } from "../../src/app.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import type { Services } from "../../src/services.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";

export const repoRoot = resolve(import.meta.dirname, "..", "..");

export interface TestServer {
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  db: TestDatabase;
  config: Config;
  /** The running server's services, for test setup that has no API yet. */
  services: Services;
  /** Executes a typed document over HTTP POST and returns the raw result. */
  request<R, V>(
    document: TypedDocumentNode<R, V>,
    variables?: V,
    headers?: Record<string, string>,
  ): Promise<ExecutionResult<R>>;
  /** Like request, but fails the test on any GraphQL error. */
  query<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<R>;
  stop(): Promise<void>;
}

/**
 * The real server (migrations, graph loading, default assistants, HTTP + WebSocket) on a free
 * port of 127.0.0.1, over a database of its own cloned from the migrated template.
 */
export const fixturesConfig = resolve(repoRoot, "test", "fixtures", "langgraph.json");

export async function startTestServer(
  options: {
    configFile?: string;
    env?: Record<string, string>;
    /** Defaults to API and workers in this process. */
    roles?: { api: true; worker: boolean };
    /** Reuse a database (another server's) instead of a fresh one; it is not dropped on stop. */
    db?: TestDatabase;
    /** Where the server logs (default: stderr, at LOG_LEVEL). */
    log?: Logger;
  } = {},
): Promise<TestServer> {
  const ownDb = !options.db;
  const db = options.db ?? (await createTestDatabase());
  const config = loadConfig({
    argv: ["start", "--config", options.configFile ?? resolve(repoRoot, "langgraph.json")],
    env: { DATABASE_URL: db.url, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "error", ...options.env },
  });
  const running = await startServer(
    config,
    options.log ?? createLogger(config.logLevel),
    options.roles,
  );
  const graphqlUrl = `${running.url!}/graphql`;
  const request = async <R, V>(
    document: TypedDocumentNode<R, V>,
    variables?: V,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...headers },
      body: JSON.stringify({ query: print(document), variables }),
    });
    return (await response.json()) as ExecutionResult<R>;
  };
  return {
    url: running.url!,
    graphqlUrl,
    wsUrl: graphqlUrl.replace(/^http/, "ws"),
    db,
    config,
    services: running.services,
    request,
    async query(document, variables) {
      const result = await request(document, variables);
      if (result.errors?.length) {
        throw new Error(`unexpected GraphQL errors: ${JSON.stringify(result.errors, null, 2)}`);
      }
      return result.data!;
    },
    async stop() {
      await running.stop();
      if (ownDb) await db.drop();
    },
  };
}
