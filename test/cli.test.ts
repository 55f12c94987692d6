import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
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
