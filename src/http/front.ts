import type { IncomingMessage, ServerResponse } from "node:http";
import { createServerAdapter, useCORS } from "@whatwg-node/server";
import type { CorsSetting } from "./cors.ts";
import type { UserApp } from "./user-app.ts";

export interface NodeContext {
  req: IncomingMessage;
  res: ServerResponse;
}

/**
 * The node request handler when langgraph.json mounts an `http.app`: whatwg-node's adapter
 * turns node's request into a fetch Request and streams the Response back. CORS covers the
 * app's routes and ours alike (as on the platform, where its middleware runs before both);
 * with `gate`, a request not for one of `ourPaths` must authenticate before the app sees it.
 */
export function createFront(deps: {
  app: UserApp;
  cors: CorsSetting;
  ourPaths: ReadonlySet<string>;
  gate: ((request: Request) => Promise<Response | null>) | null;
  ours: (request: Request, context: NodeContext) => Response | Promise<Response>;
}) {
  const { app, ourPaths, gate, ours } = deps;
  return createServerAdapter<NodeContext>(
    async (request, context) => {
      if (gate && !ourPaths.has(new URL(request.url).pathname)) {
        const refusal = await gate(request);
        if (refusal) return refusal;
      }
      // The node request and response, where @hono/node-server puts them (for getConnInfo).
      const env = { incoming: context.req, outgoing: context.res };
      return app.handle(request, env, (passed) => ours(passed, context));
    },
    { plugins: deps.cors === false ? [] : [useCORS<NodeContext>(deps.cors as never)] },
  );
}
