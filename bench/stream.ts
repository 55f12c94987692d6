/**
 * M2, M3, M4, M10 and Postgres work per run: streaming subscriptions, our server against the
 * official dev server (PEER), bare graphql-yoga + graphql-ws (YOGA0) and in-process LangGraph
 * (FLOOR), in one run.
 *
 *   npm run bench:stream        # DATABASE_URL, or postgresql://postgres@127.0.0.1:5432/postgres
 *
 * Every server runs in its own process, the load generator (this process) apart: ours is
 * `langgraph-gql start` (API and worker in one process, so subscribers get events from memory) on a
 * scratch database dropped at the end; YOGA0 is this file re-run with --bare-yoga (driven over
 * IPC); the peer is `langgraphjs dev`. Latencies therefore include a real socket hop, as clients
 * see them. Emit times come from `performance.timeOrigin + performance.now()` in the emitting
 * process, comparable across processes on one host.
 *
 * 1. M2 time to first token: TTFT_RUNS sequential runs of the `tokens` graph (20 tokens), each a
 *    new stateless run streamed with `streamRun` (graphql-ws); submit -> first MessageEvent. PEER:
 *    POST /runs/stream (messages-tuple); FLOOR: graph.stream in-process, no checkpointer. OURS and
 *    FLOOR are measured after TTFT_WARMUP runs, a server in steady state: a process that has
 *    served only a few dozen runs still runs part of the path unoptimised by V8 (measured: p50
 *    5.6 ms after 10 warm-up runs, 3.8 ms after 200, on the same machine minutes apart). The peer
 *    gets 2 (each of its streams takes ~0.6 s).
 * 2. M3 emit -> client latency: the `ticker` graph emits TICKS custom events 1 ms apart, each
 *    carrying its emit time; the client subtracts it from the receipt time (the first 10% are
 *    warm-up). Ours over graphql-ws and SSE, PEER over SSE, YOGA0 publishing {seq, t} on the same
 *    1 ms timer over graphql-ws and SSE.
 * 3. M4 tokens/s to one subscriber: an unpaced TOKENS-token run, first -> last token at the client;
 *    every token checked present and in order. Ours over graphql-ws and SSE, PEER, FLOOR.
 * 4. M10 fan-out: FANOUT subscribers, one graphql-ws connection each. Ours: `threadEvents` on one
 *    thread (a one-event run first proves every subscription is live), then a `ticker` run on it
 *    emitting FANOUT_EVENTS unpaced custom events; YOGA0: the same count through its pubsub.
 *    Deliveries/s = subscribers x events / (first emit -> last receipt).
 * 5. Postgres per run: one `tokens` run (PG_TOKENS tokens, MESSAGES) on a thread, with our server
 *    started in this process for once so that every statement on its pool can be counted: commits
 *    for the whole run, and the event log's batches among them.
 *
 * Env: DATABASE_URL, TTFT_RUNS (100), TTFT_WARMUP (200), TICKS (2000), TOKENS (5000), FANOUT (1000), FANOUT_EVENTS
 * (100), PG_TOKENS (1000), PEER (1; 0 skips the peer), PARTS (12345: the sections above to run),
 * LOG_LEVEL (error).
 */
import { spawn } from "node:child_process";
import { setMaxListeners } from "node:events";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { type Client, createClient } from "graphql-ws";
import type pg from "pg";
import WebSocket from "ws";
import { startServer } from "../src/app.ts";
import { anonymousCaller } from "../src/auth/caller.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import type { StreamModeName } from "../src/runs/service.ts";
import { type Tick, tokens as tokensGraph, tokenText } from "./graphs.ts";
import { type BareYoga, startBareYoga } from "./lib/bare-yoga.ts";
import { createHttpClient } from "./lib/load.ts";
import { type ServerProcess as Server, startOursProcess, stopChild } from "./lib/ours-process.ts";
import { type PeerDevServer, startPeerDevServer } from "./lib/peer-dev-server.ts";
import { countStatements, createScratchDatabase, DEFAULT_DATABASE_URL } from "./lib/pg.ts";
import { parseSse } from "./lib/sse.ts";
import { ms, printTable, type Row, rate, summarize } from "./lib/stats.ts";

const env = process.env;
const TTFT_RUNS = Number(env.TTFT_RUNS ?? 100);
const TTFT_WARMUP = Number(env.TTFT_WARMUP ?? 200);
const TICKS = Number(env.TICKS ?? 2000);
const TOKENS = Number(env.TOKENS ?? 5000);
const FANOUT = Number(env.FANOUT ?? 1000);
const FANOUT_EVENTS = Number(env.FANOUT_EVENTS ?? 100);
const PG_TOKENS = Number(env.PG_TOKENS ?? 1000);
const WITH_PEER = env.PEER !== "0";
/** Sections to run, by number (M2 is 1 ... Postgres per run is 5): "15" runs TTFT and PG only. */
const PARTS = env.PARTS ?? "12345";
const part = (n: number) => PARTS.includes(String(n));
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CONFIG_FILE = fileURLToPath(new URL("./langgraph.json", import.meta.url));
const THIS_FILE = fileURLToPath(import.meta.url);

const now = () => performance.timeOrigin + performance.now();
const sleep = (msecs: number) => new Promise((r) => setTimeout(r, msecs));

const STREAM_TOKENS = /* GraphQL */ `
  subscription ($input: RunInput!) {
    streamRun(input: $input) {
      __typename
      ... on MessageEvent { message { text } }
      ... on RunEndedEvent { status }
    }
  }`;

const STREAM_TICKS = /* GraphQL */ `
  subscription ($input: RunInput!) {
    streamRun(input: $input) { __typename ... on CustomEvent { data } }
  }`;

const THREAD_TICKS = /* GraphQL */ `
  subscription ($threadId: ID!) {
    threadEvents(threadId: $threadId, streamMode: [CUSTOM]) {
      __typename ... on CustomEvent { id data }
    }
  }`;

const BARE_EVENTS = "subscription { events { seq t } }";

interface Result {
  data?: Record<string, Record<string, unknown>> | null;
  errors?: unknown;
}

/** Subscribes over graphql-ws; `onData` sees each result's root field; resolves on complete. */
function wsStream(
  client: Client,
  query: string,
  variables: Record<string, unknown>,
  onData: (value: Record<string, unknown>) => void,
): Promise<void> {
  return new Promise((resolveDone, reject) => {
    client.subscribe(
      { query, variables },
      {
        next(result: Result) {
          if (result.errors) reject(new Error(JSON.stringify(result.errors)));
          const value = result.data && Object.values(result.data)[0];
          if (value) onData(value);
        },
        error: reject,
        complete: () => resolveDone(),
      },
    );
  });
}

/** The same over yoga's SSE (graphql-sse distinct connections): POST, text/event-stream. */
async function sseStream(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  onData: (value: Record<string, unknown>) => void,
): Promise<void> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ query, variables }),
  });
  if (!response.ok || !response.body) throw new Error(`SSE ${response.status}`);
  for await (const event of parseSse(response.body as unknown as AsyncIterable<Uint8Array>)) {
    if (event.event === "complete") return;
    if (event.event !== "next") continue;
    const result = JSON.parse(event.data) as Result;
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    const value = result.data && Object.values(result.data)[0];
    if (value) onData(value);
  }
}

function wsClient(url: string): Client {
  return createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
}

async function graphql<T>(url: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const result = (await response.json()) as { data?: T; errors?: unknown };
  if (result.errors || !result.data) throw new Error(JSON.stringify(result.errors));
  return result.data;
}

function latencyRow(subject: string, transport: string, values: number[]): Row {
  const s = summarize(values);
  return { subject, transport, n: s.n, p50: s.p50, p90: s.p90, p99: s.p99, max: s.max };
}

// --- subjects in their own processes ------------------------------------------------------------

/** OURS: `langgraph-gql start` with bench/langgraph.json (API and worker in one process). */
function startOurs(databaseUrl: string): Promise<Server> {
  return startOursProcess(databaseUrl, CONFIG_FILE);
}

interface BareProcess extends Server {
  /** Publishes `count` events {seq, t}, `intervalMs` apart (0: in one go). */
  emit(count: number, intervalMs: number): Promise<void>;
  waitForSubscribers(n: number): Promise<void>;
}

/** YOGA0 in a child process (this file with --bare-yoga), driven over IPC. */
async function startBareProcess(): Promise<BareProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", THIS_FILE, "--bare-yoga"], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    cwd: ROOT,
  });
  const replies: Array<(message: Record<string, unknown>) => void> = [];
  child.on("message", (message) => replies.shift()?.(message as Record<string, unknown>));
  const ask = (message: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolveReply) => {
      replies.push(resolveReply);
      child.send(message);
    });
  const ready = await ask({ cmd: "start" });
  return {
    url: String(ready.url),
    graphqlUrl: String(ready.graphqlUrl),
    wsUrl: String(ready.wsUrl),
    emit: async (count, intervalMs) => void (await ask({ cmd: "emit", count, intervalMs })),
    waitForSubscribers: async (n) => void (await ask({ cmd: "wait", n })),
    stop: async () => {
      await ask({ cmd: "stop" });
      await stopChild(child);
    },
  };
}

async function serveBare(): Promise<void> {
  let yoga: BareYoga | null = null;
  process.on(
    "message",
    async (message: { cmd: string; count?: number; intervalMs?: number; n?: number }) => {
      if (message.cmd === "start") {
        yoga = await startBareYoga();
        process.send?.({ url: yoga.url, graphqlUrl: yoga.graphqlUrl, wsUrl: yoga.wsUrl });
      } else if (message.cmd === "wait") {
        await yoga!.waitForSubscribers(message.n!, 120_000);
        process.send?.({});
      } else if (message.cmd === "emit") {
        // The same pacing as the ticker node: a timer between events.
        for (let seq = 0; seq < message.count!; seq++) {
          if (seq > 0 && message.intervalMs! > 0) await sleep(message.intervalMs!);
          yoga!.emit({ seq, t: now() });
        }
        process.send?.({});
      } else if (message.cmd === "stop") {
        await yoga?.stop();
        process.send?.({});
        process.exit(0);
      }
    },
  );
}

// --- 1. time to first token ---------------------------------------------------------------------

async function ttftOurs(client: Client): Promise<{ first: number[]; end: number[] }> {
  const first: number[] = [];
  const end: number[] = [];
  const input = {
    assistantId: "tokens",
    input: {},
    config: { configurable: { tokens: 20 } },
    streamMode: ["MESSAGES"],
  };
  for (let i = 0; i < TTFT_RUNS + TTFT_WARMUP; i++) {
    const begin = performance.now();
    let firstAt = -1;
    await wsStream(client, STREAM_TOKENS, { input }, (event) => {
      if (firstAt < 0 && event.__typename === "MessageEvent") firstAt = performance.now();
    });
    if (i < TTFT_WARMUP) continue;
    first.push(firstAt - begin);
    end.push(performance.now() - begin);
  }
  return { first, end };
}

async function ttftPeer(peer: PeerDevServer): Promise<number[]> {
  const http = createHttpClient(peer.url);
  const first: number[] = [];
  const runs = Math.min(TTFT_RUNS, 30); // ~0.6 s each: the peer ends streams on a 500 ms timeout
  for (let i = 0; i < runs + 2; i++) {
    const begin = performance.now();
    const res = await http.stream("POST", "/runs/stream", {
      assistant_id: "tokens",
      input: { messages: [] },
      config: { configurable: { tokens: 20 } },
      stream_mode: ["messages-tuple"],
    });
    let firstAt = -1;
    for await (const event of parseSse(res)) {
      if (firstAt < 0 && event.event === "messages") firstAt = performance.now();
    }
    if (i >= 2) first.push(firstAt - begin);
  }
  http.close();
  return first;
}

async function ttftFloor(): Promise<number[]> {
  const first: number[] = [];
  for (let i = 0; i < TTFT_RUNS + TTFT_WARMUP; i++) {
    const begin = performance.now();
    let firstAt = -1;
    const stream = await tokensGraph.stream(
      { messages: [] },
      { streamMode: "messages", configurable: { tokens: 20 } },
    );
    for await (const _chunk of stream) if (firstAt < 0) firstAt = performance.now();
    if (i >= TTFT_WARMUP) first.push(firstAt - begin);
  }
  return first;
}

// --- 2. emit -> client latency ------------------------------------------------------------------

const tickerInput = (count: number, intervalMs: number) => ({
  assistantId: "ticker",
  input: {},
  config: { configurable: { count, intervalMs } },
  streamMode: ["CUSTOM"],
});

function tickLatencies() {
  const seen: number[] = [];
  return {
    record: (tick: Tick) => void seen.push(now() - tick.t),
    count: () => seen.length,
    values: () => seen.slice(Math.floor(seen.length / 10)),
  };
}

async function latencyOurs(server: Server, transport: "ws" | "sse", client: Client) {
  const lat = tickLatencies();
  const onData = (event: Record<string, unknown>) => {
    if (event.__typename === "CustomEvent") lat.record(event.data as Tick);
  };
  const variables = { input: tickerInput(TICKS, 1) };
  if (transport === "ws") await wsStream(client, STREAM_TICKS, variables, onData);
  else await sseStream(server.graphqlUrl, STREAM_TICKS, variables, onData);
  return lat.values();
}

async function latencyPeer(peer: PeerDevServer): Promise<number[]> {
  const http = createHttpClient(peer.url);
  const lat = tickLatencies();
  const res = await http.stream("POST", "/runs/stream", {
    assistant_id: "ticker",
    input: {},
    config: { configurable: { count: TICKS, intervalMs: 1 } },
    stream_mode: ["custom"],
  });
  for await (const event of parseSse(res)) {
    if (event.event === "custom") lat.record(JSON.parse(event.data) as Tick);
  }
  http.close();
  return lat.values();
}

async function latencyBare(bare: BareProcess, transport: "ws" | "sse"): Promise<number[]> {
  const lat = tickLatencies();
  const onData = (event: Record<string, unknown>) => lat.record(event as unknown as Tick);
  const client = transport === "ws" ? wsClient(bare.wsUrl) : null;
  const done =
    transport === "ws"
      ? wsStream(client!, BARE_EVENTS, {}, onData)
      : sseStream(bare.graphqlUrl, BARE_EVENTS, {}, onData);
  let failed: unknown = null;
  done.catch((error) => (failed = error));
  await bare.waitForSubscribers(1);
  await bare.emit(TICKS, 1);
  // Bounded: a dropped stream or a lost event must fail the bench, not hang it.
  for (let idle = 0, seen = 0; lat.count() < TICKS && failed === null; await sleep(5)) {
    idle = lat.count() === seen ? idle + 5 : 0;
    seen = lat.count();
    if (idle > 5_000) failed = new Error(`${TICKS - seen} events never arrived`);
  }
  await client?.dispose();
  // The baseline's own loss is reported, not fatal: the figures of the other subjects still stand.
  if (failed !== null) {
    const reason =
      failed instanceof Error ? failed.message : `closed (${(failed as { code?: number }).code})`;
    console.log(`YOGA0 over ${transport}: ${reason}; the row shows what arrived`);
  }
  return lat.values();
}

// --- 3. tokens/s --------------------------------------------------------------------------------

interface Throughput {
  tokens: number;
  inOrder: boolean;
  firstToLastMs: number;
}

function tokenCounter() {
  let count = 0;
  let inOrder = true;
  let firstAt = 0;
  let lastAt = 0;
  return {
    token(text: string) {
      if (!text) return;
      if (text !== tokenText(count)) inOrder = false;
      if (count === 0) firstAt = performance.now();
      lastAt = performance.now();
      count++;
    },
    result: (): Throughput => ({ tokens: count, inOrder, firstToLastMs: lastAt - firstAt }),
  };
}

async function throughputOurs(server: Server, transport: "ws" | "sse", client: Client) {
  const counter = tokenCounter();
  const input = {
    assistantId: "tokens",
    input: {},
    config: { configurable: { tokens: TOKENS } },
    streamMode: ["MESSAGES"],
  };
  const onData = (event: Record<string, unknown>) => {
    if (event.__typename === "MessageEvent") {
      counter.token(String((event.message as { text: string }).text));
    }
  };
  if (transport === "ws") await wsStream(client, STREAM_TOKENS, { input }, onData);
  else await sseStream(server.graphqlUrl, STREAM_TOKENS, { input }, onData);
  return counter.result();
}

async function throughputPeer(peer: PeerDevServer): Promise<Throughput> {
  const http = createHttpClient(peer.url);
  const counter = tokenCounter();
  const res = await http.stream("POST", "/runs/stream", {
    assistant_id: "tokens",
    input: { messages: [] },
    config: { configurable: { tokens: TOKENS } },
    stream_mode: ["messages-tuple"],
  });
  for await (const event of parseSse(res)) {
    if (event.event === "messages") {
      counter.token((JSON.parse(event.data) as [{ content: string }])[0].content);
    }
  }
  http.close();
  return counter.result();
}

async function throughputFloor(): Promise<Throughput> {
  const counter = tokenCounter();
  const stream = await tokensGraph.stream(
    { messages: [] },
    { streamMode: "messages", configurable: { tokens: TOKENS } },
  );
  for await (const [chunk] of stream) counter.token(String(chunk.content));
  return counter.result();
}

// --- 4. fan-out ---------------------------------------------------------------------------------

interface FanOut {
  deliveries: number;
  expected: number;
  seconds: number;
  latencies: number[];
}

async function connectAll(url: string, count: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, () => wsClient(url));
    await Promise.all(
      batch.map(
        (client) =>
          new Promise<void>((resolveOpen, reject) => {
            const off = client.on("connected", () => {
              off();
              resolveOpen();
            });
            client.on("error", reject);
          }),
      ),
    );
    clients.push(...batch);
  }
  return clients;
}

function fanOutCounter(expected: number) {
  const latencies: number[] = [];
  let deliveries = 0;
  let firstEmit = Number.POSITIVE_INFINITY;
  let lastReceipt = 0;
  return {
    record(t: number) {
      const at = now();
      latencies.push(at - t);
      firstEmit = Math.min(firstEmit, t);
      lastReceipt = Math.max(lastReceipt, at);
      deliveries++;
    },
    async done(): Promise<FanOut> {
      const deadline = performance.now() + 120_000;
      while (deliveries < expected && performance.now() < deadline) await sleep(20);
      return { deliveries, expected, seconds: (lastReceipt - firstEmit) / 1000, latencies };
    },
  };
}

async function fanOutOurs(server: Server): Promise<FanOut> {
  const { createThread } = await graphql<{ createThread: { id: string } }>(
    server.graphqlUrl,
    "mutation { createThread { id } }",
  );
  const threadId = createThread.id;
  const clients = await connectAll(server.wsUrl, FANOUT);
  let warmedUp = 0;
  let measuring = false;
  const counter = fanOutCounter(FANOUT * FANOUT_EVENTS);
  for (const client of clients) {
    wsStream(client, THREAD_TICKS, { threadId }, (event) => {
      if (event.__typename === "RunEndedEvent" && !measuring) warmedUp++;
      if (event.__typename === "CustomEvent" && measuring) counter.record((event.data as Tick).t);
    }).catch(() => undefined);
  }
  const createRun = (count: number) =>
    graphql(server.graphqlUrl, "mutation ($input: RunInput!) { createRun(input: $input) { id } }", {
      input: { ...tickerInput(count, 0), threadId },
    });
  // A one-event run first: once every subscriber saw its end, every subscription is live.
  await createRun(1);
  while (warmedUp < FANOUT) await sleep(20);
  measuring = true;
  await createRun(FANOUT_EVENTS);
  const result = await counter.done();
  await Promise.all(clients.map((c) => c.dispose()));
  return result;
}

async function fanOutBare(bare: BareProcess): Promise<FanOut> {
  const clients = await connectAll(bare.wsUrl, FANOUT);
  const counter = fanOutCounter(FANOUT * FANOUT_EVENTS);
  for (const client of clients) {
    wsStream(client, BARE_EVENTS, {}, (event) => counter.record(event.t as number)).catch(
      () => undefined,
    );
  }
  await bare.waitForSubscribers(FANOUT);
  await bare.emit(FANOUT_EVENTS, 0);
  const result = await counter.done();
  await Promise.all(clients.map((c) => c.dispose()));
  return result;
}

// --- 5. Postgres per run ------------------------------------------------------------------------

/**
 * One run on our server started in this process (the child is stopped first, so no other worker
 * takes it), with every statement on its pool counted: that pool carries Prisma and all raw SQL,
 * pg-boss aside (its job fetch and completion, a handful per run, use their own pool).
 * pg_stat_database is not used: backends report their counters up to seconds late.
 */
async function postgresPerRun(databaseUrl: string) {
  const config = loadConfig({
    argv: ["start", "--config", CONFIG_FILE],
    env: { DATABASE_URL: databaseUrl, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "error" },
  });
  const server = await startServer(config, createLogger(config.logLevel));
  try {
    const counter = countStatements(server.services.db.pool);
    let batches = 0;
    server.services.db.pool.on("acquire", (poolClient) => {
      const tagged = poolClient as pg.PoolClient & { benchCounted?: boolean };
      if (tagged.benchCounted) return;
      tagged.benchCounted = true;
      const query = poolClient.query.bind(poolClient) as (...args: unknown[]) => unknown;
      (poolClient as unknown as { query: typeof query }).query = (...args) => {
        const first = args[0];
        // A statement is a string or a query config (named, prepared statements).
        const text = typeof first === "string" ? first : ((first as { text?: string })?.text ?? "");
        if (text.includes("INSERT INTO run_event")) batches++;
        return query(...args);
      };
    });
    const client = wsClient(`${server.url!.replace(/^http/, "ws")}/graphql`);
    const thread = await server.services.threads.create(anonymousCaller, { metadata: {} });
    const input = {
      threadId: thread.id,
      assistantId: "tokens",
      input: {},
      config: { configurable: { tokens: PG_TOKENS } },
      streamMode: ["MESSAGES"] as StreamModeName[],
    };
    // Warm-up (the graph module, the pool's connections), then the measured run.
    await wsStream(client, STREAM_TOKENS, { input }, () => {});
    await sleep(200);
    counter.reset();
    batches = 0;
    let events = 0;
    let tokens = 0;
    await wsStream(client, STREAM_TOKENS, { input }, (event) => {
      events++;
      if (event.__typename === "MessageEvent" && (event.message as { text: string }).text) tokens++;
    });
    await sleep(200); // the run's last statements (after its end event) settle
    const counted = counter.read();
    await client.dispose();
    return { tokens, events, ...counted, batches };
  } finally {
    await server.stop();
  }
}

// --- main ---------------------------------------------------------------------------------------

async function main() {
  // A thousand WebSocket clients in one process trip Node's listener-leak heuristic.
  setMaxListeners(10_000);
  const serverUrl = env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const scratch = await createScratchDatabase(serverUrl, "bench_stream");
  let ours: Server | null = null;
  let peer: PeerDevServer | null = null;
  let bare: BareProcess | null = null;
  try {
    ours = await startOurs(scratch.url);
    const client = wsClient(ours.wsUrl);
    bare = await startBareProcess();
    if (WITH_PEER) peer = await startPeerDevServer({ port: 0 });
    console.log(`ours ${ours.url}, YOGA0 ${bare.url}${peer ? `, peer ${peer.url}` : ""}\n`);

    if (part(1)) {
      // 1. TTFT
      const oursTtft = await ttftOurs(client);
      const rows1: Row[] = [
        latencyRow("OURS streamRun, first token", "graphql-ws", oursTtft.first),
        latencyRow("OURS streamRun, RunEndedEvent", "graphql-ws", oursTtft.end),
      ];
      if (peer)
        rows1.push(latencyRow("PEER /runs/stream, first token", "SSE", await ttftPeer(peer)));
      rows1.push(latencyRow("FLOOR graph.stream, first token", "in-process", await ttftFloor()));
      printTable(rows1, {
        title: `M2 time to first token: tokens graph (20 tokens), sequential, new stateless run each, after ${TTFT_WARMUP} warm-up runs`,
        columns: ["subject", "transport", "n", ms("p50"), ms("p90"), ms("p99"), ms("max")],
        ratio: { key: "p50", baseline: 0, direction: "value/baseline", label: "p50 / OURS" },
      });
      console.log("target: OURS p50 <= 5 ms, p99 <= 20 ms\n");
    }
    if (part(2)) {
      // 2. emit -> client latency
      const rows2: Row[] = [
        latencyRow(
          "OURS ticker (custom events)",
          "graphql-ws",
          await latencyOurs(ours, "ws", client),
        ),
        latencyRow("OURS ticker (custom events)", "SSE", await latencyOurs(ours, "sse", client)),
      ];
      if (peer) rows2.push(latencyRow("PEER ticker (custom)", "SSE", await latencyPeer(peer)));
      rows2.push(latencyRow("YOGA0 pubsub emit", "graphql-ws", await latencyBare(bare, "ws")));
      rows2.push(latencyRow("YOGA0 pubsub emit", "SSE", await latencyBare(bare, "sse")));
      printTable(rows2, {
        title: `M3 emit -> client latency at 1 event/ms (${TICKS} events, first 10% dropped)`,
        columns: ["subject", "transport", "n", ms("p50"), ms("p90"), ms("p99"), ms("max")],
        ratio: { key: "p50", baseline: 0, direction: "value/baseline", label: "p50 / OURS ws" },
      });
      console.log("target: OURS p50 < 0.5 ms, p99 < 3 ms\n");
    }
    if (part(3)) {
      // 3. tokens/s
      const tput = (subject: string, transport: string, t: Throughput): Row => ({
        subject,
        transport,
        tokens: t.tokens,
        lost: TOKENS - t.tokens,
        "in order": t.inOrder ? "yes" : "NO",
        ms: t.firstToLastMs,
        rate: (t.tokens / t.firstToLastMs) * 1000,
      });
      await throughputOurs(ours, "ws", client); // warm-up
      const rows3: Row[] = [
        tput("FLOOR graph.stream", "in-process", await throughputFloor()),
        tput("OURS streamRun", "graphql-ws", await throughputOurs(ours, "ws", client)),
        tput("OURS streamRun", "SSE", await throughputOurs(ours, "sse", client)),
      ];
      if (peer) rows3.push(tput("PEER /runs/stream", "SSE", await throughputPeer(peer)));
      printTable(rows3, {
        title: `M4 tokens/s to one subscriber: unpaced ${TOKENS}-token run, first -> last token`,
        columns: ["subject", "transport", "tokens", "lost", "in order", ms("ms"), rate("rate")],
        ratio: { key: "rate", baseline: 0, direction: "value/baseline", label: "vs FLOOR" },
      });
      console.log("target: OURS >= 10k tokens/s, none lost, in order\n");
    }
    if (peer) {
      await peer.stop();
      peer = null;
    }

    if (part(4)) {
      // 4. fan-out
      const fan = (subject: string, f: FanOut): Row => {
        const s = summarize(f.latencies);
        return {
          subject,
          subscribers: FANOUT,
          events: FANOUT_EVENTS,
          delivered: `${f.deliveries}/${f.expected}`,
          rate: f.deliveries / f.seconds,
          p50: s.p50,
          p99: s.p99,
        };
      };
      const bareFan = await fanOutBare(bare);
      const oursFan = await fanOutOurs(ours);
      printTable(
        [
          fan("YOGA0 graphql-ws + createPubSub", bareFan),
          fan("OURS threadEvents (CUSTOM)", oursFan),
        ],
        {
          title: `M10 fan-out: ${FANOUT} graphql-ws connections x 1 subscription, ${FANOUT_EVENTS} unpaced events`,
          columns: [
            "subject",
            "subscribers",
            "events",
            "delivered",
            rate("rate"),
            ms("p50"),
            ms("p99"),
          ],
          ratio: { key: "rate", baseline: 0, direction: "value/baseline", label: "vs YOGA0" },
        },
      );
      console.log("target: OURS deliveries/s >= YOGA0\n");
    }
    await client.dispose();
    await ours.stop();
    ours = null;

    if (part(5)) {
      // 5. Postgres per run
      const perRun = await postgresPerRun(scratch.url);
      printTable(
        [
          { what: "tokens streamed (MessageEvents with text)", value: perRun.tokens },
          { what: "events delivered (all kinds)", value: perRun.events },
          { what: "statements on our pool (whole run)", value: perRun.statements },
          {
            what: "commits on our pool (create, claim, checkpoints, end, stream)",
            value: perRun.commits,
          },
          { what: "  of which event-log batches (INSERT INTO run_event)", value: perRun.batches },
        ],
        { title: `Postgres per run: one tokens run of ${PG_TOKENS} tokens (MESSAGES) on a thread` },
      );
      console.log(
        `events per event-log commit: ${(perRun.events / Math.max(1, perRun.batches)).toFixed(1)} (one commit per token would be ${perRun.events} commits)`,
      );
    }
  } finally {
    await peer?.stop();
    await bare?.stop();
    await ours?.stop();
    await scratch.drop();
  }
}

if (process.argv.includes("--bare-yoga")) {
  void serveBare();
} else {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
