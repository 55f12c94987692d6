import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { parse } from "graphql";
import WebSocket from "ws";
import {
  CreateRunDocument,
  CreateThreadDocument,
  RunEventsDocument,
  type RunInput,
  StreamRunDocument,
  ThreadEventsDocument,
} from "./gql/graphql.ts";
import { type Cli, cli, startWorker } from "./helpers/cli.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import {
  collect,
  type Event,
  ofType,
  streamClient,
  streamConfigFile,
  subscribe,
  type Transport,
} from "./stream-clients.ts";

/**
 * Streams across processes: this process serves the API without workers; runs execute in
 * `langgraph-gql worker` child processes on the same database, and reach subscribers here only
 * through the event log (NOTIFY, then a read of the batch).
 */

const configFile = streamConfigFile();
let api: TestServer;
const workers: Cli[] = [];
const clients = {} as Record<Transport, ReturnType<typeof streamClient>>;

beforeAll(async () => {
  api = await startTestServer({
    configFile,
    roles: { api: true, worker: false },
    env: { STREAM_KEEPALIVE_SECONDS: "0.2" },
  });
  clients.ws = streamClient("ws", api);
  clients.sse = streamClient("sse", api);
});

afterEach(async () => {
  for (const worker of workers.splice(0)) {
    worker.child.kill("SIGKILL");
    await worker.exited;
  }
});

afterAll(async () => {
  await clients.ws?.dispose();
  await clients.sse?.dispose();
  await api?.stop();
});

async function worker(env: Record<string, string> = {}) {
  const started = await startWorker(api.db.url, env, configFile);
  workers.push(started);
  return started;
}

const newThread = async () => (await api.query(CreateThreadDocument, {})).createThread.id;
const createRun = async (input: RunInput) =>
  (await api.query(CreateRunDocument, { input })).createRun;
const logged = (events: Event[]) =>
  events.map((e) => (e.__typename === "RunStartedEvent" ? { ...e, run: null } : e));

function expectIncreasing(events: Event[]) {
  const positions = events.map((e) => Number(e.id));
  for (let i = 1; i < positions.length; i++)
    expect(positions[i]).toBeGreaterThan(positions[i - 1]!);
}

describe.each(["ws", "sse"] as const)("over %s", (transport) => {
  it("a subscriber on the API process gets every token of a run executing in a worker", async () => {
    await worker();
    const events = await collect(clients[transport], StreamRunDocument, {
      input: {
        assistantId: "tokens",
        input: {},
        config: { configurable: { tokens: 300 } },
        streamMode: ["MESSAGES", "VALUES"],
      },
    });
    expect(events[0]!.__typename).toBe("RunStartedEvent");
    expect(events.at(-1)).toMatchObject({ __typename: "RunEndedEvent", status: "SUCCESS" });
    expectIncreasing(events);
    const tokens = ofType(events, "MessageEvent").map((m) => m.message.text);
    expect(tokens.filter(Boolean)).toEqual(Array.from({ length: 300 }, (_, i) => `tok${i} `));
    const replay = await collect(clients.ws, RunEventsDocument, { runId: events[0]!.runId });
    expect(logged(replay)).toEqual(logged(events));
  });
});

it("two joiners on the API process, while the run executes in a worker, each get every event", async () => {
  await worker();
  const run = await createRun({
    assistantId: "slow",
    input: {},
    config: { configurable: { steps: 6, delayMs: 30 } },
    streamMode: ["VALUES", "UPDATES"],
  });
  const [a, b] = await Promise.all([
    collect(clients.ws, RunEventsDocument, { runId: run.id }),
    collect(clients.sse, RunEventsDocument, { runId: run.id }),
  ]);
  expect(logged(a)).toEqual(logged(b));
  expect(ofType(a, "UpdatesEvent")).toHaveLength(6);
  expect(a.at(-1)).toMatchObject({ __typename: "RunEndedEvent", status: "SUCCESS" });
});

it("threadEvents follows queued runs executed in a worker, one after the other", async () => {
  await worker();
  const threadId = await newThread();
  const stream = subscribe(clients.ws, ThreadEventsDocument, { threadId });
  const input = { threadId, assistantId: "slow", input: {}, streamMode: ["UPDATES" as const] };
  const first = await createRun({ ...input, config: { configurable: { steps: 3, delayMs: 20 } } });
  const second = await createRun({ ...input, config: { configurable: { steps: 5, delayMs: 20 } } });
  await stream.until((events) => ofType(events, "RunEndedEvent").length === 2, "both runs");
  stream.stop();
  const runs = stream.events.map((e) => e.runId);
  const switchAt = runs.indexOf(second.id);
  expect(runs.slice(0, switchAt).every((id) => id === first.id)).toBe(true);
  expect(runs.slice(switchAt).every((id) => id === second.id)).toBe(true);
  expect(stream.events[switchAt - 1]!.__typename).toBe("RunEndedEvent");
  expect(stream.events[switchAt]!.__typename).toBe("RunStartedEvent");
  expectIncreasing(stream.events);
});

it("a run resumed after its worker died continues the same stream (attempt 2)", async () => {
  const doomed = await worker({ RUN_LEASE_SECONDS: "1" });
  const run = await createRun({
    threadId: await newThread(),
    assistantId: "slow",
    input: {},
    config: { configurable: { steps: 12, delayMs: 50 } },
    streamMode: ["VALUES"],
  });
  const stream = subscribe(clients.sse, RunEventsDocument, { runId: run.id });
  await stream.until((events) => ofType(events, "ValuesEvent").length >= 4, "a few steps");
  doomed.child.kill("SIGKILL");
  await doomed.exited;
  await worker({ RUN_LEASE_SECONDS: "1" });
  await stream.completed;
  const starts = ofType(stream.events, "RunStartedEvent");
  expect(starts.map((s) => s.attempt)).toEqual([1, 2]);
  expect(stream.events.at(-1)).toMatchObject({ __typename: "RunEndedEvent", status: "SUCCESS" });
  expectIncreasing(stream.events);
  const last = ofType(stream.events, "ValuesEvent").at(-1)!.values as { steps: number[] };
  expect(last.steps).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  const replay = await collect(clients.ws, RunEventsDocument, { runId: run.id });
  expect(logged(replay)).toEqual(logged(stream.events));
});

it("pings graphql-ws connections so idle proxies keep them open", async () => {
  const socket = new WebSocket(api.wsUrl, "graphql-transport-ws");
  let pings = 0;
  const pinged = new Promise<void>((resolve) => {
    socket.on("ping", () => {
      pings++;
      if (pings >= 2) resolve();
    });
  });
  socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init" })));
  await pinged;
  socket.close();
  expect(pings).toBeGreaterThanOrEqual(2);
});

describe("a server process whose graph keeps it busy in promise callbacks", () => {
  let dir: string;
  let server: Cli;
  let client: ReturnType<typeof streamClient>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lgql-busy-"));
    // API and worker in one child process, on the API's database; this process only subscribes.
    server = cli(["start", "--config", configFile, "--port", "0", "--host", "127.0.0.1"], {
      DATABASE_URL: api.db.url,
    });
    const [, graphqlUrl] = await server.waitFor(/serving .* at (http:\/\/\S+\/graphql)/);
    client = streamClient("ws", {
      graphqlUrl: graphqlUrl!,
      wsUrl: graphqlUrl!.replace(/^http/, "ws"),
    });
  });

  afterAll(async () => {
    await client?.dispose();
    server?.child.kill("SIGTERM");
    await server?.exited;
    await rm(dir, { recursive: true, force: true });
  });

  it("delivers an event over graphql-ws while the graph is still running", async () => {
    // Fields that need no query: RunStartedEvent.run reads the run as it is now, and the
    // events after it wait for that read.
    const document = parse(`subscription ($input: RunInput!) {
      streamRun(input: $input) { __typename ... on CustomEvent { id data } }
    }`) as TypedDocumentNode<unknown, { input: RunInput }>;
    const run = (releaseFile: string) =>
      subscribe(client, document, {
        input: {
          assistantId: "busy",
          input: {},
          streamMode: ["CUSTOM"],
          config: { configurable: { releaseFile, limitMs: 10_000 } },
        },
      });
    // A first run loads what a process loads lazily (modules, compiled code), which takes the
    // event loop: released at once.
    const warm = join(dir, "warm");
    await writeFile(warm, "");
    await run(warm).completed;

    const releaseFile = join(dir, "release");
    const stream = run(releaseFile);
    // The graph ends its wait only once this client has its first event.
    await stream.until((events) => ofType(events, "CustomEvent").length >= 1, "the first event");
    await writeFile(releaseFile, "");
    await stream.completed;
    expect(ofType(stream.events, "CustomEvent").map((e) => e.data)).toEqual([
      { phase: "started" },
      { phase: "released" },
    ]);
  });
});
