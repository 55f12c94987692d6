/**
 * M11 overload fairness: completion latency and refusals when more runs arrive than one process
 * executes at once.
 *
 *   npm run bench:overload       # DATABASE_URL, or postgresql://postgres@127.0.0.1:5432/postgres
 *
 * - OURS: `langgraph-gql start` in its own process (bench/langgraph.json, graph `one_node`) on a
 *   scratch database, N_JOBS_PER_WORKER runs at once, MAX_PENDING_RUNS waiting at most.
 * - INPROC: the same graph with the official PostgresSaver, `graph.invoke` on a new thread id in
 *   this process, on a scratch database of the same server: the throughput yardstick.
 *
 * Measured, each row for LOAD_MS after a warm-up of one call per client:
 * 1. Waited runs, closed loop, at 10, 50 and 200 clients: each client sends a stateless `waitRun`
 *    and, when it ends, the next. Latency = request -> result (completion). A refused request
 *    (OVERLOADED) counts in "refused" and its client waits the Retry-After it was given, as a
 *    well-behaved client does. INPROC at 50 clients runs right after OURS at 50.
 * 2. Streamed runs: STREAMERS clients, each on its own graphql-ws connection, start a stateless
 *    `streamRun` and, when its RunEndedEvent arrives, the next. Latency = subscribe ->
 *    RunEndedEvent; a refusal ends the subscription with OVERLOADED (same back-off).
 * RSS is the server process's resident set before and after each row.
 *
 * Everything but the server shares this process's event loop: the load generator and INPROC.
 *
 * Env: DATABASE_URL, LOAD_MS (10000), STREAMERS (200), N_JOBS_PER_WORKER (10),
 * MAX_PENDING_RUNS (100: the 200-client rows exceed it on purpose), LOG_LEVEL (error).
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { type Client, createClient } from "graphql-ws";
import pg from "pg";
import WebSocket from "ws";
import { GENERIC_PLANS, withSessionSettings } from "../src/db/session.ts";
import { ONE_NODE_REPLY, one_node } from "./graphs.ts";
import { createHttpClient, type HttpClient, loadAverage } from "./lib/load.ts";
import { type OursProcess, startOursProcess } from "./lib/ours-process.ts";
import { createScratchDatabase, DEFAULT_DATABASE_URL, type ScratchDatabase } from "./lib/pg.ts";
import {
  formatBytes,
  formatMs,
  formatRate,
  formatRatio,
  ms,
  printTable,
  type Row,
  rate,
  summarize,
} from "./lib/stats.ts";

const env = process.env;
const LOAD_MS = Number(env.LOAD_MS ?? 10_000);
const STREAMERS = Number(env.STREAMERS ?? 200);
const N_JOBS = Number(env.N_JOBS_PER_WORKER ?? 10);
const MAX_PENDING = Number(env.MAX_PENDING_RUNS ?? 100);
const CONFIG_FILE = fileURLToPath(new URL("./langgraph.json", import.meta.url));
const INPUT = { messages: [{ role: "user", content: "hi" }] };
const sleep = (msecs: number) => new Promise((r) => setTimeout(r, msecs));

const WAIT_RUN =
  "mutation ($input: RunInput!) { waitRun(input: $input) { run { status } values } }";
const STREAM_RUN = `subscription ($input: RunInput!) {
  streamRun(input: $input) { __typename ... on RunEndedEvent { status } }
}`;

interface GraphQLError {
  message: string;
  extensions?: { code?: string; retryAfter?: number };
}

/** A call refused by admission control, with the delay it asked for. */
class Refused extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super("OVERLOADED");
  }
}

function refusalOf(errors: GraphQLError[] | undefined): Refused | null {
  const error = errors?.find((e) => e.extensions?.code === "OVERLOADED");
  return error ? new Refused(error.extensions?.retryAfter ?? 1) : null;
}

interface LoadResult {
  latencies: number[];
  refused: number;
  errors: number;
  firstError?: unknown;
  elapsedMs: number;
}

/**
 * Closed loop: each client calls `fn` again as soon as the last call ended; a refused call is
 * counted and its client waits the delay it was given before the next.
 */
async function closedLoop(clients: number, fn: (client: number) => Promise<void>) {
  await Promise.all(Array.from({ length: clients }, (_, i) => fn(i).catch(() => undefined)));
  const result: LoadResult = { latencies: [], refused: 0, errors: 0, elapsedMs: 0 };
  const t0 = performance.now();
  const deadline = t0 + LOAD_MS;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < deadline) {
        const begin = performance.now();
        try {
          await fn(client);
          result.latencies.push(performance.now() - begin);
        } catch (error) {
          if (error instanceof Refused) {
            result.refused++;
            await sleep(error.retryAfterSeconds * 1000);
          } else {
            result.errors++;
            result.firstError ??= error;
          }
        }
      }
    }),
  );
  result.elapsedMs = performance.now() - t0;
  return result;
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

function row(subject: string, scenario: string, clients: number, r: LoadResult, rss?: number[]) {
  const s = summarize(r.latencies);
  const attempts = r.latencies.length + r.refused + r.errors;
  if (r.errors)
    console.log(`  ${subject} ${scenario}: ${r.errors} errors, first: ${String(r.firstError)}`);
  const out: Row = {
    subject,
    scenario,
    clients,
    runs: s.n,
    rps: (s.n * 1000) / r.elapsedMs,
    p50: s.p50,
    p90: s.p90,
    p99: s.p99,
    "p99/p50": formatRatio(s.p99 / s.p50),
    refused: attempts ? `${((100 * r.refused) / attempts).toFixed(1)}%` : "-",
    errors: r.errors,
    rss: rss ? `${formatBytes(rss[0]!)} -> ${formatBytes(rss[1]!)}` : "-",
  };
  console.log(
    `  ${subject} ${scenario} c=${clients}: ${formatRate(out.rps as number)}, p50 ${formatMs(s.p50)}, p99 ${formatMs(s.p99)}, refused ${out.refused}`,
  );
  return out;
}

async function waitedRuns(http: HttpClient) {
  return async () => {
    const res = await http.request("POST", "/graphql", {
      query: WAIT_RUN,
      variables: { input: { assistantId: "one_node", input: INPUT } },
    });
    const body = JSON.parse(res.body) as {
      data?: {
        waitRun: { run: { status: string }; values: { messages: Array<{ content: unknown }> } };
      };
      errors?: GraphQLError[];
    };
    const refused = refusalOf(body.errors);
    if (refused) throw refused;
    if (body.errors?.length || !body.data)
      throw new Error(`${res.status}: ${res.body.slice(0, 300)}`);
    const { waitRun } = body.data;
    if (
      waitRun.run.status !== "SUCCESS" ||
      waitRun.values.messages.at(-1)?.content !== ONE_NODE_REPLY
    )
      throw new Error(`unexpected result ${JSON.stringify(waitRun).slice(0, 300)}`);
  };
}

function streamedRun(client: Client): Promise<void> {
  return new Promise((resolve, reject) => {
    let ended = false;
    client.subscribe(
      { query: STREAM_RUN, variables: { input: { assistantId: "one_node", input: INPUT } } },
      {
        next(result) {
          const refused = refusalOf(result.errors as GraphQLError[] | undefined);
          if (refused) return reject(refused);
          if (result.errors?.length) return reject(new Error(JSON.stringify(result.errors)));
          const event = result.data?.streamRun as { __typename: string; status?: string };
          if (event?.__typename === "RunEndedEvent") {
            ended = true;
            if (event.status !== "SUCCESS") reject(new Error(`run ended ${event.status}`));
          }
        },
        error: (error) => reject(refusalOf(error as GraphQLError[]) ?? error),
        complete: () => (ended ? resolve() : reject(new Error("stream completed before its end"))),
      },
    );
  });
}

async function startInproc(databaseUrl: string) {
  const pool = new pg.Pool({
    connectionString: withSessionSettings(databaseUrl, GENERIC_PLANS),
    max: 20,
  });
  pool.on("error", () => undefined);
  const saver = new PostgresSaver(pool);
  await saver.setup();
  const graph = one_node.withConfig({}) as typeof one_node;
  graph.checkpointer = saver;
  return {
    async invoke() {
      const values = (await graph.invoke(INPUT, {
        configurable: { thread_id: randomUUID() },
      })) as { messages: Array<{ content: unknown }> };
      if (values.messages.at(-1)?.content !== ONE_NODE_REPLY) throw new Error("inproc: bad reply");
    },
    close: () => pool.end(),
  };
}

async function main() {
  const serverUrl = env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const dbs: ScratchDatabase[] = [];
  let server: OursProcess | null = null;
  let http: HttpClient | null = null;
  let inproc: Awaited<ReturnType<typeof startInproc>> | null = null;
  const wsClients: Client[] = [];
  try {
    const oursDb = await createScratchDatabase(serverUrl, "bench_overload_ours");
    dbs.push(oursDb);
    const inprocDb = await createScratchDatabase(serverUrl, "bench_overload_inproc");
    dbs.push(inprocDb);
    server = await startOursProcess(oursDb.url, CONFIG_FILE, {
      N_JOBS_PER_WORKER: String(N_JOBS),
      MAX_PENDING_RUNS: String(MAX_PENDING),
    });
    inproc = await startInproc(inprocDb.url);
    http = createHttpClient(server.url);
    console.log(
      `OURS process at ${server.url} (N_JOBS_PER_WORKER=${N_JOBS}, MAX_PENDING_RUNS=${MAX_PENDING}); INPROC PostgresSaver; node ${process.version}; ${loadAverage()}`,
    );
    const rows: Row[] = [];
    const waited = await waitedRuns(http);
    const pid = server.pid;
    // Warm-up: JIT, prepared statements, pools.
    await closedLoopFor(2000, 10, waited);

    let inproc50 = 0;
    let ours50 = 0;
    for (const clients of [10, 50, 200]) {
      const before = rssOf(pid);
      const r = await closedLoop(clients, waited);
      const out = row("OURS", "waitRun", clients, r, [before, rssOf(pid)]);
      rows.push(out);
      if (clients === 50) {
        ours50 = out.rps as number;
        const i = await closedLoop(50, () => inproc!.invoke());
        const inRow = row("INPROC", "graph.invoke + PostgresSaver", 50, i);
        rows.push(inRow);
        inproc50 = inRow.rps as number;
      }
    }

    // Streamed runs: one graphql-ws connection per client.
    for (let i = 0; i < STREAMERS; i++) {
      wsClients.push(
        createClient({
          url: server.wsUrl,
          webSocketImpl: WebSocket,
          retryAttempts: 0,
          lazy: false,
        }),
      );
    }
    const before = rssOf(pid);
    const s = await closedLoop(STREAMERS, (client) => streamedRun(wsClients[client]!));
    rows.push(row("OURS", "streamRun (graphql-ws)", STREAMERS, s, [before, rssOf(pid)]));

    console.log();
    printTable(rows, {
      title: `M11 overload, ${LOAD_MS / 1000} s per row, one_node graph, stateless runs (completion = request -> result; refused = OVERLOADED, client then waits Retry-After)`,
      columns: [
        "subject",
        "scenario",
        "clients",
        "runs",
        rate("rps", "runs/s"),
        ms("p50"),
        ms("p90"),
        ms("p99"),
        "p99/p50",
        "refused",
        "errors",
        "rss",
      ],
    });
    const at50 = rows.find((r) => r.subject === "OURS" && r.clients === 50)!;
    const fair = (at50.p99 as number) <= 4 * (at50.p50 as number);
    console.log(
      `\n  M11 p99 <= 4x p50 at 50 clients (refused ${at50.refused}): ${formatRatio((at50.p99 as number) / (at50.p50 as number))} ${fair ? "PASS" : "FAIL"}`,
    );
    const ratio = ours50 / inproc50;
    console.log(
      `  ours / INPROC runs/s at 50 clients: ${formatRate(ours50)} / ${formatRate(inproc50)} = ${formatRatio(ratio)} (target >= 0.8x): ${ratio >= 0.8 ? "PASS" : "FAIL"}`,
    );
    console.log(`\n${loadAverage()} at the end`);
  } finally {
    for (const client of wsClients) await client.dispose();
    http?.close();
    await server?.stop();
    await inproc?.close().catch(() => undefined);
    for (const db of dbs.reverse()) await db.drop().catch(() => undefined);
  }
}

/** An untimed closed loop (warm-up). */
async function closedLoopFor(durationMs: number, clients: number, fn: () => Promise<void>) {
  const deadline = performance.now() + durationMs;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) await fn().catch(() => undefined);
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
