import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import type { GraphiQLOptions } from "graphql-yoga";
import type { Logger } from "../log.ts";
import { exampleDocument } from "./example.ts";

/**
 * GraphiQL for browsers at the GraphQL endpoint, from @graphql-yoga/render-graphiql: one HTML
 * document with GraphiQL's script, styles, fonts and editor workers inline, so the page loads
 * nothing from anywhere (yoga's built-in page takes all of it from a CDN). The policy header
 * makes the browser hold the page to that: it may talk to this origin only.
 */
export interface GraphiQLPage {
  /** A browser's GET of the endpoint, the same test as yoga's own GraphiQL. */
  wants(req: IncomingMessage): boolean;
  serve(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Both for a fetch Request (behind langgraph.json's http.app); null: not for the page. */
  respond(request: Request): Promise<Response> | null;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string | null;
}

const gzipAsync = promisify(gzip);

/** Inline script and styles (the whole page), data: fonts, blob: editor workers, and this origin. */
const GRAPHIQL_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'unsafe-inline'",
  "style-src 'unsafe-inline'",
  "font-src data:",
  "img-src data:",
  "worker-src blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function createGraphiQLPage(options: {
  endpoint: string;
  /** The example streams a run of this graph. */
  graphId: string;
  /** Open the headers editor with an empty x-api-key to fill in. */
  credentialsRequired: boolean;
  log: Logger;
}): GraphiQLPage {
  const graphiqlOptions: GraphiQLOptions = {
    title: "langgraph-gql",
    defaultQuery: exampleDocument({ graphId: options.graphId, threadId: randomUUID() }),
    ...(options.credentialsRequired
      ? {
          headers: JSON.stringify({ "x-api-key": "" }, null, 2),
          defaultEditorToolsVisibility: "headers" as const,
        }
      : {}),
    // Yoga turns header persistence on; an API key typed into the editor would then sit in the
    // browser's localStorage. GraphiQL's own default (off) stands; its settings can enable it.
    shouldPersistHeaders: false,
  };
  let rendered: Promise<{ html: Buffer; gzipped: Buffer; etag: string }> | null = null;

  // Rendered on the first visit, not at start-up: the renderer is a 9 MB module.
  async function render() {
    const { renderGraphiQL } = await import("@graphql-yoga/render-graphiql");
    const html = Buffer.from(renderGraphiQL(graphiqlOptions));
    const etag = `"${createHash("sha256").update(html).digest("base64url")}"`;
    return { html, gzipped: await gzipAsync(html), etag };
  }

  function wanted(method: string | undefined, url: string, accept: string | null | undefined) {
    if (method !== "GET" || !accept?.includes("text/html")) return false;
    const path = url.split("?", 1)[0];
    return path === options.endpoint || path === `${options.endpoint}/`;
  }

  async function reply(
    ifNoneMatch: string | null | undefined,
    acceptEncoding: string | null | undefined,
  ): Promise<Reply> {
    if (!rendered) {
      rendered = render();
      // A failed render is logged and retried on the next visit.
      rendered.catch(() => {
        rendered = null;
      });
    }
    let page: Awaited<typeof rendered>;
    try {
      page = await rendered;
    } catch (error) {
      options.log.error("rendering GraphiQL failed", { error });
      return {
        status: 500,
        headers: { "content-type": "text/plain" },
        body: "GraphiQL failed to render",
      };
    }
    const headers: Record<string, string> = {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-cache",
      etag: page.etag,
      vary: "accept-encoding",
      "content-security-policy": GRAPHIQL_CONTENT_SECURITY_POLICY,
      "x-content-type-options": "nosniff",
    };
    if (ifNoneMatch === page.etag) return { status: 304, headers, body: null };
    const compressed = acceptsGzip(acceptEncoding ?? undefined);
    const body = compressed ? page.gzipped : page.html;
    if (compressed) headers["content-encoding"] = "gzip";
    headers["content-length"] = String(body.length);
    return { status: 200, headers, body };
  }

  return {
    wants: (req) => wanted(req.method, req.url ?? "", req.headers.accept),
    async serve(req, res) {
      const { status, headers, body } = await reply(
        req.headers["if-none-match"],
        req.headers["accept-encoding"],
      );
      res.writeHead(status, headers).end(body ?? undefined);
    },
    respond(request) {
      const url = new URL(request.url);
      if (!wanted(request.method, url.pathname, request.headers.get("accept"))) return null;
      return reply(
        request.headers.get("if-none-match"),
        request.headers.get("accept-encoding"),
      ).then(
        // The page's Buffers are Uint8Arrays over plain ArrayBuffers (Buffer.from, gzip).
        ({ status, headers, body }) =>
          new Response(body as Uint8Array<ArrayBuffer> | string | null, { status, headers }),
      );
    },
  };
}

/** The page is 9 MB as it is, about 2.4 MB gzipped. */
function acceptsGzip(header: string | undefined): boolean {
  return (header ?? "").split(",").some((part) => {
    const [coding, ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    if (coding !== "gzip") return false;
    const quality = params.find((p) => p.startsWith("q="));
    return quality === undefined || Number(quality.slice(2)) > 0;
  });
}
