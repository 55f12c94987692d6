/**
 * Starts the official LangGraph JS in-memory dev server (`langgraphjs dev`, pinned in
 * `bench/peers/package.json`) as the PEER subject of a side-by-side benchmark.
 *
 * - Installs `bench/peers` with `npm ci` on first use (or when the installed CLI/API versions differ
 *   from the pins).
 * - Runs the server from a throwaway copy of `bench/peers` in the OS temp dir, because the CLI
 *   writes its state to `<project>/.langgraph_api/` and appends to `<project>/.gitignore`. Each start
 *   therefore begins with empty state, and no file in the repository is touched. The copy holds
 *   `bench/graphs.ts` (copied, not linked, so that it resolves `@langchain/*` from the peer's
 *   node_modules and shares one LangGraph instance with the server); keep that file self-contained.
 * - Analytics and LangSmith tracing are disabled (`LANGGRAPH_CLI_NO_ANALYTICS=1`,
 *   `LANGSMITH_TRACING=false`); no browser, no file watcher.
 * - The server runs in its own process group; `stop()` kills the group. Live peers are also killed
 *   when this process exits or gets SIGINT/SIGTERM.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";

const BENCH_DIR = fileURLToPath(new URL("..", import.meta.url));
export const PEERS_DIR = path.join(BENCH_DIR, "peers");
/** Default port; 2024 (the CLI's default) is taken on the bench host. */
export const DEFAULT_PEER_PORT = 2399;

export interface PeerDevServerOptions {
  /** Port to listen on (default 2399). 0 picks a free port. Must be free: this never reuses a server. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Queue workers (`--n-jobs-per-worker`, CLI default 10). */
  nWorkers?: number;
  /** How long to wait for `GET /ok` (default 60 s). */
  readyTimeoutMs?: number;
  /** Forward the server's output to this process's stderr (default false: kept, shown on failure). */
  verbose?: boolean;
  /** Extra environment for the server. */
  env?: Record<string, string>;
  /** Keep the throwaway project dir (with `.langgraph_api/` state and `server.log`) after stop(). */
  keepWorkDir?: boolean;
}

export interface PeerDevServer {
  /** Base URL, e.g. http://127.0.0.1:2399 */
  url: string;
  port: number;
  /** pid of the CLI process, which is also the process group id. */
  pid: number;
  /** The throwaway project directory the server runs in. */
  workDir: string;
  /** `GET /info` at startup, e.g. `{ version: "1.5.1", langgraph_js_version: "1.4.18", ... }`. */
  info: Record<string, unknown>;
  /** The server's output so far (ANSI colours stripped). */
  logs(): string;
  /** Kills the process group and removes the work dir (unless keepWorkDir). Idempotent. */
  stop(): Promise<void>;
}

interface PeerPackageJson {
  dependencies: Record<string, string>;
}

/** Runs `npm ci` in bench/peers unless the pinned CLI and API are already installed. */
export function ensurePeerInstalled(): void {
  const pkg = JSON.parse(
    readFileSync(path.join(PEERS_DIR, "package.json"), "utf8"),
  ) as PeerPackageJson;
  const stale = [
    "@langchain/langgraph-cli",
    "@langchain/langgraph-api",
    "@langchain/langgraph",
  ].filter((name) => installedVersion(name) !== pkg.dependencies[name]);
  if (stale.length === 0) return;
  console.error(
    `[peer] installing the official LangGraph dev server into bench/peers (npm ci; ${stale.join(", ")} missing or not at the pinned version) ...`,
  );
  const result = spawnSync("npm", ["ci", "--prefix", PEERS_DIR, "--no-audit", "--no-fund"], {
    stdio: "inherit",
  });
  if (result.status !== 0) {
    throw new Error(
      `npm ci --prefix ${PEERS_DIR} failed (${result.error?.message ?? `exit ${result.status}`})`,
    );
  }
}

function installedVersion(name: string): string | undefined {
  try {
    const file = path.join(PEERS_DIR, "node_modules", name, "package.json");
    return (JSON.parse(readFileSync(file, "utf8")) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** The CLI's entry point from its package.json `bin`. */
function cliEntry(): string {
  const dir = path.join(PEERS_DIR, "node_modules", "@langchain", "langgraph-cli");
  const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
    bin: Record<string, string>;
  };
  const bin = pkg.bin.langgraphjs;
  if (!bin) throw new Error("@langchain/langgraph-cli has no `langgraphjs` bin");
  return path.join(dir, bin);
}

/** A port that was free a moment ago (listen on 0, read it, close). */
export function getFreePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function assertPortFree(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `port ${host}:${port} is not free (${error.code}); a stale peer or another server is listening. Pass another port or port: 0.`,
        ),
      ),
    );
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

/** Copies bench/peers (without node_modules and state) and bench/graphs.ts into a temp dir. */
async function makeWorkDir(): Promise<{ root: string; project: string }> {
  const root = await mkdtemp(path.join(os.tmpdir(), "langgraph-peer-"));
  const bench = path.join(root, "bench");
  const project = path.join(bench, "peers");
  await mkdir(project, { recursive: true });
  await copyFile(path.join(BENCH_DIR, "graphs.ts"), path.join(bench, "graphs.ts"));
  for (const file of ["langgraph.json", "package.json", "graphs.ts"]) {
    await copyFile(path.join(PEERS_DIR, file), path.join(project, file));
  }
  const modules = path.join(PEERS_DIR, "node_modules");
  await symlink(modules, path.join(project, "node_modules"), "dir");
  // bench/graphs.ts resolves packages from <root>/bench/node_modules: the peer's, not the repo's.
  await symlink(modules, path.join(bench, "node_modules"), "dir");
  // Pre-empt the CLI's .gitignore edit (harmless here anyway).
  await writeFile(path.join(project, ".gitignore"), ".langgraph_api\n");
  return { root, project };
}

/** Running peers: the CLI process and the work dir to remove if this process exits first. */
const live = new Map<ChildProcess, string | undefined>();
let exitHooksInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const killAll = () => {
    for (const [child, workDir] of live) {
      killGroup(child, "SIGKILL");
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    }
    live.clear();
  };
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
}

export async function startPeerDevServer(
  options: PeerDevServerOptions = {},
): Promise<PeerDevServer> {
  const host = options.host ?? "127.0.0.1";
  const requested = options.port ?? DEFAULT_PEER_PORT;
  const port = requested === 0 ? await getFreePort(host) : requested;
  await assertPortFree(port, host);
  ensurePeerInstalled();

  const { root, project } = await makeWorkDir();
  const args = [cliEntry(), "dev", "--port", String(port), "--host", host];
  args.push("--no-browser", "--no-reload");
  if (options.nWorkers !== undefined) args.push("--n-jobs-per-worker", String(options.nWorkers));

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LANGGRAPH_CLI_NO_ANALYTICS: "1",
    LANGSMITH_TRACING: "false",
    LANGCHAIN_TRACING_V2: "false",
    BROWSER: "none",
    ...options.env,
  };
  // Loaders of the calling process (e.g. tsx) must not leak into the server's own tsx setup.
  delete env.NODE_OPTIONS;

  const child = spawn(process.execPath, args, {
    cwd: project,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.set(child, options.keepWorkDir ? undefined : root);
  installExitHooks();

  let output = "";
  const onData = (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    output += stripVTControlCharacters(text);
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
    if (options.verbose) process.stderr.write(text);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  let exitCode: number | string | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exitCode = code ?? signal;
      resolve();
    }),
  );

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (exitCode === undefined) {
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    // The API server is a grandchild in the same group; make sure nothing outlives the CLI.
    if (child.pid !== undefined && groupAlive(child.pid)) {
      killGroup(child, "SIGKILL");
      const deadline = Date.now() + 2000;
      while (groupAlive(child.pid) && Date.now() < deadline) await delay(20);
    }
    live.delete(child);
    await writeFile(path.join(root, "server.log"), output).catch(() => undefined);
    if (!options.keepWorkDir) await rm(root, { recursive: true, force: true });
  };

  const url = `http://${host}:${port}`;
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (exitCode !== undefined) throw new Error(`the dev server exited early (${exitCode})`);
      if (Date.now() > deadline) throw new Error(`GET ${url}/ok not ready after ${timeoutMs} ms`);
      const ok = await fetch(`${url}/ok`, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      await delay(100);
    }
  } catch (error) {
    await stop();
    const tail = output.split("\n").slice(-40).join("\n");
    throw new Error(`${(error as Error).message}\n--- dev server output (tail) ---\n${tail}`);
  }
  const info = (await fetch(`${url}/info`)
    .then((r) => r.json())
    .catch(() => ({}))) as Record<string, unknown>;

  return {
    url,
    port,
    pid: child.pid!,
    workDir: project,
    info,
    logs: () => output,
    stop,
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
