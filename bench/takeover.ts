/**
 * M12: a dead worker's run resumed elsewhere. No peer: the figure to beat is the lease (LangGraph
 * Platform's sweeper, and this project before worker liveness: 23-40 s).
 *
 *   npm run bench:takeover       # DATABASE_URL, or postgresql://postgres@127.0.0.1:5432/postgres
 *
 * An API-only server in this process (on a scratch database dropped at the end) and two
 * `langgraph-gql worker` processes with the default lease (RUN_LEASE_SECONDS, 30 s). Each trial
 * creates a long `ticker` run, waits until a worker executes it, SIGKILLs that worker, and times
 * from the kill to the run being RUNNING again as attempt 2 on the other worker (the run row,
 * polled every POLL_MS). The run is then cancelled and the killed worker replaced, so every
 * trial starts with two live workers.
 *
 * Env: DATABASE_URL, TRIALS (10), POLL_MS (5), LOG_LEVEL (error).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startServer } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { createHttpClient, graphqlData } from "./lib/load.ts";
import { createScratchDatabase, DEFAULT_DATABASE_URL } from "./lib/pg.ts";
import { formatMs, median } from "./lib/stats.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CONFIG = fileURLToPath(new URL("langgraph.json", import.meta.url));
const TRIALS = Number(process.env.TRIALS ?? 10);
const POLL_MS = Number(process.env.POLL_MS ?? 5);
const TARGET_MS = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Worker {
  child: ChildProcess;
  exited: Promise<void>;
}

/** `langgraph-gql worker` from source, resolved once it takes runs. */
async function startWorker(databaseUrl: string): Promise<Worker> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", `${ROOT}src/run-cli.ts`, "worker", "--config", CONFIG],
    {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const check = (chunk: Buffer) => {
      output += chunk;
      if (/worker executing up to/.test(output)) resolve();
    };
    child.stdout?.on("data", check);
    child.stderr?.on("data", check);
    exited.then(() => reject(new Error(`worker exited:\n${output}`)));
  });
  return { child, exited };
}

async function main() {
  const serverUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const db = await createScratchDatabase(serverUrl, "bench_takeover");
  const workers: Worker[] = [];
  const sql = new pg.Client({ connectionString: db.url });
  let stop: (() => Promise<void>) | null = null;
  try {
    const config = loadConfig({
      argv: ["start", "--config", CONFIG],
      env: { DATABASE_URL: db.url, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "error" },
    });
    const api = await startServer(config, createLogger(config.logLevel), {
      api: true,
      worker: false,
    });
    stop = api.stop;
    await sql.connect();
    const data = graphqlData(createHttpClient(api.url!));
    workers.push(...(await Promise.all([startWorker(db.url), startWorker(db.url)])));

    const row = async (runId: string) =>
      (
        await sql.query<{ status: string; attempt: number; lease_owner: string | null }>(
          "SELECT status::text, attempt, lease_owner FROM run WHERE id = $1",
          [runId],
        )
      ).rows[0]!;

    const takeovers: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const { createThread } = await data<{ createThread: { id: string } }>(
        "mutation { createThread { id } }",
      );
      const { createRun } = await data<{ createRun: { id: string } }>(
        "mutation ($input: RunInput!) { createRun(input: $input) { id } }",
        {
          input: {
            threadId: createThread.id,
            assistantId: "ticker",
            input: {},
            // Hours of ticks: the run is still going whatever happens to the trial.
            config: { configurable: { count: 1_000_000, intervalMs: 5 } },
          },
        },
      );
      let owner: string | null = null;
      while (!owner) {
        const r = await row(createRun.id);
        if (r.status === "RUNNING") owner = r.lease_owner;
        else await sleep(POLL_MS);
      }
      // Let it get going (its node is executing, not starting).
      await sleep(300);
      const pid = Number(owner.split(":").at(-2));
      const victim = workers.find((w) => w.child.pid === pid);
      if (!victim) throw new Error(`no worker process owns ${owner}`);
      const killedAt = performance.now();
      victim.child.kill("SIGKILL");
      for (;;) {
        const r = await row(createRun.id);
        if (r.status === "RUNNING" && r.attempt === 2) break;
        if (r.status !== "RUNNING" && r.status !== "PENDING") {
          throw new Error(`run ended ${r.status} instead of resuming`);
        }
        await sleep(POLL_MS);
      }
      const took = performance.now() - killedAt;
      takeovers.push(took);
      console.log(
        `trial ${trial + 1}/${TRIALS}: resumed elsewhere ${formatMs(took)} after SIGKILL`,
      );
      await data("mutation ($id: ID!) { cancelRun(id: $id, wait: true) { id } }", {
        id: createRun.id,
      });
      await victim.exited;
      workers.splice(workers.indexOf(victim), 1, await startWorker(db.url));
    }

    const sorted = [...takeovers].sort((a, b) => a - b);
    const med = median(sorted);
    const max = sorted.at(-1)!;
    console.log("");
    console.log(`M12 dead worker -> run resumed elsewhere (SIGKILL, ${TRIALS} trials, lease 30 s)`);
    console.log(`  median ${formatMs(med)}  min ${formatMs(sorted[0]!)}  max ${formatMs(max)}`);
    console.log(
      `  target <= ${formatMs(TARGET_MS)}: ${max <= TARGET_MS ? "met" : "NOT met"} (max)`,
    );
  } finally {
    for (const worker of workers) worker.child.kill("SIGKILL");
    await Promise.all(workers.map((w) => w.exited));
    await sql.end().catch(() => undefined);
    await stop?.().catch(() => undefined);
    await db.drop();
  }
}

await main();
