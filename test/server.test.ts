import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { print } from "graphql";
import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient } from "graphql-ws";
import WebSocket from "ws";
import {
  GraphDetailDocument,
  GraphsDocument,
  ServerInfoDocument,
  UnknownGraphDocument,
} from "./gql/graphql.ts";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server.ts";

let server: TestServer;

function installedLangGraphVersion(): string {
  const file = resolve(repoRoot, "node_modules", "@langchain", "langgraph", "package.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.stop();
});

describe("the server", () => {
  it("reports its version, LangGraph's and the graphs of langgraph.json", async () => {
    const { info } = await server.query(ServerInfoDocument);
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    // The copy the graphs of this project load, whichever version is installed.
    expect(info.langgraphVersion).toBe(installedLangGraphVersion());
    expect(info.graphs).toEqual(["agent", "research"]);
  });

  it("describes each graph with schemas and a Mermaid drawing", async () => {
    const { graphs } = await server.query(GraphsDocument);
    expect(graphs.map((g) => g.id)).toEqual(["agent", "research"]);
    for (const graph of graphs) {
      expect(graph.stateSchema).toMatchObject({ type: "object" });
      expect(graph.drawing.mermaid).toContain("__start__");
    }
  });

  it("expands subgraphs in the drawing with xray and lists them", async () => {
    const flat = await server.query(GraphDetailDocument, { id: "research", xray: 0 });
    const xray = await server.query(GraphDetailDocument, { id: "research", xray: 1 });
    const flatNodes = flat.graph!.drawing.nodes as Array<{ id: string }>;
    const xrayNodes = xray.graph!.drawing.nodes as Array<{ id: string }>;
    expect(xrayNodes.length).toBeGreaterThan(flatNodes.length);
    expect(flat.graph!.subgraphs.length).toBeGreaterThan(0);
  });

  it("answers null for a graph that does not exist", async () => {
    const result = await server.request(UnknownGraphDocument, { id: "nope" });
    expect(result.errors).toBeUndefined();
    expect(result.data?.graph).toBeNull();
  });

  it("refuses a negative xray with BAD_USER_INPUT naming the argument", async () => {
    const result = await server.request(GraphDetailDocument, { id: "agent", xray: -1 });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "xray" });
    expect(result.errors?.[0]?.message).toContain("xray");
  });

  it("codes documents that do not validate as BAD_USER_INPUT", async () => {
    const response = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ info { nope } }" }),
    });
    const body = (await response.json()) as {
      errors: Array<{ message: string; extensions: { code: string } }>;
    };
    expect(body.errors[0]?.message).toContain("nope");
    expect(body.errors[0]?.extensions.code).toBe("BAD_USER_INPUT");
  });

  it("codes bad variables as BAD_USER_INPUT", async () => {
    const response = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: print(GraphDetailDocument),
        variables: { id: "agent", xray: "x" },
      }),
    });
    const body = (await response.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(body.errors[0]?.extensions.code).toBe("BAD_USER_INPUT");
  });

  it("answers /ok after checking the database", async () => {
    const response = await fetch(`${server.url}/ok`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
  });

  it("serves GraphiQL to browsers at /graphql", async () => {
    const response = await fetch(server.graphqlUrl, { headers: { accept: "text/html" } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("graphiql");
  });

  it("executes operations over graphql-ws on the same port and path", async () => {
    const client = createWsClient({
      url: server.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    });
    try {
      const result = await new Promise<unknown>((resolve, reject) => {
        let value: unknown;
        client.subscribe(
          { query: print(ServerInfoDocument) },
          { next: (v) => (value = v), error: reject, complete: () => resolve(value) },
        );
      });
      expect(result).toMatchObject({ data: { info: { graphs: ["agent", "research"] } } });
    } finally {
      await client.dispose();
    }
  });

  it("executes operations over SSE (graphql-sse distinct connections)", async () => {
    const client = createSseClient({ url: server.graphqlUrl, retryAttempts: 0 });
    try {
      const results: unknown[] = [];
      for await (const result of client.iterate({ query: print(ServerInfoDocument) })) {
        results.push(result);
      }
      expect(results).toEqual([
        { data: { info: expect.objectContaining({ graphs: ["agent", "research"] }) } },
      ]);
    } finally {
      client.dispose();
    }
  });
});
