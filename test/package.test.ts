import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { StreamTokensDocument } from "./gql/graphql.ts";
import { type Cli, spawnCli } from "./helpers/cli.ts";
import { repoRoot } from "./helpers/server.ts";
import { streamClient, subscribe } from "./stream-clients.ts";

/**
 * The package as a user gets it: `npm pack` of this repository installed into a fresh LangGraph
 * project whose LangGraph is the other end of our peer range, started with `npx langgraph-gql
 * start` on the embedded database. Needs the npm registry (as `npm ci` does).
 */

const run = promisify(execFile);

const ours = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")) as {
  devDependencies: Record<string, string>;
};
// The project's copy differs in minor from the one this repository develops against.
const projectVersions = ours.devDependencies["@langchain/langgraph"]!.startsWith("1.4.")
  ? { langgraph: "1.7.5", core: "1.5.0", checkpoint: "1.2.3" }
  : { langgraph: "1.4.18", core: "1.2.13", checkpoint: "1.1.5" };

const GRAPH = `import { FakeListChatModel } from "@langchain/core/utils/testing";
import { MessagesAnnotation, StateGraph } from "@langchain/langgraph";

const model = new FakeListChatModel({ responses: ["hello from the package"] });

export const graph = new StateGraph(MessagesAnnotation)
  .addNode("reply", async (state) => ({ messages: [await model.invoke(state.messages)] }))
  .addEdge("__start__", "reply")
  .compile();
`;

let dir: string;
let server: Cli | undefined;
let graphqlUrl: string;

async function npm(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return run("npm", args, { cwd, maxBuffer: 64 * 1024 * 1024 });
}

async function query<T>(document: string, variables?: Record<string, unknown>): Promise<T> {
  const response = await fetch(graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: document, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}

/** Every installed package.json named @langchain/langgraph under node_modules. */
async function copiesOf(name: string, root: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (modules: string) => {
    const entries = await readdir(modules, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const path = join(modules, entry.name);
      if (entry.name.startsWith("@")) {
        for (const scoped of await readdir(path, { withFileTypes: true })) {
          if (scoped.isDirectory()) await visitPackage(join(path, scoped.name));
        }
      } else {
        await visitPackage(path);
      }
    }
  };
  const visitPackage = async (path: string) => {
    const manifest = await readFile(join(path, "package.json"), "utf8").catch(() => null);
    if (manifest && (JSON.parse(manifest) as { name?: string }).name === name) found.push(path);
    await visit(join(path, "node_modules"));
  };
  await visit(join(root, "node_modules"));
  return found;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lgql-package-"));
  const packed = await npm(["pack", "--pack-destination", dir, "--json"], repoRoot);
  const tarball = join(
    dir,
    (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename,
  );
  const project = join(dir, "my-agent");
  await mkdir(join(project, "src"), { recursive: true });
  await writeFile(
    join(project, "package.json"),
    JSON.stringify({ name: "my-agent", private: true, type: "module" }),
  );
  await writeFile(join(project, "src", "agent.ts"), GRAPH);
  await writeFile(
    join(project, "langgraph.json"),
    JSON.stringify({ graphs: { agent: "./src/agent.ts:graph" } }),
  );
  const install = await npm(
    [
      "install",
      "--no-audit",
      "--no-fund",
      `@langchain/langgraph@${projectVersions.langgraph}`,
      `@langchain/core@${projectVersions.core}`,
      `@langchain/langgraph-checkpoint@${projectVersions.checkpoint}`,
      tarball,
    ],
    project,
  );
  expect(install.stderr).not.toContain("EBADENGINE");

  server = spawnCli(join(project, "node_modules", ".bin", "langgraph-gql"), ["start"], {
    cwd: project,
    env: { PORT: "0", HOST: "127.0.0.1" },
  });
  const serving = await server.waitFor(/serving .* at (http:\/\/\S+\/graphql)/);
  graphqlUrl = serving[1]!;
}, 600_000);

afterAll(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe("the packed package in a LangGraph project", () => {
  it("ships compiled JavaScript and no tests, benches or sources", async () => {
    const { stdout } = await run("tar", ["-tzf", join(dir, "langgraph-gql-0.1.0.tgz")]);
    const files = stdout.split("\n").filter(Boolean);
    expect(files).toContain("package/dist/run-cli.js");
    expect(files).toContain("package/bin/langgraph-gql.mjs");
    expect(files.some((file) => file.startsWith("package/prisma/migrations/"))).toBe(true);
    const stray = files.filter((file) =>
      /^package\/(test|bench|src|examples|scripts)\/|\.ts$|\.map$/.test(file),
    );
    expect(stray).toEqual([]);
  });

  it("shares the project's one copy of LangGraph, and reports it", async () => {
    const project = join(dir, "my-agent");
    const copies = await copiesOf("@langchain/langgraph", project);
    expect(copies).toEqual([join(project, "node_modules", "@langchain", "langgraph")]);
    const { info } = await query<{ info: { langgraphVersion: string; graphs: string[] } }>(
      "{ info { langgraphVersion graphs } }",
    );
    expect(info).toEqual({ langgraphVersion: projectVersions.langgraph, graphs: ["agent"] });
  });

  it("runs the project's TypeScript graph: a waited run", async () => {
    const { waitRun } = await query<{
      waitRun: { run: { status: string }; values: { messages: unknown[] } };
    }>(`mutation ($input: RunInput!) { waitRun(input: $input) { run { status } values } }`, {
      input: { assistantId: "agent", input: { messages: [{ role: "user", content: "hi" }] } },
    });
    expect(waitRun.run.status).toBe("SUCCESS");
    expect(waitRun.values.messages).toMatchObject([
      { type: "human", content: "hi" },
      { type: "ai", content: "hello from the package" },
    ]);
  });

  it("streams a run's tokens over graphql-ws", async () => {
    const client = streamClient("ws", {
      wsUrl: graphqlUrl.replace(/^http/, "ws"),
      graphqlUrl,
    });
    try {
      const subscription = subscribe(client, StreamTokensDocument, {
        input: {
          assistantId: "agent",
          input: { messages: [{ role: "user", content: "stream please" }] },
          streamMode: ["MESSAGES"],
        },
      });
      await subscription.completed;
      const tokens = subscription.events.filter((event) => event.__typename === "MessageEvent");
      expect(tokens.length).toBeGreaterThan(1);
      expect(tokens.map((event) => ("message" in event ? event.message.text : "")).join("")).toBe(
        "hello from the package",
      );
      expect(subscription.events.at(-1)).toMatchObject({
        __typename: "RunEndedEvent",
        status: "SUCCESS",
      });
    } finally {
      await client.dispose();
    }
  });
});
