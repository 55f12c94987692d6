import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { repoRoot } from "./server.ts";

const entry = resolve(repoRoot, "src", "run-cli.ts");

export interface Cli {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** Resolves once the output matches; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
}

/** Runs `langgraph-gql <args>` from source in a child process, without our DATABASE_URL. */
export function cli(args: string[], env: Record<string, string | undefined>): Cli {
  return spawnCli(process.execPath, ["--import", "tsx", entry, ...args], { env });
}

/** Runs an executable (a langgraph-gql however installed) with our environment but DATABASE_URL. */
export function spawnCli(
  command: string,
  args: string[],
  options: { env: Record<string, string | undefined>; cwd?: string },
): Cli {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...inherited, LOG_LEVEL: "info", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return {
    child,
    output: () => output,
    exited,
    waitFor(pattern) {
      return new Promise((resolveMatch, reject) => {
        const check = () => {
          const match = pattern.exec(output);
          if (match) resolveMatch(match);
        };
        child.stdout?.on("data", check);
        child.stderr?.on("data", check);
        exited.then((code) => reject(new Error(`exited with ${code}: ${output}`)));
        check();
      });
    },
  };
}

/** A `langgraph-gql worker` process on the given database, resolved once it takes runs. */
export async function startWorker(
  databaseUrl: string,
  env: Record<string, string> = {},
  configFile = resolve(repoRoot, "test", "fixtures", "langgraph.json"),
): Promise<Cli> {
  const worker = cli(["worker", "--config", configFile], { DATABASE_URL: databaseUrl, ...env });
  await worker.waitFor(/worker executing up to/);
  return worker;
}
