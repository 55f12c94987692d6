import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../src/config.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lgql-config-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(content: unknown): Promise<string> {
  const file = join(dir, "langgraph.json");
  await writeFile(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

describe("loadConfig", () => {
  it("reads graphs in LangGraph CLI format, relative to the config file", async () => {
    const file = await configFile({
      graphs: { agent: "./src/agent.ts:graph", other: { path: "./o.ts:make", description: "d" } },
    });
    const config = loadConfig({ argv: ["start", "--config", file], env: {} });
    expect(config.graphs).toEqual([
      { id: "agent", path: join(dir, "src/agent.ts"), exportName: "graph" },
      { id: "other", path: join(dir, "o.ts"), exportName: "make", description: "d" },
    ]);
    expect(config.http).toEqual({ host: "0.0.0.0", port: 4000 });
    expect(config.database).toEqual({ kind: "embedded", dataDir: join(dir, ".data") });
  });

  it("uses DATABASE_URL, PORT and HOST; flags win over the environment", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" } });
    const env = { DATABASE_URL: "postgresql://x@h/db", PORT: "5000", HOST: "127.0.0.1" };
    expect(loadConfig({ argv: ["--config", file], env })).toMatchObject({
      command: "start",
      database: { kind: "external", url: "postgresql://x@h/db" },
      http: { host: "127.0.0.1", port: 5000 },
    });
    expect(
      loadConfig({ argv: ["--config", file, "--port", "6000", "--host", "::1"], env }).http,
    ).toEqual({
      host: "::1",
      port: 6000,
    });
  });

  it("takes env from an object or a .env file, the process environment winning", async () => {
    await writeFile(join(dir, ".env"), "MODEL=fake\nDATABASE_URL=postgresql://from-file/db\n");
    const file = await configFile({ graphs: { a: "./a.ts:g" }, env: ".env" });
    const config = loadConfig({ argv: ["--config", file], env: { MODEL: "real" } });
    expect(config.graphEnv).toEqual({ MODEL: "fake", DATABASE_URL: "postgresql://from-file/db" });
    expect(config.database).toEqual({ kind: "external", url: "postgresql://from-file/db" });
  });

  it("accepts auth.path for the auth layer", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" }, auth: { path: "./auth.ts:auth" } });
    expect(loadConfig({ argv: ["--config", file], env: {} }).auth).toEqual({
      path: join(dir, "auth.ts"),
      exportName: "auth",
    });
  });

  it.each([
    [null, "file not found"],
    ["{ nope", "invalid JSON"],
    [{}, "graphs"],
    [{ graphs: {} }, "names no graph"],
    [{ graphs: { a: "./a.ts" } }, 'graphs.a must look like "./path/to/file.ts:exportName"'],
    [{ graphs: { a: "./a.ts:g" }, env: "./missing.env" }, "missing.env not found"],
  ])("refuses %j naming the file and the problem", async (content, problem) => {
    const file = content === null ? join(dir, "langgraph.json") : await configFile(content);
    expect(() => loadConfig({ argv: ["--config", file], env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ argv: ["--config", file], env: {} })).toThrow(file);
    expect(() => loadConfig({ argv: ["--config", file], env: {} })).toThrow(problem);
  });

  it("refuses a bad port and an unknown command", async () => {
    const file = await configFile({ graphs: { a: "./a.ts:g" } });
    expect(() => loadConfig({ argv: ["--config", file, "--port", "x"], env: {} })).toThrow(
      "--port",
    );
    expect(() => loadConfig({ argv: ["--config", file], env: { PORT: "99999" } })).toThrow("PORT");
    expect(() => loadConfig({ argv: ["serve", "--config", file], env: {} })).toThrow("serve");
  });
});
