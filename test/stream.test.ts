import { type BaseMessage, HumanMessage } from "@langchain/core/messages";
import pg from "pg";
import { splitText } from "../examples/graphs/fake-model.ts";
import { graph as researchGraph } from "../examples/graphs/subgraph.ts";
import { UNSTORABLE_TEXT } from "./fixtures/graphs/runs.ts";
import {
  CancelRunDocument,
  CreateRunDocument,
  CreateThreadDocument,
  RunDocument,
  RunEventsDocument,
  type RunInput,
  RunResultDocument,
  StreamRunDocument,
  ThreadDocument,
  ThreadEventsDocument,
} from "./gql/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import {
  collect,
  type Event,
  ids,
  ofType,
  streamClient,
  streamConfigFile,
  subscribe,
  type Transport,
} from "./stream-clients.ts";

/**
 * Streams over real graphql-ws and SSE connections to a server that executes the runs itself
 * (subscribers get events from memory, late joiners from the log). Cross-process streaming is in
 * stream.processes.test.ts.
 */

let server: TestServer;
let sql: pg.Client;
const clients = {} as Record<Transport, ReturnType<typeof streamClient>>;
const transports: Transport[] = ["ws", "sse"];

beforeAll(async () => {
  server = await startTestServer({ configFile: streamConfigFile() });
  clients.ws = streamClient("ws", server);
  clients.sse = streamClient("sse", server);
  sql = new pg.Client({ connectionString: server.db.url });
  await sql.connect();
});

afterAll(async () => {
  await clients.ws?.dispose();
  await clients.sse?.dispose();
  await sql?.end();
  await server?.stop();
});

const newThread = async () => (await server.query(CreateThreadDocument, {})).createThread.id;
const createRun = async (input: RunInput) =>
  (await server.query(CreateRunDocument, { input })).createRun;
const runOf = async (id: string) => (await server.query(RunDocument, { id })).run;
const human = (content: string) => ({ messages: [{ role: "user", content }] });

async function until<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string) {
  for (let i = 0; i < 400; i++) {
    const value = await read();
    if (check(value)) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The whole log of a run, replayed after it ended. */
const replay = (runId: string, transport: Transport = "ws") =>
  collect(clients[transport], RunEventsDocument, { runId });

function expectWellFormed(events: Event[], runId?: string) {
  expect(events[0]?.__typename).toBe("RunStartedEvent");
  expect(events.at(-1)?.__typename).toBe("RunEndedEvent");
  expect(events.filter((e) => e.__typename === "RunEndedEvent")).toHaveLength(1);
  const positions = events.map((e) => Number(e.id));
  for (let i = 1; i < positions.length; i++)
    expect(positions[i]).toBeGreaterThan(positions[i - 1]!);
  if (runId) for (const e of events) expect(e.runId).toBe(runId);
}

/**
 * Events as a replay must reproduce them: RunStartedEvent.run shows the run as it is *now*
 * (RUNNING live, SUCCESS in a later replay), so it is left out.
 */
const logged = (events: Event[]) =>
  events.map((e) => (e.__typename === "RunStartedEvent" ? { ...e, run: null } : e));

/** Keys LangGraph uses internally, found anywhere in a value (values like task paths are fine). */
function internalKeys(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) internalKeys(item, found);
  else if (value && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key.startsWith("__pregel") || key === "callbacks" || key.startsWith("__checkpoint"))
        found.push(key);
      internalKeys(item, found);
    }
  }
  return found;
}

/** Consecutive events of one type collapsed: the shape of an interleaving. */
const shape = (events: Event[]) =>
  events
    .map((e) =>
      e.__typename === "UpdatesEvent" ? `Updates:${e.node}` : e.__typename.replace("Event", ""),
    )
    .filter((name, i, all) => name !== all[i - 1]);

describe("stream modes: the chat agent", () => {
  const question = "what is the weather in Paris?";
  const answer = "Here is what I found: It is sunny and 22°C in Paris.";
  let events: Event[];
  let threadId: string;

  beforeAll(async () => {
    threadId = await newThread();
    events = await collect(clients.ws, StreamRunDocument, {
      input: {
        threadId,
        assistantId: "agent",
        input: human(question),
        streamMode: [
          "VALUES",
          "UPDATES",
          "MESSAGES",
          "CUSTOM",
          "TOOLS",
          "TASKS",
          "CHECKPOINTS",
          "DEBUG",
        ],
      },
    });
  });

  it("opens with RunStartedEvent, ends with RunEndedEvent, ids increase", () => {
    expectWellFormed(events);
    const [started] = ofType(events, "RunStartedEvent");
    expect(started).toMatchObject({
      attempt: 1,
      namespace: [],
      threadId,
      run: { id: started!.runId, threadId, attempt: 1 },
    });
    expect(ofType(events, "RunEndedEvent")[0]?.status).toBe("SUCCESS");
  });

  it("VALUES: the state after each step", () => {
    const values = ofType(events, "ValuesEvent");
    const messages = (values.at(-1)!.values as { messages: Array<{ type: string }> }).messages;
    expect(messages.map((m) => m.type)).toEqual(["human", "ai", "tool", "ai"]);
    expect(values[0]!.values).toMatchObject({ messages: [{ type: "human", content: question }] });
  });

  it("UPDATES: one event per node update", () => {
    expect(ofType(events, "UpdatesEvent").map((e) => e.node)).toEqual(["agent", "tools", "agent"]);
    const tools = ofType(events, "UpdatesEvent")[1]!.update as { messages: unknown[] };
    expect(tools.messages).toMatchObject([{ type: "tool", tool_call_id: "call_get_weather_1" }]);
  });

  it("MESSAGES: tool call chunks, the tool message, then the answer token by token", () => {
    const messages = ofType(events, "MessageEvent");
    const [call, toolMessage, reply] = groupById(messages);
    // The first model call streams its tool call in pieces, as providers do.
    expect(call!.every((m) => m.message.type === "ai")).toBe(true);
    expect(call![0]!.message.toolCallChunks[0]).toMatchObject({
      id: "call_get_weather_1",
      name: "get_weather",
      index: 0,
    });
    expect(call!.map((m) => m.message.toolCallChunks[0]?.args ?? "").join("")).toBe(
      JSON.stringify({ city: "Paris" }),
    );
    expect(toolMessage![0]!.message).toMatchObject({
      type: "tool",
      toolCallId: "call_get_weather_1",
      name: "get_weather",
      text: "It is sunny and 22°C in Paris.",
    });
    const tokens = reply!.map((m) => m.message.text).filter((t) => t !== "");
    expect(tokens).toEqual(splitText(answer, "word"));
    expect(reply!.at(-1)!.message.responseMetadata).toMatchObject({ finish_reason: "stop" });
    expect(reply![0]!.metadata).toMatchObject({ langgraph_node: "agent", langgraph_step: 3 });
    for (const m of messages) expect(m.namespace).toEqual([]);
  });

  it("CUSTOM: what nodes wrote with config.writer", () => {
    expect(ofType(events, "CustomEvent").map((e) => e.data)).toEqual([
      { node: "agent", progress: "calling model", turn: 1 },
      { node: "agent", progress: "calling model", turn: 3 },
    ]);
  });

  it("TOOLS: the tool call's lifecycle", () => {
    const tools = ofType(events, "ToolEvent");
    expect(tools.map((e) => e.event)).toEqual(["tool-started", "tool-finished"]);
    expect(tools[0]).toMatchObject({
      toolCallId: "call_get_weather_1",
      toolName: "get_weather",
      input: { city: "Paris" },
    });
    expect(tools[1]!.output).toMatchObject({
      type: "tool",
      content: "It is sunny and 22°C in Paris.",
    });
  });

  it("TASKS: each task's start (input, triggers) and result", () => {
    const tasks = ofType(events, "TaskEvent");
    const starts = tasks.filter((t) => t.triggers !== null);
    const results = tasks.filter((t) => t.triggers === null);
    expect(starts.map((t) => t.taskName)).toEqual(["agent", "tools", "agent"]);
    expect(results.map((t) => t.taskName)).toEqual(["agent", "tools", "agent"]);
    expect(starts[0]!.triggers).toEqual(["branch:to:agent"]);
    expect(starts[0]!.input).toMatchObject({ messages: [{ type: "human" }] });
    expect(results[0]!.result).toMatchObject({ messages: [{ type: "ai" }] });
    expect(results[0]!.taskId).toBe(starts[0]!.taskId);
  });

  it("CHECKPOINTS: where each checkpoint lives, with its values and next nodes", () => {
    const checkpoints = ofType(events, "CheckpointEvent");
    expect(checkpoints.map((c) => c.next)).toEqual([
      ["__start__"],
      ["agent"],
      ["tools"],
      ["agent"],
      [],
    ]);
    for (const c of checkpoints) {
      expect(c.checkpoint).toMatchObject({ threadId, checkpointNs: "" });
      expect(c.checkpoint.checkpointId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(checkpoints[1]!.parentCheckpoint?.checkpointId).toBe(
      checkpoints[0]!.checkpoint.checkpointId,
    );
  });

  it("DEBUG: checkpoints, tasks and task results, as LangGraph Platform sends them", () => {
    const debug = ofType(events, "DebugEvent");
    expect(new Set(debug.map((d) => d.type))).toEqual(
      new Set(["checkpoint", "task", "task_result"]),
    );
    const checkpoint = debug.find((d) => d.type === "checkpoint" && d.step === 0)!;
    expect(checkpoint.payload).toMatchObject({
      next: ["agent"],
      checkpoint: { thread_id: threadId, checkpoint_ns: "" },
      config: { configurable: { thread_id: threadId } },
    });
  });

  it("leaks no LangGraph internals", () => {
    expect(internalKeys(events)).toEqual([]);
    expect(JSON.stringify(events)).not.toMatch(/StreamMessagesHandler|StreamToolsHandler/);
  });

  it("the log replays exactly what was streamed live", async () => {
    expect(logged(await replay(events[0]!.runId, "sse"))).toEqual(logged(events));
  });
});

function groupById(messages: Array<Extract<Event, { __typename: "MessageEvent" }>>) {
  const groups: Array<typeof messages> = [];
  for (const m of messages) {
    const last = groups.at(-1);
    if (last && last[0]!.message.id === m.message.id) last.push(m);
    else groups.push([m]);
  }
  return groups;
}

describe.each(transports)("over %s", (transport) => {
  it("MESSAGES streams the model's reply token by token, nothing else", async () => {
    const events = await collect(clients[transport], StreamRunDocument, {
      input: { assistantId: "agent", input: human("hello there"), streamMode: ["MESSAGES"] },
    });
    expect(shape(events)).toEqual(["RunStarted", "Message", "RunEnded"]);
    const reply = 'You said: "hello there". This is a scripted reply.';
    const tokens = ofType(events, "MessageEvent");
    expect(tokens.map((m) => m.message.text).filter(Boolean)).toEqual(splitText(reply, "word"));
    expect(new Set(tokens.map((m) => m.message.id)).size).toBe(1);
    expect(tokens.every((m) => m.message.type === "ai")).toBe(true);
  });

  it("interleaves several modes in execution order", async () => {
    const events = await collect(clients[transport], StreamRunDocument, {
      input: {
        assistantId: "agent",
        input: human("what is the weather in Paris?"),
        streamMode: ["UPDATES", "MESSAGES", "CUSTOM"],
      },
    });
    expect(shape(events)).toEqual([
      "RunStarted",
      "Custom",
      "Message",
      "Updates:agent",
      "Message",
      "Updates:tools",
      "Custom",
      "Message",
      "Updates:agent",
      "RunEnded",
    ]);
  });

  it("a client that disconnects mid-run resumes with `after` and gets exactly the rest", async () => {
    const threadId = await newThread();
    const run = await createRun({
      threadId,
      assistantId: "slow",
      input: {},
      config: { configurable: { steps: 8, delayMs: 40 } },
      streamMode: ["VALUES", "UPDATES"],
    });
    const first = subscribe(clients[transport], RunEventsDocument, { runId: run.id });
    await first.until((events) => events.length >= 5, "five events");
    first.stop();
    const seen = [...first.events];
    // Resume over the other transport: the cursor is the log's, not the connection's.
    const other = transport === "ws" ? "sse" : "ws";
    const rest = await collect(clients[other], RunEventsDocument, {
      runId: run.id,
      after: seen.at(-1)!.id,
    });
    const full = await replay(run.id);
    expectWellFormed(full, run.id);
    expect(logged([...seen, ...rest])).toEqual(logged(full));
    // Resumed after its end, a run's stream has nothing left: it completes at once.
    expect(
      await collect(clients[transport], RunEventsDocument, {
        runId: run.id,
        after: full.at(-1)!.id,
      }),
    ).toEqual([]);
    expect(ofType(full, "ValuesEvent").at(-1)!.values).toMatchObject({
      steps: [1, 2, 3, 4, 5, 6, 7, 8],
    });
  });

  it("two concurrent joiners each receive every event", async () => {
    const run = await createRun({
      assistantId: "slow",
      input: {},
      config: { configurable: { steps: 6, delayMs: 30 } },
      streamMode: ["VALUES", "UPDATES", "TASKS"],
    });
    const [a, b] = await Promise.all([
      collect(clients[transport], RunEventsDocument, { runId: run.id }),
      collect(clients.ws, RunEventsDocument, { runId: run.id }),
    ]);
    const full = await replay(run.id);
    expectWellFormed(full, run.id);
    expect(logged(a)).toEqual(logged(full));
    expect(logged(b)).toEqual(logged(full));
  });
});

describe("subgraphs", () => {
  const input = human("Tell me about otters?");
  const names = (namespace: string[]) => namespace.map((segment) => segment.split(":")[0]!);
  const metadataOf = (event: { metadata: unknown }) =>
    event.metadata as { langgraph_node?: string; langgraph_checkpoint_ns?: string };

  /**
   * The namespaces (names without task ids) LangGraph itself, in this process, streams the research
   * graph's non-empty messages under. LangGraph >= 1.7 gives a model's tokens the namespace of the
   * graph that ran the node (the node's own task segment dropped, as Python LangGraph does) and,
   * without subgraphs, drops a subgraph's messages; earlier versions give the node's task
   * namespace and forward every message. The server passes on what LangGraph gives.
   */
  async function langgraphMessageNamespaces(subgraphs: boolean): Promise<string[][]> {
    const found: string[][] = [];
    const stream = await researchGraph.stream(
      { messages: [new HumanMessage(input.messages[0]!.content)] },
      { streamMode: ["messages"], subgraphs },
    );
    for await (const chunk of stream as AsyncIterable<unknown[]>) {
      const [namespace, , [message]] = (subgraphs ? chunk : [[], ...chunk]) as [
        string[],
        string,
        [BaseMessage],
      ];
      if (message.text !== "") found.push(names(namespace));
    }
    return found;
  }

  it("streamSubgraphs: events carry the namespace of the (nested) subgraph", async () => {
    const events = await collect(clients.ws, StreamRunDocument, {
      input: {
        assistantId: "research",
        input,
        streamMode: ["UPDATES", "CUSTOM", "MESSAGES"],
        streamSubgraphs: true,
      },
    });
    expectWellFormed(events);
    const nodes = (depth: number) =>
      ofType(events, "UpdatesEvent")
        .filter((e) => e.namespace.length === depth)
        .map((e) => e.node);
    expect(nodes(0)).toEqual(["plan", "research", "respond"]);
    expect(nodes(1)).toEqual(["search", "summarize"]);
    expect(nodes(2)).toEqual(["query", "fetch"]);
    const nested = ofType(events, "UpdatesEvent").find((e) => e.namespace.length === 2)!;
    expect(nested.namespace[0]).toMatch(/^research:[0-9a-f-]{36}$/);
    expect(nested.namespace[1]).toMatch(/^search:[0-9a-f-]{36}$/);
    const custom = ofType(events, "CustomEvent");
    expect(custom.map((e) => (e.data as { node: string }).node)).toEqual([
      "query",
      "fetch",
      "fetch",
      "fetch",
    ]);
    for (const e of custom) expect(e.namespace).toEqual(nested.namespace);
    // Messages carry the namespace LangGraph gives them (see langgraphMessageNamespaces), inside
    // this run's research task; their metadata names the task that made the call.
    const messages = ofType(events, "MessageEvent").filter((m) => m.message.text !== "");
    expect(messages.map((m) => names(m.namespace))).toEqual(await langgraphMessageNamespaces(true));
    const tokens = messages.filter((m) => metadataOf(m).langgraph_node === "summarize");
    for (const token of tokens) {
      expect(token.namespace[0]).toBe(nested.namespace[0]);
      expect(metadataOf(token).langgraph_checkpoint_ns).toMatch(
        new RegExp(`^${nested.namespace[0]}\\|summarize:`),
      );
    }
    expect(tokens.map((m) => m.message.text).join("")).toMatch(/^Summary: fact 1 about/);
  });

  it("without streamSubgraphs: the root graph's events, namespace []", async () => {
    const events = await collect(clients.ws, StreamRunDocument, {
      input: {
        assistantId: "research",
        input,
        streamMode: ["UPDATES", "CUSTOM", "VALUES", "MESSAGES"],
      },
    });
    expect(ofType(events, "UpdatesEvent").map((e) => e.node)).toEqual([
      "plan",
      "research",
      "respond",
    ]);
    // LangGraph forwards what nodes write from any depth, without the namespace.
    expect(ofType(events, "CustomEvent")).toHaveLength(4);
    // And messages as LangGraph streams them: >= 1.7 drops a subgraph's, earlier versions not.
    const messages = ofType(events, "MessageEvent").filter((m) => m.message.text !== "");
    expect(messages.map((m) => m.namespace)).toEqual(await langgraphMessageNamespaces(false));
    expect(metadataOf(messages.at(-1)!).langgraph_node).toBe("respond");
    for (const e of events) expect(e.namespace).toEqual([]);
  });
});

describe("EVENTS (streamEvents v2)", () => {
  it("interleaves LangChain events with the other modes in execution order", async () => {
    const events = await collect(clients.ws, StreamRunDocument, {
      input: {
        assistantId: "agent",
        input: human("hello there"),
        streamMode: ["EVENTS", "VALUES"],
      },
    });
    expectWellFormed(events);
    const lc = ofType(events, "LangChainEvent");
    expect(lc[0]).toMatchObject({ event: "on_chain_start", lcName: "chat-agent" });
    expect(lc.at(-1)).toMatchObject({ event: "on_chain_end", lcName: "chat-agent" });
    const streamed = lc.filter((e) => e.event === "on_chat_model_stream");
    expect(streamed.length).toBeGreaterThan(3);
    expect(streamed[0]!.data).toMatchObject({ chunk: { type: "ai" } });
    expect(streamed[0]!.lcMetadata).toMatchObject({ langgraph_node: "agent" });
    expect(lc.some((e) => e.tags.includes("langsmith:hidden"))).toBe(false);
    // The last state (with the reply) comes after the model's last token.
    const lastToken = events.indexOf(streamed.at(-1)!);
    const lastValues = events.indexOf(ofType(events, "ValuesEvent").at(-1)!);
    expect(lastValues).toBeGreaterThan(lastToken);
  });
});

describe("run lifecycle", () => {
  it("an interrupt surfaces as InterruptedEvent; a new run resumes it", async () => {
    const threadId = await newThread();
    const stopped = await collect(clients.ws, StreamRunDocument, {
      input: {
        threadId,
        assistantId: "agent",
        input: human("please approve: what is the weather in Paris?"),
        streamMode: ["UPDATES"],
      },
    });
    expect(shape(stopped)).toEqual([
      "RunStarted",
      "Updates:agent",
      "Updates:__interrupt__",
      "Interrupted",
      "RunEnded",
    ]);
    const [interrupted] = ofType(stopped, "InterruptedEvent");
    expect(interrupted!.interrupts).toEqual([
      {
        id: expect.any(String),
        value: expect.objectContaining({ question: "Allow the assistant to call get_weather?" }),
      },
    ]);
    const update = ofType(stopped, "UpdatesEvent")[1]!;
    expect(update.update).toEqual(interrupted!.interrupts);
    expect(ofType(stopped, "RunEndedEvent")[0]!.status).toBe("SUCCESS");
    expect((await server.query(ThreadDocument, { id: threadId })).thread!.status).toBe(
      "INTERRUPTED",
    );

    const resumed = await collect(clients.sse, StreamRunDocument, {
      input: {
        threadId,
        assistantId: "agent",
        command: { resume: "approve" },
        streamMode: ["UPDATES"],
      },
    });
    expect(shape(resumed)).toEqual([
      "RunStarted",
      "Updates:human_review",
      "Updates:tools",
      "Updates:agent",
      "RunEnded",
    ]);
  });

  it("parallel interrupts all surface in one InterruptedEvent", async () => {
    const events = await collect(clients.ws, StreamRunDocument, {
      input: { assistantId: "ask", input: {}, onCompletion: "KEEP", streamMode: ["UPDATES"] },
    });
    const [interrupted] = ofType(events, "InterruptedEvent");
    expect(
      interrupted!.interrupts.map((i) => (i.value as { question: string }).question).sort(),
    ).toEqual(["what about a?", "what about b?"]);
    expect(events.at(-1)).toMatchObject({ __typename: "RunEndedEvent", status: "SUCCESS" });
  });

  it("interruptBefore: InterruptedEvent without interrupts", async () => {
    const events = await collect(clients.ws, StreamRunDocument, {
      input: {
        assistantId: "agent",
        input: human("what is the weather in Paris?"),
        interruptBefore: ["tools"],
        onCompletion: "KEEP",
        streamMode: ["UPDATES"],
      },
    });
    // LangGraph reports the static stop as an (empty) __interrupt__ update too.
    expect(shape(events)).toEqual([
      "RunStarted",
      "Updates:agent",
      "Updates:__interrupt__",
      "Interrupted",
      "RunEnded",
    ]);
    expect(ofType(events, "InterruptedEvent")[0]!.interrupts).toEqual([]);
  });

  it("a failing run ends with RunErrorEvent, then RunEndedEvent", async () => {
    const events = await collect(clients.ws, StreamRunDocument, {
      input: { assistantId: "fails", input: {}, streamMode: ["UPDATES"] },
    });
    expect(shape(events)).toEqual(["RunStarted", "RunError", "RunEnded"]);
    expect(ofType(events, "RunErrorEvent")[0]!.error).toEqual({
      type: "Error",
      message: "boom: the node failed on purpose",
    });
    expect(ofType(events, "RunEndedEvent")[0]!.status).toBe("ERROR");
  });

  it("a stateless run's stream stays readable after its thread is deleted", async () => {
    const live = await collect(clients.ws, StreamRunDocument, {
      input: { assistantId: "append", input: { items: [1] }, streamMode: ["VALUES"] },
    });
    const runId = live[0]!.runId;
    expect(await runOf(runId)).toBeNull();
    const replayed = await replay(runId);
    // RunStartedEvent.run falls back to the run as it was when it started.
    expect(logged(replayed)).toEqual(logged(live));
    expect(ofType(replayed, "RunStartedEvent")[0]!.run).toMatchObject({ id: runId });
  });

  it("onDisconnect CANCEL: the run stops when its subscriber goes away", async () => {
    const threadId = await newThread();
    const stream = subscribe(clients.ws, StreamRunDocument, {
      input: {
        threadId,
        assistantId: "slow",
        input: {},
        config: { configurable: { steps: 200, delayMs: 20 } },
        onDisconnect: "CANCEL",
        streamMode: ["VALUES"],
      },
    });
    await stream.until((events) => events.some((e) => e.__typename === "ValuesEvent"), "values");
    const runId = stream.events[0]!.runId;
    stream.stop();
    await until(
      () => runOf(runId),
      (run) => run?.status === "INTERRUPTED",
      "the cancel",
    );
    const events = await replay(runId);
    expect(ofType(events, "RunEndedEvent")[0]!.status).toBe("INTERRUPTED");
  });

  it("onDisconnect CONTINUE (the default): the run goes on without its subscriber", async () => {
    const stream = subscribe(clients.sse, StreamRunDocument, {
      input: {
        threadId: await newThread(),
        assistantId: "slow",
        input: {},
        config: { configurable: { steps: 5, delayMs: 20 } },
        streamMode: ["VALUES"],
      },
    });
    await stream.until((events) => events.length >= 2, "two events");
    const runId = stream.events[0]!.runId;
    stream.stop();
    await until(
      () => runOf(runId),
      (run) => run?.status === "SUCCESS",
      "the run's end",
    );
  });

  it("a rolled-back run's stream ends INTERRUPTED although the run is gone", async () => {
    const run = await createRun({
      threadId: await newThread(),
      assistantId: "slow",
      input: {},
      config: { configurable: { steps: 200, delayMs: 20 } },
      streamMode: ["VALUES"],
    });
    const stream = subscribe(clients.ws, RunEventsDocument, { runId: run.id });
    await stream.until((events) => events.some((e) => e.__typename === "ValuesEvent"), "values");
    await server.query(CancelRunDocument, { id: run.id, action: "ROLLBACK" });
    await stream.completed;
    expect(stream.events.at(-1)).toMatchObject({
      __typename: "RunEndedEvent",
      status: "INTERRUPTED",
    });
    expect(await runOf(run.id)).toBeNull();
  });

  it("a delayed run cancelled before it started: its stream ends at once", async () => {
    const run = await createRun({
      threadId: await newThread(),
      assistantId: "append",
      input: { items: [1] },
      afterSeconds: 600,
    });
    const stream = subscribe(clients.sse, RunEventsDocument, { runId: run.id });
    await server.query(CancelRunDocument, { id: run.id });
    await stream.completed;
    expect(shape(stream.events)).toEqual(["RunStarted", "RunEnded"]);
    expect(stream.events[1]).toMatchObject({ status: "INTERRUPTED" });
  });

  it("a run cancelled before it started still opens and ends its stream", async () => {
    const threadId = await newThread();
    const first = await createRun({
      threadId,
      assistantId: "slow",
      input: {},
      config: { configurable: { steps: 500, delayMs: 20 } },
    });
    const second = await createRun({ threadId, assistantId: "append", input: { items: [2] } });
    const stream = subscribe(clients.ws, RunEventsDocument, { runId: second.id });
    await server.query(CancelRunDocument, { id: second.id });
    // While the first run executes, its own end records the second's (nothing else writes to
    // the thread meanwhile): end it.
    await server.query(CancelRunDocument, { id: first.id });
    await stream.completed;
    expect(shape(stream.events)).toEqual(["RunStarted", "RunEnded"]);
    expect(stream.events[0]).toMatchObject({ attempt: 0, runId: second.id });
    expect(stream.events[1]).toMatchObject({ status: "INTERRUPTED" });
    // It ended while the first run executed: the thread's log shows it after that run's end.
    const thread = await collect(clients.ws, RunEventsDocument, { runId: first.id });
    expect(Number(stream.events[0]!.id)).toBeGreaterThan(Number(thread.at(-1)!.id));
  });
});

describe("threadEvents", () => {
  it("follows every run of a thread in order, staying open across runs", async () => {
    const threadId = await newThread();
    const stream = subscribe(clients.ws, ThreadEventsDocument, { threadId });
    const slow = { assistantId: "slow", input: {}, streamMode: ["UPDATES" as const] };
    const first = await createRun({
      threadId,
      ...slow,
      config: { configurable: { steps: 3, delayMs: 20 } },
    });
    // `slow` counts the thread's steps so far: the second run adds two more.
    const second = await createRun({
      threadId,
      ...slow,
      config: { configurable: { steps: 5, delayMs: 20 } },
    });
    await stream.until((events) => ofType(events, "RunEndedEvent").length === 2, "two runs");
    const events = [...stream.events];
    stream.stop();
    const firstEvents = events.filter((e) => e.runId === first.id);
    const secondEvents = events.filter((e) => e.runId === second.id);
    expect(events).toEqual([...firstEvents, ...secondEvents]);
    expect(shape(firstEvents)).toEqual(["RunStarted", "Updates:step", "RunEnded"]);
    expect(ofType(firstEvents, "UpdatesEvent")).toHaveLength(3);
    expect(ofType(secondEvents, "UpdatesEvent")).toHaveLength(2);
    const positions = events.map((e) => Number(e.id));
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(logged(firstEvents)).toEqual(logged(await replay(first.id)));

    // Resuming after the first run's end starts with the second run; streamMode narrows.
    const resumed = subscribe(clients.sse, ThreadEventsDocument, {
      threadId,
      after: firstEvents.at(-1)!.id,
      streamMode: [],
    });
    await resumed.until((e) => e.some((x) => x.__typename === "RunEndedEvent"), "second run");
    resumed.stop();
    expect(shape(resumed.events)).toEqual(["RunStarted", "RunEnded"]);
    expect(ids(resumed.events)).toEqual(
      ids(secondEvents.filter((e) => e.__typename !== "UpdatesEvent")),
    );
  });

  it("without `after`: the run in flight from its first event, then later runs", async () => {
    const threadId = await newThread();
    const running = await createRun({
      threadId,
      assistantId: "slow",
      input: {},
      config: { configurable: { steps: 6, delayMs: 30 } },
      streamMode: ["UPDATES"],
    });
    const probe = subscribe(clients.ws, RunEventsDocument, { runId: running.id });
    await probe.until((events) => events.length >= 3, "the run to be under way");
    probe.stop();
    const stream = subscribe(clients.ws, ThreadEventsDocument, { threadId });
    const later = await createRun({ threadId, assistantId: "append", input: { items: [1] } });
    await stream.until((events) => ofType(events, "RunEndedEvent").length === 2, "two runs");
    stream.stop();
    expect(stream.events[0]).toMatchObject({ __typename: "RunStartedEvent", runId: running.id });
    expect(stream.events.at(-1)).toMatchObject({ __typename: "RunEndedEvent", runId: later.id });
  });
});

describe("errors", () => {
  it("a missing run or thread is NOT_FOUND; a malformed `after` is BAD_USER_INPUT", async () => {
    const missing = subscribe(clients.ws, RunEventsDocument, {
      runId: "00000000-0000-4000-8000-000000000000",
    });
    await missing.completed;
    expect(missing.errors[0]?.extensions?.code).toBe("NOT_FOUND");

    const run = await createRun({ assistantId: "append", input: { items: [] } });
    const malformed = subscribe(clients.sse, RunEventsDocument, { runId: run.id, after: "abc" });
    await malformed.completed;
    expect(malformed.errors[0]?.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "after",
    });

    const thread = subscribe(clients.ws, ThreadEventsDocument, {
      threadId: "00000000-0000-4000-8000-000000000000",
    });
    await thread.completed;
    expect(thread.errors[0]?.extensions?.code).toBe("NOT_FOUND");

    const rejected = subscribe(clients.ws, StreamRunDocument, {
      input: { assistantId: "no-such-graph", input: {} },
    });
    await rejected.completed;
    expect(rejected.errors[0]?.extensions?.code).toBe("NOT_FOUND");
  });
});

describe("the event log", () => {
  it("is written in batches, never one commit per token", async () => {
    const events = await collect(clients.ws, StreamRunDocument, {
      input: {
        assistantId: "tokens",
        input: {},
        config: { configurable: { tokens: 400 } },
        streamMode: ["MESSAGES"],
      },
    });
    expect(
      ofType(events, "MessageEvent")
        .map((m) => m.message.text)
        .filter(Boolean),
    ).toEqual(Array.from({ length: 400 }, (_, i) => `tok${i} `));
    // Rows committed together share their transaction's timestamp.
    const { rows } = await sql.query(
      "SELECT count(DISTINCT created_at)::int AS commits, count(*)::int AS events FROM run_event WHERE run_id = $1",
      [events[0]!.runId],
    );
    expect(rows[0].events).toBe(events.length);
    expect(rows[0].commits).toBeLessThan(events.length / 10);
  });

  it("keeps what jsonb cannot hold (NUL, a lone surrogate) as U+FFFD, and the rest as it was", async () => {
    const events = await collect(clients.ws, StreamRunDocument, {
      input: { assistantId: "unstorable", input: {}, streamMode: ["CUSTOM"] },
    });
    // Live, from memory: as the graph wrote it.
    expect(ofType(events, "CustomEvent")[0]!.data).toEqual({ text: UNSTORABLE_TEXT });
    const replayed = ofType(await replay(events[0]!.runId), "CustomEvent");
    expect(replayed[0]!.data).toEqual({
      text: "nul\uFFFD lone\uFFFD pair\ud83d\ude00 typed \\u0000 \\\\ud800 \\\uFFFD",
    });
  });

  it("a run whose stream end the log refuses still ends; the end is repaired after", async () => {
    const threadId = await newThread();
    // A real refusal from the database, once, of this thread's first RUN_ENDED row.
    await sql.query(`
      CREATE SEQUENCE test_refusals;
      CREATE FUNCTION test_refuse_first_end() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.kind = 'RUN_ENDED' THEN
          IF nextval('test_refusals') = 1 THEN
            RAISE EXCEPTION 'the test refuses this end';
          END IF;
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_refuse_first_end BEFORE INSERT ON run_event FOR EACH ROW
        WHEN (NEW.thread_id = '${threadId}') EXECUTE FUNCTION test_refuse_first_end();`);
    try {
      const run = await createRun({ threadId, assistantId: "append", input: { items: [7] } });
      const { runResult } = await server.query(RunResultDocument, { id: run.id, wait: true });
      expect(runResult.run.status).toBe("SUCCESS");
      expect(runResult.values).toMatchObject({ items: [7] });
      const events = await replay(run.id);
      expectWellFormed(events, run.id);
      expect(events.at(-1)).toMatchObject({ status: "SUCCESS" });
      const { rows } = await sql.query("SELECT last_value::int AS refusals FROM test_refusals");
      expect(rows[0].refusals).toBeGreaterThanOrEqual(2);
      expect((await server.query(ThreadDocument, { id: threadId })).thread?.status).toBe("IDLE");
    } finally {
      await sql.query(`
        DROP TRIGGER test_refuse_first_end ON run_event;
        DROP FUNCTION test_refuse_first_end();
        DROP SEQUENCE test_refusals;`);
    }
  });

  it("SSE responses carry keep-alive comments while a run is quiet", async () => {
    // yoga pings every 12 s, and every 300 ms under NODE_ENV=test (which vitest sets).
    expect(process.env.NODE_ENV).toBe("test");
    const run = await createRun({
      assistantId: "slow",
      input: {},
      config: { configurable: { steps: 2, delayMs: 700 } },
    });
    const response = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({
        query: "subscription ($id: ID!) { runEvents(runId: $id) { __typename } }",
        variables: { id: run.id },
      }),
    });
    expect(response.headers.get("content-type")).toMatch(/text\/event-stream/);
    const text = await response.text();
    const comments = text.split("\n\n").filter((block) => block.startsWith(":"));
    expect(comments.length).toBeGreaterThanOrEqual(2);
    expect(text).toContain("RunEndedEvent");
  });
});

it("leaves no LangGraph internals in any stored payload", async () => {
  const { rows } = await sql.query("SELECT payload FROM run_event");
  expect(rows.length).toBeGreaterThan(100);
  expect(internalKeys(rows.map((r) => r.payload))).toEqual([]);
});
