import { createHmac } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedWebhook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, any>;
}

/** What to answer the nth request (0-based) to a path: a status, or "hang" (never answer). */
export type Responder = (request: ReceivedWebhook, nth: number) => number | "hang";

/** A local HTTP server recording the webhooks it receives; each path can answer differently. */
export async function startReceiver() {
  const received: ReceivedWebhook[] = [];
  const responders = new Map<string, Responder>();
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: Record<string, any> = {};
      try {
        json = JSON.parse(body);
      } catch {}
      const path = req.url ?? "/";
      const request = { path, headers: req.headers, body, json };
      const nth = received.filter((r) => r.path === path).length;
      received.push(request);
      const answer = (responders.get(path) ?? (() => 200))(request, nth);
      if (answer === "hang") {
        hanging.add(res);
        return;
      }
      res.writeHead(answer, { "content-type": "text/plain" }).end(`answer ${answer}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    received: (path?: string) => received.filter((r) => path === undefined || r.path === path),
    respond(path: string, responder: Responder) {
      responders.set(path, responder);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** Standard Webhooks verification, written from the spec (independently of the server's code). */
export function expectedSignature(secret: string, id: string, timestamp: string, body: string) {
  const key = secret.startsWith("whsec_")
    ? Buffer.from(secret.slice(6), "base64")
    : Buffer.from(secret);
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

/** Polls until `check` holds (outcomes are observed, never timed). */
export async function until<T>(
  read: () => Promise<T> | T,
  check: (value: T) => boolean,
  what: string,
  attempts = 600,
): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const value = await read();
    if (check(value)) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
