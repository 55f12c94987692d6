import { VOICES } from "./fixtures/graphs/delta.ts";
import {
  CopyThreadDocument,
  CreateThreadDocument,
  type Durability,
  RunResultDocument,
  StreamRunDocument,
  ThreadDocument,
  ThreadHistoryDocument,
  ThreadStateDocument,
  UpdateThreadStateDocument,
} from "./gql/graphql.ts";
import { fixturesConfig, startTestServer, type TestServer } from "./helpers/server.ts";
import { collect, ofType, streamClient } from "./stream-clients.ts";

/**
 * A graph whose messages are a LangGraph DeltaChannel (test/fixtures/graphs/delta.ts), through
 * the server. Its checkpoints hold a snapshot every few updates and nothing in between, so every
 * read of its state (a run's result, the thread's state, each history entry) rebuilds the list
 * from stored writes through our saver's getDeltaChannelHistory. What a run streamed while it ran
 * is the reference each read must give back, message for message and in the same order.
 */

let server: TestServer;
let client: ReturnType<typeof streamClient>;

beforeAll(async () => {
  server = await startTestServer({ configFile: fixturesConfig });
  client = streamClient("ws", server);
});

afterAll(async () => {
  await client?.dispose();
  await server?.stop();
});

type Values = { messages: Array<{ id: string; type: string; content: string }> };
const idsOf = (values: unknown) => (values as Values).messages.map((m) => m.id);

const newThread = async () => (await server.query(CreateThreadDocument, {})).createThread.id;

/**
 * One turn: a run streaming VALUES. Answers the ids its last streamed state had, after checking
 * that its result and the thread (state and cached values) read the same back.
 */
async function turn(
  threadId: string,
  id: string,
  durability: Durability,
  voices = VOICES.length,
): Promise<string[]> {
  const events = await collect(client, StreamRunDocument, {
    input: {
      threadId,
      assistantId: "delta",
      input: { messages: [{ type: "human", id, content: id }] },
      config: { configurable: { voices } },
      streamMode: ["VALUES"],
      durability,
    },
  });
  const streamed = ofType(events, "ValuesEvent").at(-1)!;
  const live = idsOf(streamed.values);
  // The input, each voice once (in the order LangGraph applied them), then wrap.
  const added = live.slice(-voices - 2);
  expect(added[0]).toBe(id);
  expect(
    added
      .slice(1, -1)
      .map((answer) => answer.split("-")[0])
      .sort(),
  ).toEqual(VOICES.slice(0, voices));
  expect(added.at(-1)).toMatch(/^wrap-/);
  const { runResult } = await server.query(RunResultDocument, { id: streamed.runId });
  expect(idsOf(runResult.values)).toEqual(live);
  const { thread } = await server.query(ThreadStateDocument, { id: threadId });
  expect(idsOf(thread!.state.values)).toEqual(live);
  const { thread: row } = await server.query(ThreadDocument, { id: threadId });
  expect(idsOf(row!.values)).toEqual(live);
  return live;
}

const history = async (threadId: string) =>
  (await server.query(ThreadHistoryDocument, { id: threadId, first: 1000 })).thread!.history;

describe("a graph whose messages are a LangGraph DeltaChannel", () => {
  it("reads back what each run streamed: its result, the thread's state, every history entry", async () => {
    const threadId = await newThread();
    // EXIT runs write their checkpoint and delta writes only at the end; with one voice, so that
    // LangGraph < 1.7, which replays such writes in task-id order, agrees with the live order.
    // The first on a thread without checkpoints: LangGraph >= 1.7 anchors its writes on a stub.
    const plan: Array<[Durability, number?]> = [
      ["EXIT", 1],
      ["SYNC"],
      ["ASYNC"],
      ["EXIT", 1],
      ["ASYNC"],
      ["SYNC"],
      ["ASYNC"],
    ];
    const finals: string[][] = [];
    for (const [i, [durability, voices]] of plan.entries()) {
      finals.push(await turn(threadId, `h-${i}`, durability, voices));
    }
    const last = finals.at(-1)!;
    expect(last).toHaveLength(plan.reduce((n, [, voices]) => n + (voices ?? VOICES.length) + 2, 0));

    const entries = await history(threadId);
    // One history, one list: every state it passed through is a prefix of the last.
    for (const entry of entries) {
      const ids = idsOf(entry.values);
      expect(ids).toEqual(last.slice(0, ids.length));
    }
    // (LangGraph >= 1.7 also lists the first EXIT run's stub: step -2, no values.)
    const turnEnds = entries
      .filter((e) => e.next.length === 0 && (e.metadata as { step: number }).step >= 0)
      .map((e) => idsOf(e.values))
      .reverse();
    expect(turnEnds).toEqual(finals);
  });

  it("a stateless run keeping its thread reads back what it streamed", async () => {
    for (const durability of ["EXIT", "ASYNC"] as const) {
      const events = await collect(client, StreamRunDocument, {
        input: {
          assistantId: "delta",
          input: { messages: [{ type: "human", id: "h", content: "h" }] },
          // One voice under EXIT, as above.
          config: { configurable: { voices: durability === "EXIT" ? 1 : VOICES.length } },
          streamMode: ["VALUES"],
          durability,
          onCompletion: "KEEP",
        },
      });
      const streamed = ofType(events, "ValuesEvent").at(-1)!;
      const live = idsOf(streamed.values);
      expect(live).toHaveLength(durability === "EXIT" ? 3 : VOICES.length + 2);
      const { runResult } = await server.query(RunResultDocument, { id: streamed.runId });
      expect(idsOf(runResult.values)).toEqual(live);
      const { thread } = await server.query(ThreadStateDocument, { id: streamed.threadId });
      expect(idsOf(thread!.state.values)).toEqual(live);
    }
  });

  it("forks from a past checkpoint: the fork and the runs after it build on it, the old branch stays", async () => {
    const threadId = await newThread();
    const finals: string[][] = [];
    for (let i = 0; i < 3; i += 1) finals.push(await turn(threadId, `h-${i}`, "ASYNC"));
    const before = await history(threadId);
    const past = before.find(
      (e) => e.next.length === 0 && idsOf(e.values).length === finals[0]!.length,
    )!;

    const { updateThreadState: fork } = await server.query(UpdateThreadStateDocument, {
      input: {
        threadId,
        values: { messages: [{ type: "human", id: "edit", content: "edit" }] },
        asNode: "wrap",
        checkpoint: { checkpointId: past.checkpoint.checkpointId },
      },
    });
    const { thread: forked } = await server.query(ThreadStateDocument, {
      id: threadId,
      checkpoint: { checkpointId: fork.checkpointId },
    });
    expect(forked!.state.parentCheckpoint?.checkpointId).toBe(past.checkpoint.checkpointId);
    expect(idsOf(forked!.state.values)).toEqual([...finals[0]!, "edit"]);

    // The thread now continues from the fork, its newest checkpoint.
    const after = await turn(threadId, "h-after", "ASYNC");
    expect(after.slice(0, finals[0]!.length + 1)).toEqual([...finals[0]!, "edit"]);

    const { thread: oldHead } = await server.query(ThreadStateDocument, {
      id: threadId,
      checkpoint: { checkpointId: before[0]!.checkpoint.checkpointId },
    });
    expect(idsOf(oldHead!.state.values)).toEqual(finals[2]);

    const { copyThread } = await server.query(CopyThreadDocument, { id: threadId });
    const { thread: copy } = await server.query(ThreadStateDocument, { id: copyThread.id });
    expect(idsOf(copy!.state.values)).toEqual(after);
    expect((await history(copyThread.id)).map((e) => idsOf(e.values))).toEqual(
      (await history(threadId)).map((e) => idsOf(e.values)),
    );
  });
});
