import { chmod, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { type Cli, cli } from "./helpers/cli.ts";
import { createEmptyDatabase, type TestDatabase } from "./helpers/db.ts";
import { repoRoot } from "./helpers/server.ts";

const exampleConfig = resolve(repoRoot, "langgraph.json");

const serving = (run: Cli) =>
  run.waitFor(/serving .* at (http:\/\/\S+\/graphql)/).then((m) => m[1]!);

async function infoGraphs(graphqlUrl: string): Promise<string[]> {
  const response = await fetch(graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "{ info { graphs } }" }),
  });
  const body = (await response.json()) as { data: { info: { graphs: string[] } } };
  return body.data.info.graphs;
}

describe("langgraph-gql start", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "lgql-cli-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function failsWith(config: string | null, ...expected: string[]) {
    const file = join(dir, "langgraph.json");
    if (config !== null) await writeFile(file, config);
    const run = cli(["start", "--config", file, "--port", "0"], {
      // Never reached: start-up must fail on the config before it looks for a database.
      DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none",
    });
    expect(await run.exited).toBe(1);
    for (const text of expected) expect(run.output()).toContain(text);
  }

  it("stops on a missing langgraph.json, naming it", async () => {
    await failsWith(null, join(dir, "langgraph.json"), "file not found");
  });

  it("stops on invalid JSON, naming the file", async () => {
    await failsWith("{ graphs: ", join(dir, "langgraph.json"), "invalid JSON");
  });

  it("stops on a graph entry without an export, naming the key", async () => {
    await failsWith(
      JSON.stringify({ graphs: { agent: "./agent.ts" } }),
      join(dir, "langgraph.json"),
      "graphs.agent",
    );
  });

  it("stops on a graph file that does not exist, naming the graph and the file", async () => {
    await failsWith(
      JSON.stringify({ graphs: { agent: "./missing.ts:graph" } }),
      join(dir, "missing.ts"),
      "agent",
    );
  });

  it("stops on an export the graph file does not have, naming it", async () => {
    const file = join(dir, "langgraph.json");
    await writeFile(
      file,
      JSON.stringify({
        graphs: { agent: `${resolve(repoRoot, "examples/graphs/chat-agent.ts")}:nope` },
      }),
    );
    const run = cli(["start", "--config", file, "--port", "0"], {
      DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none",
    });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain("chat-agent.ts");
    expect(run.output()).toContain("nope");
  });

  it("names every graph that fails to load at once, one line each", async () => {
    const broken = (name: string) =>
      resolve(repoRoot, "test", "fixtures", "graphs", "broken", name);
    const file = join(dir, "langgraph.json");
    await writeFile(
      file,
      JSON.stringify({
        graphs: {
          agent: `${resolve(repoRoot, "examples/graphs/chat-agent.ts")}:graph`,
          missing: "./missing.ts:graph",
          throws: `${broken("throws-on-import.ts")}:graph`,
          object: `${broken("not-a-graph.ts")}:graph`,
        },
      }),
    );
    const run = cli(["start", "--config", file, "--port", "0"], {
      DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none",
    });
    expect(await run.exited).toBe(1);
    const lines = run.output().trim().split("\n");
    expect(lines).toEqual([
      `langgraph-gql: graph "missing" (${join(dir, "missing.ts")}): file does not exist`,
      `langgraph-gql: graph "throws" (${broken("throws-on-import.ts")}): module failed to import: FAKE_API_KEY is not set`,
      expect.stringMatching(
        new RegExp(
          `^langgraph-gql: graph "object" \\(${broken("not-a-graph.ts")}\\): export "graph" is not a graph`,
        ),
      ),
    ]);
  });

  it("stops on a langgraph.json key it cannot honour, naming the file and the key on one line", async () => {
    await failsWith(
      JSON.stringify({
        graphs: { agent: "./agent.ts:graph" },
        store: { index: { embed: "openai:text-embedding-3-small", dims: 1536 } },
      }),
      `langgraph-gql: ${join(dir, "langgraph.json")}: store.index: semantic search`,
    );
  });
});

describe("two servers on one database", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createEmptyDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("start cleanly: migrations once, one default assistant per graph", async () => {
    const env = { DATABASE_URL: db.url };
    const args = ["start", "--config", exampleConfig, "--port", "0", "--host", "127.0.0.1"];
    const first = cli(args, env);
    const second = cli(args, env);
    try {
      const urls = await Promise.all([serving(first), serving(second)]);
      for (const url of urls) expect(await infoGraphs(url)).toEqual(["agent", "research"]);
      // No keys and no auth module: open, and the log says so.
      expect(first.output()).toMatch(/authentication: none: every request is allowed/);

      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const migrations = await client.query("SELECT migration_name FROM _prisma_migrations");
        const assistants = await client.query(
          "SELECT graph_id, count(*)::int AS n FROM assistant GROUP BY graph_id ORDER BY graph_id",
        );
        const versions = await client.query("SELECT count(*)::int AS n FROM assistant_version");
        expect(migrations.rowCount).toBeGreaterThan(0);
        expect(new Set(migrations.rows.map((r) => r.migration_name)).size).toBe(
          migrations.rowCount,
        );
        expect(assistants.rows).toEqual([
          { graph_id: "agent", n: 1 },
          { graph_id: "research", n: 1 },
        ]);
        expect(versions.rows[0].n).toBe(2);
      } finally {
        await client.end();
      }
    } finally {
      first.child.kill("SIGTERM");
      second.child.kill("SIGTERM");
    }
    expect(await first.exited).toBe(0);
    expect(await second.exited).toBe(0);
  });

  it("migrate applies nothing more on a migrated database", async () => {
    const run = cli(["migrate", "--config", exampleConfig], { DATABASE_URL: db.url });
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain("database is up to date");
  });
});

describe("the embedded default", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "lgql-embedded-"));
    // mkdtemp makes the folder private to root; as root, PostgreSQL runs as `postgres` and must
    // be able to reach its data folder inside it.
    await chmod(dataDir, 0o755);
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("starts PostgreSQL under the data dir without DATABASE_URL, and stops it on SIGTERM", async () => {
    const run = cli(["start", "--config", exampleConfig, "--port", "0", "--host", "127.0.0.1"], {
      LANGGRAPH_GQL_DATA_DIR: dataDir,
    });
    const url = await serving(run);
    expect(run.output()).toContain(`embedded PostgreSQL started in ${join(dataDir, "pg")}`);
    expect(await infoGraphs(url)).toEqual(["agent", "research"]);
    const health = await fetch(url.replace(/\/graphql$/, "/ok"));
    expect(health.status).toBe(200);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    await expect(stat(join(dataDir, "pg", "postmaster.pid"))).rejects.toThrow();
  });
});

describe("the command line", () => {
  const unreachable = { DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none" };

  /** The lines the CLI printed as langgraph-gql's own report (no stack trace below them). */
  const reportOf = (run: Cli) => {
    expect(run.output()).not.toMatch(/^\s+at /m);
    return run
      .output()
      .split("\n")
      .filter((line) => line.startsWith("langgraph-gql: "));
  };

  it("--help lists every command and option, reading no langgraph.json", async () => {
    const run = cli(["--help", "--config", "/nonexistent/langgraph.json"], unreachable);
    expect(await run.exited).toBe(0);
    for (const text of ["start", "dev", "worker", "migrate", "--config", "--port", "--host"]) {
      expect(run.output()).toContain(text);
    }
  });

  it("--version prints the package's version", async () => {
    const { version } = JSON.parse(await readFile(resolve(repoRoot, "package.json"), "utf8"));
    const run = cli(["--version"], unreachable);
    expect(await run.exited).toBe(0);
    expect(run.output().trim()).toBe(version);
  });

  it("names an unknown option or command in one line", async () => {
    const option = cli(["start", "--prot", "4000"], unreachable);
    expect(await option.exited).toBe(1);
    expect(reportOf(option)).toEqual([expect.stringContaining("'--prot'")]);
    const command = cli(["serve"], unreachable);
    expect(await command.exited).toBe(1);
    expect(reportOf(command)).toEqual([expect.stringContaining('unknown command "serve"')]);
  });

  it("reports a port in use in one line, before it touches the database", async () => {
    const taken = createNetServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as AddressInfo).port;
    try {
      // The database is unreachable: reaching it first would report the database instead.
      const run = cli(
        ["start", "--config", exampleConfig, "--port", String(port), "--host", "127.0.0.1"],
        unreachable,
      );
      expect(await run.exited).toBe(1);
      expect(reportOf(run)).toEqual([
        `langgraph-gql: port ${port} on 127.0.0.1 is already in use: stop what listens there or choose another with --port or PORT`,
      ]);
    } finally {
      taken.close();
    }
  });

  it("reports an unreachable DATABASE_URL in one line, without its password", async () => {
    const run = cli(["start", "--config", exampleConfig, "--port", "0"], {
      DATABASE_URL: "postgresql://someone:secret@127.0.0.1:1/none",
    });
    expect(await run.exited).toBe(1);
    const report = reportOf(run);
    expect(report).toEqual([expect.stringContaining("cannot use DATABASE_URL")]);
    expect(report[0]).toContain("ECONNREFUSED");
    expect(run.output()).not.toContain("secret");
  });
});

describe("langgraph-gql dev", () => {
  let db: TestDatabase;
  let project: string;
  let dev: Cli | undefined;
  beforeAll(async () => {
    db = await createEmptyDatabase();
    project = await mkdtemp(join(tmpdir(), "lgql-dev-"));
    // The project resolves LangGraph from our node_modules, as it would from its own.
    await symlink(resolve(repoRoot, "node_modules"), join(project, "node_modules"), "dir");
    await writeFile(join(project, "suffix.ts"), 'export const suffix = "v1";\n');
    await writeFile(join(project, "graph.ts"), echoGraph("./suffix.ts"));
    await writeFile(
      join(project, "langgraph.json"),
      JSON.stringify({ graphs: { echo: "./graph.ts:graph" } }),
    );
  });
  afterAll(async () => {
    if (dev && dev.child.exitCode === null) {
      dev.child.kill("SIGTERM");
      await dev.exited;
    }
    await db?.drop();
    await rm(project, { recursive: true, force: true });
  });

  const echoGraph = (
    suffixModule: string,
  ) => `import { Annotation, StateGraph } from "@langchain/langgraph";
import { suffix } from "${suffixModule}";

const State = Annotation.Root({ text: Annotation<string> });
export const graph = new StateGraph(State)
  .addNode("say", (state) => ({ text: \`\${state.text} \${suffix}\` }))
  .addEdge("__start__", "say")
  .compile();
`;

  /** Resolves once `pattern` occurs `count` times in the output. */
  const occurrences = async (pattern: RegExp, count: number) => {
    const global = new RegExp(pattern.source, "g");
    while ((dev!.output().match(global)?.length ?? 0) < count) {
      if (dev!.child.exitCode !== null) throw new Error(`dev exited: ${dev!.output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  async function echo(url: string, graph: string): Promise<unknown> {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: "mutation ($input: RunInput!) { waitRun(input: $input) { values } }",
        variables: { input: { assistantId: graph, input: { text: "hi" }, onCompletion: "KEEP" } },
      }),
    });
    const body = (await response.json()) as { data: { waitRun: { values: { text: string } } } };
    return body.data.waitRun.values.text;
  }

  it("reloads a graph and what it imports when a project file changes, keeping the database", async () => {
    dev = cli(["dev", "--config", join(project, "langgraph.json"), "--port", "0"], {
      DATABASE_URL: db.url,
      GRAPHIQL: "false",
    });
    const url = await serving(dev);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:/);
    await occurrences(/dev: watching/, 1);
    expect(await echo(url, "echo")).toBe("hi v1");

    // GraphiQL is on in dev, whatever GRAPHIQL says.
    const page = await fetch(url, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);

    await writeFile(join(project, "suffix.ts"), 'export const suffix = "v2";\n');
    await occurrences(/reloaded 1 graph\(s\)/, 1);
    expect(await echo(url, "echo")).toBe("hi v2");

    // A broken file is reported; the previous graphs keep serving.
    await writeFile(join(project, "suffix.ts"), "export const suffix = ;\n");
    await occurrences(/reload failed: graph "echo"/, 1);
    expect(await echo(url, "echo")).toBe("hi v2");

    // langgraph.json itself: a graph added gets its default assistant.
    await writeFile(join(project, "suffix.ts"), 'export const suffix = "v3";\n');
    await writeFile(join(project, "bang.ts"), 'export const suffix = "!";\n');
    await writeFile(join(project, "shout.ts"), echoGraph("./bang.ts"));
    await writeFile(
      join(project, "langgraph.json"),
      JSON.stringify({ graphs: { echo: "./graph.ts:graph", shout: "./shout.ts:graph" } }),
    );
    await occurrences(/reloaded 2 graph\(s\)/, 1);
    expect(await echo(url, "echo")).toBe("hi v3");
    expect(await echo(url, "shout")).toBe("hi !");
    expect(await infoGraphs(url)).toEqual(["echo", "shout"]);

    // Runs from before the reloads are still in the same database.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const runs = await client.query(
        "SELECT count(*)::int AS n FROM run WHERE status = 'SUCCESS'",
      );
      expect(runs.rows[0].n).toBe(5);
    } finally {
      await client.end();
    }
    // Several loads of LangGraph in a child process: slow on a busy two-core machine.
  }, 180_000);
});
