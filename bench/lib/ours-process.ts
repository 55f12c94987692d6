/**
 * Our server as users run it: `langgraph-gql start` (API and worker in one process) in a child
 * process, so a benchmark's load generator does not share its event loop.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { getFreePort } from "./peer-dev-server.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = `${ROOT}bin/langgraph-gql.mjs`;

export interface ServerProcess {
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitReady(url: string, child: ChildProcess, output: () => string) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`exited early:\n${output()}`);
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await sleep(100);
  }
  throw new Error(`not ready: ${url}\n${output()}`);
}

/** SIGTERM (a graceful stop), SIGKILL if it has not exited 10 s later. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  return exited.finally(() => clearTimeout(timer));
}

export interface OursProcess extends ServerProcess {
  /** The child's process id (for its RSS: /proc/<pid>/status). */
  pid: number;
}

/**
 * Starts `langgraph-gql start --config <configFile>` on `databaseUrl` at a free port and waits
 * until it answers /ok. `env` adds to this process's environment (N_JOBS_PER_WORKER, ...).
 */
export async function startOursProcess(
  databaseUrl: string,
  configFile: string,
  env: Record<string, string> = {},
): Promise<OursProcess> {
  const port = await getFreePort();
  const child = spawn(process.execPath, [BIN, "start", "--config", configFile], {
    env: {
      ...process.env,
      LOG_LEVEL: process.env.LOG_LEVEL ?? "error",
      ...env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: "127.0.0.1",
    },
    stdio: ["ignore", "pipe", "pipe"],
    cwd: ROOT,
  });
  let output = "";
  child.stdout?.on("data", (c) => (output += c));
  child.stderr?.on("data", (c) => (output += c));
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/ok`, child, () => output);
  return {
    pid: child.pid!,
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    stop: () => stopChild(child),
  };
}
