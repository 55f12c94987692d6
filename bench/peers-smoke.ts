/**
 * Smoke test of the side-by-side benchmark infrastructure: `npx tsx bench/peers-smoke.ts`.
 *
 * 1. Starts the official dev server (PEER) from bench/peers, creates a thread, runs `one_node`
 *    with `POST /threads/{id}/runs/wait` 20 times sequentially (after 1 warm-up run) and streams
 *    the `tokens` graph a few times over SSE (checking every token arrives in order).
 * 2. Runs the same `one_node` graph in-process without a checkpointer (FLOOR), imported through
 *    both paths (bench/graphs.ts and bench/peers/graphs.ts) to prove they load in this project.
 * 3. Starts bare yoga (YOGA0) and times 2000 sequential small queries (GET and POST).
 *
 * Env: PEER_PORT (default 0 = a free port), RUNS (default 20), QUERIES (default 2000).
 */
import { HumanMessage } from "@langchain/core/messages";
import { ONE_NODE_REPLY, one_node as oneNodeBench, tokenText } from "./graphs.ts";
import { startBareYoga } from "./lib/bare-yoga.ts";
import { createHttpClient, timeSequential } from "./lib/load.ts";
import { startPeerDevServer } from "./lib/peer-dev-server.ts";
import { parseSse } from "./lib/sse.ts";
import { formatMs, ms, printTable, type Row, summarize } from "./lib/stats.ts";
import { one_node as oneNodePeer } from "./peers/graphs.ts";

const RUNS = Number(process.env.RUNS ?? 20);
const QUERIES = Number(process.env.QUERIES ?? 2000);
const STREAMS = 5;
const STREAM_TOKENS = 50;

interface WaitResult {
  messages?: Array<{ type?: string; content?: unknown }>;
}

function row(subject: string, scenario: string, latencies: number[]): Row {
  const s = summarize(latencies);
  return { subject, scenario, n: s.n, p50: s.p50, p90: s.p90, p99: s.p99, mean: s.mean };
}

async function main() {
  const rows: Row[] = [];

  // --- PEER ---------------------------------------------------------------------------------
  const t0 = performance.now();
  const peer = await startPeerDevServer({ port: Number(process.env.PEER_PORT ?? 0) });
  console.log(
    `peer ready at ${peer.url} in ${formatMs(performance.now() - t0)} (langgraph-api ${String(peer.info.version)}, langgraph ${String(peer.info.langgraph_js_version)}); work dir ${peer.workDir}`,
  );
  try {
    const client = createHttpClient(peer.url);
    const { thread_id } = await client.json<{ thread_id: string }>("POST", "/threads", {});
    const runOnce = async () => {
      const result = await client.json<WaitResult>("POST", `/threads/${thread_id}/runs/wait`, {
        assistant_id: "one_node",
        input: { messages: [{ role: "user", content: "hi" }] },
      });
      const last = result.messages?.at(-1);
      if (last?.content !== ONE_NODE_REPLY) {
        throw new Error(`unexpected /runs/wait result: ${JSON.stringify(result).slice(0, 300)}`);
      }
    };
    await runOnce(); // warm-up: first run loads the graph module in the worker
    rows.push(row("PEER", "one_node runs/wait (1 thread)", await timeSequential(RUNS, runOnce)));

    const ttft: number[] = [];
    const total: number[] = [];
    for (let i = 0; i < STREAMS; i++) {
      const begin = performance.now();
      const res = await client.stream("POST", "/runs/stream", {
        assistant_id: "tokens",
        input: { messages: [{ role: "user", content: "go" }] },
        config: { configurable: { tokens: STREAM_TOKENS } },
        stream_mode: ["messages-tuple"],
      });
      if (res.statusCode !== 200) throw new Error(`/runs/stream -> ${res.statusCode}`);
      let seen = 0;
      for await (const event of parseSse(res)) {
        if (event.event !== "messages") continue;
        const [chunk] = JSON.parse(event.data) as [{ content: string }];
        if (chunk.content !== tokenText(seen)) {
          throw new Error(`token ${seen}: got ${JSON.stringify(chunk.content)}`);
        }
        if (seen === 0) ttft.push(performance.now() - begin);
        seen++;
      }
      total.push(performance.now() - begin);
      if (seen !== STREAM_TOKENS) throw new Error(`streamed ${seen}/${STREAM_TOKENS} tokens`);
    }
    rows.push(row("PEER", `tokens(${STREAM_TOKENS}) stream: first token`, ttft));
    rows.push(row("PEER", `tokens(${STREAM_TOKENS}) stream: end`, total));
    client.close();
  } finally {
    await peer.stop();
  }

  // --- FLOOR: the same graph in-process, through both import paths --------------------------
  if (oneNodePeer !== oneNodeBench) {
    // Same module instance when bench/peers/graphs.ts re-exports bench/graphs.ts.
    throw new Error("bench/peers/graphs.ts does not re-export bench/graphs.ts");
  }
  const invokeOnce = async () => {
    const out = await oneNodePeer.invoke({ messages: [new HumanMessage("hi")] });
    if (out.messages.at(-1)?.content !== ONE_NODE_REPLY) throw new Error("bad in-process result");
  };
  await timeSequential(50, invokeOnce);
  rows.push(
    row("FLOOR", "one_node invoke (in-process)", await timeSequential(RUNS * 10, invokeOnce)),
  );

  // --- YOGA0 --------------------------------------------------------------------------------
  const yoga = await startBareYoga();
  try {
    const client = createHttpClient(yoga.url);
    const query = '{ thread(id: "t1") { id status } }';
    const getPath = `/graphql?query=${encodeURIComponent(query)}`;
    const expected = JSON.stringify({ data: { thread: { id: "t1", status: "idle" } } });
    const check = (body: string) => {
      if (body !== expected) throw new Error(`unexpected yoga response: ${body}`);
    };
    const get = async () => check((await client.request("GET", getPath)).body);
    const post = async () => check((await client.request("POST", "/graphql", { query })).body);
    await timeSequential(200, get);
    rows.push(row("YOGA0", "thread(id){id status} GET", await timeSequential(QUERIES, get)));
    await timeSequential(200, post);
    rows.push(row("YOGA0", "thread(id){id status} POST", await timeSequential(QUERIES, post)));
    client.close();
  } finally {
    await yoga.stop();
  }

  console.log();
  printTable(rows, {
    title: "peers smoke (sequential, 1 client; ratio = PEER runs/wait p50 / row p50)",
    columns: ["subject", "scenario", "n", ms("p50"), ms("p90"), ms("p99"), ms("mean")],
    ratio: { key: "p50", baseline: 0, label: "peer/row" },
  });
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
