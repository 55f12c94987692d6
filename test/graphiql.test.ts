import { request as httpRequest } from "node:http";
import { gunzipSync } from "node:zlib";
import { type OperationDefinitionNode, parse } from "graphql";
import { createClient as createSseClient } from "graphql-sse";
import { type App, buildApp } from "../src/app.ts";
import { createAuthenticator } from "../src/auth/authenticate.ts";
import { DEFAULT_SECURITY } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

/**
 * GraphiQL at /graphql: served whole by this server (nothing from a CDN, so it works offline),
 * titled for the product, and opening with an example that runs against the example graphs.
 */

const API_KEY = "graphiql-test-key-0123456789";

let server: TestServer;
/** The same services behind other surfaces: API keys required, or GraphiQL off. */
let keyed: { app: App; url: string };
let off: { app: App; url: string };

beforeAll(async () => {
  server = await startTestServer();
  const log = createLogger("error");
  const variant = async (app: App) => ({ app, url: await app.listen(0, "127.0.0.1") });
  keyed = await variant(
    buildApp({
      services: server.services,
      log,
      authenticator: createAuthenticator({ apiKeys: [API_KEY], authenticate: null }),
    }),
  );
  off = await variant(
    buildApp({
      services: server.services,
      log,
      security: { ...DEFAULT_SECURITY, graphiql: false },
    }),
  );
});

afterAll(async () => {
  await keyed?.app.close();
  await off?.app.close();
  await server?.stop();
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A GET without fetch's automatic decompression, to see what goes over the wire. */
function rawGet(url: string, headers: Record<string, string>): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on("error", reject);
    })
      .on("error", reject)
      .end();
  });
}

async function getPage(base: string): Promise<{ response: RawResponse; html: string }> {
  const response = await rawGet(`${base}/graphql`, { accept: "text/html" });
  return { response, html: response.body.toString("utf8") };
}

/**
 * What the markup makes a browser load: src, href, srcset, poster and data attributes of every
 * tag, and url()/@import in style elements and style attributes. Script and style elements hold
 * raw text, not markup: a URL string inside the GraphiQL bundle (a documentation link) is never
 * loaded by its presence, so only the markup around them is read for attributes.
 */
function htmlReferences(html: string): string[] {
  const references: string[] = [];
  const markup = html.replace(
    /<(script|style)\b([^>]*)>([\s\S]*?)<\/\1\s*>/gi,
    (_whole, tag: string, attributes: string, text: string) => {
      if (tag.toLowerCase() === "style") references.push(...cssReferences(text));
      return `<${tag}${attributes}>`;
    },
  );
  for (const [, attributes] of markup.matchAll(/<[a-z][\w-]*\b([^>]*)>/gi)) {
    for (const [, name, ...values] of attributes!.matchAll(
      /([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/g,
    )) {
      const value = values.find((v) => v !== undefined) ?? "";
      const attribute = name!.toLowerCase();
      if (["src", "href", "poster", "data"].includes(attribute)) references.push(value);
      if (attribute === "srcset") {
        references.push(...value.split(",").map((entry) => entry.trim().split(/\s+/)[0]!));
      }
      if (attribute === "style") references.push(...cssReferences(value));
    }
  }
  return references.map((reference) => reference.trim()).filter(Boolean);
}

function cssReferences(css: string): string[] {
  const references: string[] = [];
  for (const match of css.matchAll(/url\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*?))\s*\)/gi)) {
    references.push(match[1] ?? match[2] ?? match[3] ?? "");
  }
  for (const match of css.matchAll(/@import\s+(?:"([^"]*)"|'([^']*)')/gi)) {
    references.push(match[1] ?? match[2] ?? "");
  }
  return references;
}

/** Inline content (data:, blob: made by the page itself) loads nothing. */
const inline = (reference: string) => /^(data|blob):/i.test(reference);

/**
 * Every reference the page loads, followed into the stylesheets the server serves: those
 * outside the server's origin, and those of its origin that failed to load.
 */
async function externalAndBroken(base: string, html: string) {
  const origin = new URL(base).origin;
  const external: string[] = [];
  const broken: string[] = [];
  const seen = new Set<string>();
  const visit = async (references: string[], from: string) => {
    for (const reference of references) {
      if (inline(reference)) continue;
      const url = new URL(reference, from);
      if (url.origin !== origin) {
        external.push(url.href);
        continue;
      }
      if (seen.has(url.href)) continue;
      seen.add(url.href);
      const response = await fetch(url);
      if (!response.ok) broken.push(`${url.href} (${response.status})`);
      else if (response.headers.get("content-type")?.includes("text/css")) {
        await visit(cssReferences(await response.text()), url.href);
      } else await response.arrayBuffer();
    }
  };
  await visit(htmlReferences(html), `${base}/graphql`);
  return { external, broken };
}

interface PageOptions {
  title?: string;
  defaultQuery?: string;
  headers?: string;
  defaultEditorToolsVisibility?: unknown;
  shouldPersistHeaders?: boolean;
}

/** The options the page hands GraphiQL (render-graphiql's last call in its inline script). */
function pageOptions(html: string): PageOptions {
  const call = "YogaGraphiQL.renderYogaGraphiQL(";
  const start = html.lastIndexOf(call);
  expect(start, "the page renders GraphiQL").toBeGreaterThan(0);
  const args = html.slice(start + call.length);
  const json = args.slice(args.indexOf("{"), args.lastIndexOf("}") + 1);
  return JSON.parse(json) as PageOptions;
}

/** Only 'self', 'none', inline content and data:/blob: URLs: no other origin, no scheme-wide source. */
function policyAllowsOnlyThisOrigin(policy: string): string[] {
  const allowed = new Set(["'self'", "'none'", "'unsafe-inline'", "data:", "blob:"]);
  const problems: string[] = [];
  const directives = policy.split(";").map((d) => d.trim().split(/\s+/));
  if (!directives.some(([name, ...sources]) => name === "default-src" && sources[0] === "'none'")) {
    problems.push("default-src is not 'none'");
  }
  for (const [name, ...sources] of directives) {
    if (name === "frame-ancestors") continue;
    for (const source of sources) if (!allowed.has(source)) problems.push(`${name} ${source}`);
  }
  return problems;
}

async function runExample(
  base: string,
  document: string,
  headers: Record<string, string> = {},
): Promise<{ created: unknown; events: Array<Record<string, any>> }> {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query: document, operationName: "CreateThread" }),
  });
  const created = await response.json();
  // GraphiQL's own transport for subscriptions: graphql-sse, distinct connections.
  const client = createSseClient({ url: `${base}/graphql`, retryAttempts: 0, headers });
  const events: Array<Record<string, any>> = [];
  try {
    await new Promise<void>((resolve, reject) => {
      client.subscribe(
        { query: document, operationName: "StreamRun" },
        {
          next: (result) => {
            if (result.errors) reject(new Error(JSON.stringify(result.errors)));
            else events.push((result.data as { streamRun: Record<string, any> }).streamRun);
          },
          error: reject,
          complete: resolve,
        },
      );
    });
  } finally {
    client.dispose();
  }
  return { created, events };
}

describe("GraphiQL", () => {
  it("is served to a browser at /graphql as one HTML page", async () => {
    const { response, html } = await getPage(server.url);
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/html/);
    expect(html).toContain('<div id="root">');
    // Also at the trailing-slash path and with GraphiQL's ?query= in the URL, as yoga serves it.
    for (const path of ["/graphql/", "/graphql?query=%7B__typename%7D"]) {
      const other = await rawGet(`${server.url}${path}`, { accept: "text/html" });
      expect(other.status, path).toBe(200);
      expect(other.body.equals(response.body), path).toBe(true);
    }
  });

  it("references nothing outside the server, and everything it references loads", async () => {
    const { html } = await getPage(server.url);
    const references = htmlReferences(html);
    // The parse sees the page's own references (a favicon at least), inline as they are.
    expect(references.length).toBeGreaterThan(0);
    expect(await externalAndBroken(server.url, html)).toEqual({ external: [], broken: [] });
  });

  it("tells the browser to load from this origin only", async () => {
    const { response } = await getPage(server.url);
    const policy = response.headers["content-security-policy"] as string;
    expect(policy).toBeTruthy();
    expect(policyAllowsOnlyThisOrigin(policy)).toEqual([]);
  });

  it("is titled for the product", async () => {
    const { html } = await getPage(server.url);
    expect(html).toMatch(/<title>langgraph-gql<\/title>/);
    expect(pageOptions(html).title).toBe("langgraph-gql");
    expect(html).not.toContain("Yoga GraphiQL</title>");
  });

  it("opens with an example that creates a thread and streams a run of the first graph", async () => {
    const { html } = await getPage(server.url);
    const { defaultQuery } = pageOptions(html);
    const operations = parse(defaultQuery!).definitions as OperationDefinitionNode[];
    expect(operations.map((o) => `${o.operation} ${o.name?.value}`)).toEqual([
      "mutation CreateThread",
      "subscription StreamRun",
    ]);
    expect(defaultQuery).toContain(`assistantId: "agent"`);
    expect(defaultQuery).toMatch(/x-api-key.*"Authorization": "Bearer/s);
  });

  it("runs that example as it stands: tokens stream, the run ends, and again on the thread", async () => {
    const { defaultQuery } = pageOptions((await getPage(server.url)).html);
    const first = await runExample(server.url, defaultQuery!);
    expect(first.created).toMatchObject({ data: { createThread: { status: "IDLE" } } });
    const threadId = (first.created as { data: { createThread: { id: string } } }).data.createThread
      .id;
    const kinds = first.events.map((event) => event.__typename);
    expect(kinds[0]).toBe("RunStartedEvent");
    expect(kinds.at(-1)).toBe("RunEndedEvent");
    expect(first.events.at(-1)).toMatchObject({ status: "SUCCESS" });
    const tokens = first.events
      .filter((event) => event.__typename === "MessageEvent" && event.message.type === "ai")
      .map((event) => event.message.text as string);
    expect(tokens.length).toBeGreaterThan(3);
    expect(tokens.join("")).toContain("sunny");
    expect(first.events.some((e) => e.message?.toolCallChunks?.[0]?.name === "get_weather")).toBe(
      true,
    );

    // Run both again, as a user pressing run twice more would: the thread is kept and grows.
    const second = await runExample(server.url, defaultQuery!);
    expect(second.created).toMatchObject({ data: { createThread: { id: threadId } } });
    expect(second.events.at(-1)).toMatchObject({ status: "SUCCESS" });
    const thread = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ thread(id: "${threadId}") { values } }` }),
    }).then((r) => r.json() as Promise<{ data: { thread: { values: { messages: unknown[] } } } }>);
    expect(thread.data.thread.values.messages).toHaveLength(8);
  });

  it("is compressed for clients that take gzip, and revalidated by its ETag", async () => {
    const plain = await rawGet(`${server.url}/graphql`, { accept: "text/html" });
    const gzipped = await rawGet(`${server.url}/graphql`, {
      accept: "text/html",
      "accept-encoding": "gzip, deflate, br",
    });
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(gzipped.headers["content-encoding"]).toBe("gzip");
    expect(gzipped.body.length).toBeLessThan(plain.body.length / 2);
    expect(gunzipSync(gzipped.body).equals(plain.body)).toBe(true);
    const refused = await rawGet(`${server.url}/graphql`, {
      accept: "text/html",
      "accept-encoding": "gzip;q=0, identity",
    });
    expect(refused.headers["content-encoding"]).toBeUndefined();

    const etag = plain.headers.etag as string;
    expect(etag).toMatch(/^".+"$/);
    const again = await rawGet(`${server.url}/graphql`, {
      accept: "text/html",
      "if-none-match": etag,
    });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  it("with API keys: the page opens the headers editor on x-api-key; the example runs with a key", async () => {
    const { response, html } = await getPage(keyed.url);
    expect(response.status).toBe(200);
    const options = pageOptions(html);
    expect(JSON.parse(options.headers!)).toEqual({ "x-api-key": "" });
    expect(options.defaultEditorToolsVisibility).toBe("headers");
    // A key typed into the editor is not kept in the browser's storage.
    expect(options.shouldPersistHeaders).toBe(false);

    const refused = await fetch(`${keyed.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "" },
      body: JSON.stringify({ query: options.defaultQuery, operationName: "CreateThread" }),
    });
    expect(refused.status).toBe(401);
    const { created, events } = await runExample(keyed.url, options.defaultQuery!, {
      "x-api-key": API_KEY,
    });
    expect(created).toMatchObject({ data: { createThread: { status: expect.any(String) } } });
    expect(events.at(-1)).toMatchObject({ __typename: "RunEndedEvent", status: "SUCCESS" });
  });

  it("without credentials configured, the headers editor starts empty", async () => {
    const options = pageOptions((await getPage(server.url)).html);
    expect(options.headers).toBeUndefined();
  });

  it("is not served at all when GRAPHIQL is off", async () => {
    const { response, html } = await getPage(off.url);
    expect(response.headers["content-type"] ?? "").not.toMatch(/text\/html/);
    expect(html).not.toMatch(/graphiql|langgraph-gql/i);
  });
});
