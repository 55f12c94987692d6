/**
 * M9 / M8: GraphQL request overhead and history pages, our server against bare yoga, in one run.
 *
 *   npm run bench:queries        # DATABASE_URL, or postgresql://postgres@127.0.0.1:5432/postgres
 *
 * Both servers run in this process (ours through `startServer`, on a scratch database that is
 * dropped at the end; YOGA0 through `startBareYoga`), and so does the load generator: every number
 * includes the client's own cost, the same for both subjects.
 *
 * (a) small query: `query ($id: ID!) { thread(id: $id) { status } }` over HTTP POST with a
 *     keep-alive client, against ours (one primary-key read of the thread row) and YOGA0 (a
 *     constant); then `{ __typename }` on both (no resolver work: the GraphQL stack alone). Per
 *     repetition, in A B A B order: WARMUP requests untimed, then QUERIES sequential requests
 *     (p50/p99), then CLIENTS closed-loop clients for LOAD_MS (3 s for __typename) (throughput).
 *     The table shows the median over REPS repetitions of each figure, and the ratios ours / bare.
 *     Targets: ours p50 <= 1 ms; throughput >= 0.8x bare.
 * (b) history: one thread of the `one_node` graph (MessagesAnnotation) with CHECKPOINTS checkpoints
 *     and MESSAGES ~300-byte messages, as M8 defines it (1,500 checkpoints, 1,000 messages: two of
 *     every three checkpoints add a message, the third leaves them alone), built with `createThread(input: {graphId, supersteps})`
 *     for the first 100 and, for the rest, written straight to the running server's checkpointer
 *     in the shape bulkUpdateState gives them (see buildThread). Then PAGE_REQUESTS sequential requests of:
 *     - `history(first: 10) { values checkpoint { checkpointId } }`, the newest page;
 *     - the same page `before:` the checkpoint ~1,000 back (a page deep in the past);
 *     - `history(first: 10) { checkpoint { checkpointId } }` (no values: the metadata-only floor);
 *     - `state { values }`;
 *     plus, for the split (PAGE_REQUESTS / 2 each): the JSON floor (parse + stringify of the newest
 *     page's response), the newest page straight from the thread service (no GraphQL, no HTTP) and
 *     from the checkpointer (`list`, no state assembly). Target: a 10-state page <= 20 ms.
 *
 * Env: DATABASE_URL, REPS (3), QUERIES (2000), WARMUP (200), LOAD_MS (5000), CLIENTS (10),
 * CHECKPOINTS (1500), MESSAGES (1000), PAGE_REQUESTS (50), PARTS ("ab": which of (a) and (b) to
 * run), LOG_LEVEL (error).
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { AIMessage, type BaseMessage, HumanMessage } from "@langchain/core/messages";
import { type Checkpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { type RunningServer, startServer } from "../src/app.ts";
import { anonymousCaller } from "../src/auth/caller.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { type BareYoga, startBareYoga } from "./lib/bare-yoga.ts";
import {
  createHttpClient,
  type GraphQLResponse,
  type HttpClient,
  loadAverage,
  runClosedLoop,
  timeSequential,
  withCpu,
} from "./lib/load.ts";
import { createScratchDatabase, DEFAULT_DATABASE_URL, type ScratchDatabase } from "./lib/pg.ts";
import {
  formatBytes,
  formatMs,
  formatRatio,
  median,
  ms,
  printTable,
  type Row,
  rate,
  summarize,
} from "./lib/stats.ts";

const env = process.env;
const REPS = Number(env.REPS ?? 3);
const QUERIES = Number(env.QUERIES ?? 2000);
const WARMUP = Number(env.WARMUP ?? 200);
const LOAD_MS = Number(env.LOAD_MS ?? 5000);
const CLIENTS = Number(env.CLIENTS ?? 10);
const CHECKPOINTS = Number(env.CHECKPOINTS ?? 1500);
const MESSAGES = Math.min(CHECKPOINTS, Number(env.MESSAGES ?? 1000));
const PARTS = env.PARTS ?? "ab";
const PAGE_REQUESTS = Number(env.PAGE_REQUESTS ?? 50);
const SPLIT_REQUESTS = Math.max(1, Math.round(PAGE_REQUESTS / 2));
const DEEP = 1000;
const BATCH = 100;
const CONFIG_FILE = fileURLToPath(new URL("./langgraph.json", import.meta.url));

/** ~300 bytes of text per message, numbered so every message differs. */
const FILLER =
  "Sure. Here is a short summary of what we discussed so far, with the numbers you asked for and a note on the next step we agreed on. ";

function graphql(client: HttpClient) {
  /** POST /graphql; returns the raw body, failing on a transport or GraphQL error. */
  const raw = async (query: string, variables?: Record<string, unknown>): Promise<string> => {
    const res = await client.request("POST", "/graphql", { query, variables });
    // graphql-js puts `errors` before `data` when there are any, so a good result starts so:
    if (res.status !== 200 || !res.body.startsWith('{"data"')) {
      throw new Error(`GraphQL ${res.status}: ${res.body.slice(0, 500)}`);
    }
    return res.body;
  };
  const data = async <T>(query: string, variables?: Record<string, unknown>): Promise<T> => {
    const body = JSON.parse(await raw(query, variables)) as GraphQLResponse<T>;
    if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
    return body.data!;
  };
  return { raw, data };
}

function message(i: number) {
  return {
    id: `m-${i}`,
    type: i % 2 === 0 ? "human" : "ai",
    content: `${i}: ${FILLER}${FILLER}`.slice(0, 300),
  };
}

/**
 * Whether checkpoint i adds a message: MESSAGES spread evenly over CHECKPOINTS (M8's thread is
 * 500 turns, 1,500 checkpoints and 1,000 messages: two of every three checkpoints add one).
 */
function addsMessage(i: number) {
  return Math.floor(((i + 1) * MESSAGES) / CHECKPOINTS) > Math.floor((i * MESSAGES) / CHECKPOINTS);
}

function superstep(i: number) {
  const messages = addsMessage(i) ? [message(i)] : [];
  return { updates: [{ asNode: "agent", values: { messages } }] };
}

async function startOurs(databaseUrl: string): Promise<RunningServer> {
  const config = loadConfig({
    argv: ["start", "--config", CONFIG_FILE],
    env: {
      DATABASE_URL: databaseUrl,
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: env.LOG_LEVEL ?? "error",
      ...(env.N_JOBS_PER_WORKER ? { N_JOBS_PER_WORKER: env.N_JOBS_PER_WORKER } : {}),
    },
  });
  return startServer(config, createLogger(config.logLevel));
}

// --- (a) small query ---------------------------------------------------------------------------

interface Sample {
  p50: number;
  p99: number;
  mean: number;
  rps: number;
  loadP50: number;
  loadP99: number;
  cpu: number;
}

const QUERY_CASES = [
  {
    name: "thread(id) { status }",
    query: "query Thread($id: ID!) { thread(id: $id) { status } }",
    loadMs: LOAD_MS,
  },
  // Same transport, no resolver work at all: what the GraphQL stack itself costs.
  { name: "{ __typename }", query: "{ __typename }", loadMs: Math.min(LOAD_MS, 3000) },
] as const;

async function measureQuery(
  client: HttpClient,
  query: string,
  variables: Record<string, unknown>,
  loadMs: number,
): Promise<Sample> {
  const { raw } = graphql(client);
  const once = () => raw(query, variables);
  for (let i = 0; i < WARMUP; i++) await once();
  const seq = summarize(await timeSequential(QUERIES, once));
  const load = await withCpu(() =>
    runClosedLoop({
      concurrency: CLIENTS,
      durationMs: loadMs,
      warmupRequests: CLIENTS * 20,
      fn: once,
    }),
  );
  const { summary, throughput, errors, firstError } = load.result;
  if (errors) throw new Error(`${errors} errors under load: ${String(firstError)}`);
  return {
    p50: seq.p50,
    p99: seq.p99,
    mean: seq.mean,
    rps: throughput,
    loadP50: summary.p50,
    loadP99: summary.p99,
    cpu: load.cpu,
  };
}

async function partA(ours: HttpClient, bare: HttpClient) {
  const { data } = graphql(ours);
  const created = await data<{ createThread: { id: string } }>("mutation { createThread { id } }");
  const variables = { id: created.createThread.id };
  const samples = new Map<string, Sample[]>();
  const push = (key: string, sample: Sample) =>
    samples.set(key, [...(samples.get(key) ?? []), sample]);
  for (let rep = 0; rep < REPS; rep++) {
    const line: string[] = [];
    for (const c of QUERY_CASES) {
      const o = await measureQuery(ours, c.query, variables, c.loadMs);
      const b = await measureQuery(bare, c.query, variables, c.loadMs);
      push(`OURS ${c.name}`, o);
      push(`YOGA0 ${c.name}`, b);
      line.push(
        `${c.name}: ours ${formatMs(o.p50)} ${Math.round(o.rps)}/s, bare ${formatMs(b.p50)} ${Math.round(b.rps)}/s`,
      );
    }
    console.log(`  rep ${rep + 1}/${REPS}: ${line.join(" | ")}`);
  }
  const rows: Row[] = [];
  for (const c of QUERY_CASES) {
    for (const subject of ["OURS", "YOGA0"]) {
      const list = samples.get(`${subject} ${c.name}`)!;
      const med = (key: keyof Sample) => median(list.map((s) => s[key]));
      rows.push({
        subject,
        query: c.name,
        p50: med("p50"),
        p99: med("p99"),
        mean: med("mean"),
        rps: med("rps"),
        loadP50: med("loadP50"),
        loadP99: med("loadP99"),
        cpu: `${Math.round(med("cpu") * 100)}%`,
      });
    }
  }
  console.log();
  printTable(rows, {
    title: `M9 small queries, POST, keep-alive; sequential n=${QUERIES} and ${CLIENTS} closed-loop clients (${LOAD_MS / 1000} s; __typename ${QUERY_CASES[1].loadMs / 1000} s); median of ${REPS} reps (cpu = this process, server + client, of one core)`,
    columns: [
      "subject",
      "query",
      ms("p50", "seq p50"),
      ms("p99", "seq p99"),
      ms("mean", "seq mean"),
      rate("rps", `c=${CLIENTS} rps`),
      ms("loadP50", `c=${CLIENTS} p50`),
      ms("loadP99", `c=${CLIENTS} p99`),
      "cpu",
    ],
  });
  for (let i = 0; i < rows.length; i += 2) {
    const o = rows[i]!;
    const b = rows[i + 1]!;
    const p50 = o.p50 as number;
    const rpsRatio = (o.rps as number) / (b.rps as number);
    console.log(
      `${String(o.query)}: ours/bare p50 ${formatRatio(p50 / (b.p50 as number))}, throughput ${formatRatio(rpsRatio)}` +
        ` | targets: ours p50 <= 1 ms: ${p50 <= 1 ? "MET" : "MISSED"} (${formatMs(p50)}); throughput >= 0.8x bare: ${rpsRatio >= 0.8 ? "MET" : "MISSED"}`,
    );
  }
}

// --- (b) history -------------------------------------------------------------------------------

/**
 * The thread: the first BATCH checkpoints through `createThread(input: {graphId, supersteps})`
 * (LangGraph's bulkUpdateState in the server), the rest written straight to the server's
 * checkpointer in exactly the shape bulkUpdateState gives them (read back from the first batch):
 * a checkpoint whose `messages` channel gained one message and a new version, source "update",
 * and the update task's write recorded against the previous checkpoint. Going through
 * bulkUpdateState for all of them would re-read (and revive) the whole message list once per
 * checkpoint: O(n^2), over a minute at 1,500.
 */
async function buildThread(running: RunningServer, ours: HttpClient): Promise<string> {
  const { data } = graphql(ours);
  const t0 = performance.now();
  const first = Math.min(BATCH, CHECKPOINTS);
  const created = await data<{ createThread: { id: string } }>(
    "mutation ($input: CreateThreadInput) { createThread(input: $input) { id } }",
    {
      input: {
        graphId: "one_node",
        supersteps: Array.from({ length: first }, (_, i) => superstep(i)),
      },
    },
  );
  const threadId = created.createThread.id;
  const tFirst = performance.now() - t0;
  const { threads, checkpointer } = running.services;
  const tuple = await checkpointer.getTuple({
    configurable: { thread_id: threadId, checkpoint_ns: "" },
  });
  if (!tuple) throw new Error("createThread wrote no checkpoint");
  let parent = tuple.config;
  let checkpoint = tuple.checkpoint;
  let step = tuple.metadata?.step ?? first - 1;
  let messages = checkpoint.channel_values.messages as BaseMessage[];
  const expected = Array.from({ length: first }, (_, i) => i).filter(addsMessage).length;
  if (messages.length !== expected)
    throw new Error(`expected ${expected} messages, got ${messages.length}`);
  for (let i = first; i < CHECKPOINTS; i++) {
    step += 1;
    // A checkpoint that adds no message leaves the channel alone (a turn's input checkpoint).
    const raw = addsMessage(i) ? message(i) : null;
    const newVersions: Record<string, number> = {};
    if (raw) {
      const fields = { id: raw.id, content: raw.content };
      messages = [
        ...messages,
        raw.type === "human" ? new HumanMessage(fields) : new AIMessage(fields),
      ];
      const current = checkpoint.channel_versions.messages;
      // LangGraph's default versions are integers (what bulkUpdateState wrote above).
      newVersions.messages = checkpointer.getNextVersion(
        typeof current === "number" ? current : undefined,
      );
    }
    const next: Checkpoint = {
      v: checkpoint.v,
      id: uuid6(step),
      ts: new Date().toISOString(),
      versions_seen: structuredClone(checkpoint.versions_seen),
      channel_versions: { ...checkpoint.channel_versions, ...newVersions },
      channel_values: { ...checkpoint.channel_values, messages },
    };
    const config = await checkpointer.put(
      parent,
      next,
      { source: "update", step, parents: {} },
      newVersions,
    );
    if (raw) await checkpointer.putWrites(parent, [["messages", [raw]]], randomUUID());
    parent = config;
    checkpoint = next;
  }
  await threads.refresh(await threads.require(anonymousCaller, threadId));
  console.log(
    `  built thread ${threadId}: ${CHECKPOINTS} checkpoints in ${formatMs(performance.now() - t0)} ` +
      `(createThread with ${first} supersteps: ${formatMs(tFirst)}; the rest straight to the checkpointer)`,
  );
  return threadId;
}

async function partB(running: RunningServer, ours: HttpClient) {
  const threadId = await buildThread(running, ours);
  const { raw, data } = graphql(ours);
  const { rows } = await running.services.db.pool.query<{ checkpoint_id: string; n: string }>(
    `SELECT checkpoint_id, count(*) OVER () AS n FROM checkpoint
     WHERE thread_id = $1 AND checkpoint_ns = '' ORDER BY checkpoint_id DESC`,
    [threadId],
  );
  const total = Number(rows[0]?.n ?? 0);
  const deepIndex = Math.max(0, Math.min(DEEP, rows.length - 11));
  const deep = rows[deepIndex]!.checkpoint_id;
  const state = await data<{ thread: { state: { values: { messages: unknown[] } } } }>(
    "query ($id: ID!) { thread(id: $id) { state { values } } }",
    { id: threadId },
  );
  console.log(
    `  ${total} checkpoints in the thread; latest state holds ${state.thread.state.values.messages.length} messages; deep page: before the checkpoint ${deepIndex} back (${deep})`,
  );

  const history = (before?: string) =>
    before
      ? `query ($id: ID!) { thread(id: $id) { history(first: 10, before: {checkpointId: "${before}"}) { values checkpoint { checkpointId } } } }`
      : "query ($id: ID!) { thread(id: $id) { history(first: 10) { values checkpoint { checkpointId } } } }";
  const cases: Array<{ scenario: string; query: string }> = [
    { scenario: "history(first: 10), newest page", query: history() },
    { scenario: `history(first: 10, before: ${deepIndex} back)`, query: history(deep) },
    {
      scenario: "history(first: 10) ids only (no values)",
      query:
        "query ($id: ID!) { thread(id: $id) { history(first: 10) { checkpoint { checkpointId } } } }",
    },
    {
      scenario: "state { values }",
      query: "query ($id: ID!) { thread(id: $id) { state { values } } }",
    },
  ];

  const out: Row[] = [];
  for (const c of cases) {
    // The first request of a page finds nothing decoded yet in the thread service's reader.
    const t0 = performance.now();
    const body = await raw(c.query, { id: threadId });
    const first = performance.now() - t0;
    const parsed = JSON.parse(body) as GraphQLResponse<{
      thread: { history?: Array<{ values: { messages: unknown[] } }> };
    }>;
    const page = parsed.data?.thread.history;
    if (page && page.length !== 10) throw new Error(`${c.scenario}: ${page.length} states`);
    for (let i = 0; i < 5; i++) await raw(c.query, { id: threadId });
    const s = summarize(await timeSequential(PAGE_REQUESTS, () => raw(c.query, { id: threadId })));
    out.push({
      scenario: `GraphQL ${c.scenario}`,
      first,
      n: s.n,
      p50: s.p50,
      p99: s.p99,
      mean: s.mean,
      response: formatBytes(Buffer.byteLength(body)),
      messages: page?.[0]?.values?.messages?.length ?? "-",
    });
  }

  // The floor: serialising the newest page's response and parsing it again, which any server and
  // client pair pays for this much JSON.
  const newestBody = await raw(cases[0]!.query, { id: threadId });
  const floor = summarize(
    await timeSequential(SPLIT_REQUESTS, async () => JSON.stringify(JSON.parse(newestBody))),
  );
  out.push({
    scenario: "floor: JSON.parse + JSON.stringify of the newest page",
    n: floor.n,
    p50: floor.p50,
    p99: floor.p99,
    mean: floor.mean,
    response: formatBytes(Buffer.byteLength(newestBody)),
    messages: "-",
  });

  // The split: the same newest page without GraphQL/HTTP, and without state assembly.
  const { threads, checkpointer } = running.services;
  const thread = await threads.require(anonymousCaller, threadId);
  const service = () => threads.history(anonymousCaller, thread, { first: 10 });
  for (let i = 0; i < 5; i++) await service();
  const svc = summarize(await timeSequential(SPLIT_REQUESTS, service));
  out.push({
    scenario: "service threads.history(first: 10) (no GraphQL)",
    n: svc.n,
    p50: svc.p50,
    p99: svc.p99,
    mean: svc.mean,
    response: "-",
    messages: "-",
  });
  const list = async () => {
    let count = 0;
    for await (const _ of checkpointer.list(
      { configurable: { thread_id: threadId, checkpoint_ns: "" } },
      { limit: 10 },
    )) {
      count++;
    }
    return count;
  };
  for (let i = 0; i < 5; i++) await list();
  const cp = summarize(await timeSequential(SPLIT_REQUESTS, list));
  out.push({
    scenario: "checkpointer.list(limit: 10) (no state assembly)",
    n: cp.n,
    p50: cp.p50,
    p99: cp.p99,
    mean: cp.mean,
    response: "-",
    messages: "-",
  });

  console.log();
  printTable(out, {
    title: `M8 history at ${total} checkpoints and ${state.thread.state.values.messages.length} messages (~300 B each), sequential, after 5 warm-up requests`,
    columns: [
      "scenario",
      ms("first", "first (cold)"),
      "n",
      ms("p50"),
      ms("p99"),
      ms("mean"),
      "response",
      "messages",
    ],
  });
  const newest = out[0]!.p50 as number;
  const deepP50 = out[1]!.p50 as number;
  console.log(
    `targets: 10-state history page <= 20 ms at ${total} checkpoints: newest ${newest <= 20 ? "MET" : "MISSED"} (p50 ${formatMs(newest)}), deep ${deepP50 <= 20 ? "MET" : "MISSED"} (p50 ${formatMs(deepP50)})`,
  );
}

// --- main --------------------------------------------------------------------------------------

async function main() {
  const serverUrl = env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  let db: ScratchDatabase | null = null;
  let running: RunningServer | null = null;
  let bare: BareYoga | null = null;
  const clients: HttpClient[] = [];
  try {
    db = await createScratchDatabase(serverUrl, "bench_queries");
    const t0 = performance.now();
    running = await startOurs(db.url);
    bare = await startBareYoga();
    console.log(
      `ours at ${running.url} (database ${db.name}, started in ${formatMs(performance.now() - t0)}); bare yoga at ${bare.url}; node ${process.version}; ${loadAverage()}`,
    );
    const ours = createHttpClient(running.url!);
    const yoga0 = createHttpClient(bare.url);
    clients.push(ours, yoga0);

    if (PARTS.includes("a")) {
      console.log("\n(a) small query");
      await partA(ours, yoga0);
    }
    if (PARTS.includes("b")) {
      console.log("\n(b) history");
      await partB(running, ours);
    }
    console.log(`\n${loadAverage()} at the end`);
  } finally {
    for (const client of clients) client.close();
    await bare?.stop().catch((error) => console.error("bare yoga stop failed", error));
    await running?.stop().catch((error) => console.error("server stop failed", error));
    await db?.drop().catch((error) => console.error("dropping the scratch database failed", error));
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
