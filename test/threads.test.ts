import { randomUUID } from "node:crypto";
import pg from "pg";
import { anonymousCaller as anonymous } from "../src/auth/caller.ts";
import {
  CopyThreadDocument,
  CreateThreadDocument,
  DeleteThreadDocument,
  ThreadDocument,
  ThreadHistoryDocument,
  ThreadStateDocument,
  ThreadsDocument,
  UpdateThreadDocument,
  UpdateThreadStateDocument,
} from "./gql/graphql.ts";
import { errorOf } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

let server: TestServer;
let sql: pg.Client;

beforeAll(async () => {
  server = await startTestServer();
  sql = new pg.Client({ connectionString: server.db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await server?.stop();
});

const human = (content: string) => ({ type: "human", content });

/** A thread on `graph` whose history was built by state updates, one checkpoint per message. */
async function threadWithMessages(graphId: string, count: number, metadata: object = {}) {
  const { createThread } = await server.query(CreateThreadDocument, {
    input: {
      graphId,
      metadata,
      supersteps: Array.from({ length: count }, (_, i) => ({
        updates: [{ asNode: "agent", values: { messages: [human(`m${i}`)] } }],
      })),
    },
  });
  return createThread;
}

/** Runs a graph in-process on the server's checkpointer (the run engine's job, not this API's). */
async function runInProcess(threadId: string, input: unknown) {
  const thread = (await server.services.threads.get(anonymous, threadId))!;
  const graph = (await server.services.threads.graphFor(thread))!;
  await graph.invoke(input, { configurable: { thread_id: threadId } });
  await server.services.threads.refresh(thread);
}

describe("createThread", () => {
  it("creates an idle thread with a generated or given id", async () => {
    const { createThread } = await server.query(CreateThreadDocument, {
      input: { metadata: { owner: "a" } },
    });
    expect(createThread).toMatchObject({
      status: "IDLE",
      metadata: { owner: "a" },
      interrupts: [],
    });
    const id = randomUUID();
    const own = await server.query(CreateThreadDocument, { input: { threadId: id } });
    expect(own.createThread.id).toBe(id);
    const none = await server.query(CreateThreadDocument, {});
    expect(none.createThread.status).toBe("IDLE");
  });

  it("refuses an existing id with CONFLICT unless ifExists is DO_NOTHING", async () => {
    const id = randomUUID();
    await server.query(CreateThreadDocument, { input: { threadId: id, metadata: { v: 1 } } });
    const again = await server.request(CreateThreadDocument, { input: { threadId: id } });
    expect(errorOf(again).extensions.code).toBe("CONFLICT");
    const kept = await server.query(CreateThreadDocument, {
      input: { threadId: id, metadata: { v: 2 }, ifExists: "DO_NOTHING" },
    });
    expect(kept.createThread.metadata).toEqual({ v: 1 });
  });

  it("refuses bad input and writes nothing", async () => {
    const id = randomUUID();
    const cases = [
      [{ threadId: "nope" }, "BAD_USER_INPUT", "input.threadId"],
      [{ threadId: id, metadata: [1] }, "BAD_USER_INPUT", "input.metadata"],
      [{ threadId: id, metadata: { note: "a\u0000b" } }, "BAD_USER_INPUT", "input.metadata"],
      [{ threadId: id, graphId: "nope" }, "NOT_FOUND", "input.graphId"],
      [
        { threadId: id, supersteps: [{ updates: [{ asNode: "agent", values: {} }] }] },
        "BAD_USER_INPUT",
        "input.supersteps",
      ],
      [
        {
          threadId: id,
          graphId: "agent",
          supersteps: [{ updates: [{ asNode: "no_such_node", values: {} }] }],
        },
        "BAD_USER_INPUT",
        "input.supersteps",
      ],
    ] as const;
    for (const [input, code, field] of cases) {
      const result = await server.request(CreateThreadDocument, { input: input as never });
      expect(errorOf(result).extensions).toMatchObject({ code, field });
    }
    expect((await server.query(ThreadDocument, { id })).thread).toBeNull();
    const left = await sql.query("SELECT 1 FROM checkpoint WHERE thread_id = $1", [id]);
    expect(left.rowCount).toBe(0);
  });

  it("replays supersteps into a history, binding the thread to its graph", async () => {
    const thread = await threadWithMessages("agent", 3);
    expect(thread.metadata).toEqual({ graph_id: "agent" });
    expect(thread.values).toMatchObject({
      messages: [{ content: "m0" }, { content: "m1" }, { content: "m2" }],
    });
    const { thread: read } = await server.query(ThreadHistoryDocument, {
      id: thread.id,
      first: 10,
    });
    expect(read?.history).toHaveLength(3);
    expect((read!.history[0]!.values as { messages: unknown[] }).messages).toHaveLength(3);
  });
});

describe("reading threads", () => {
  it("answers null for missing or malformed ids", async () => {
    expect((await server.query(ThreadDocument, { id: randomUUID() })).thread).toBeNull();
    expect((await server.query(ThreadDocument, { id: "x" })).thread).toBeNull();
  });

  it("shows an empty state for a thread that never ran", async () => {
    const { createThread } = await server.query(CreateThreadDocument, {});
    const { thread } = await server.query(ThreadStateDocument, { id: createThread.id });
    expect(thread?.state).toMatchObject({
      values: {},
      next: [],
      tasks: [],
      interrupts: [],
      checkpoint: { threadId: createThread.id, checkpointNs: "", checkpointId: null },
      parentCheckpoint: null,
    });
    const { thread: history } = await server.query(ThreadHistoryDocument, { id: createThread.id });
    expect(history?.history).toEqual([]);
  });

  it("serialises messages as LangChain dicts", async () => {
    const thread = await threadWithMessages("agent", 1);
    const { thread: read } = await server.query(ThreadStateDocument, { id: thread.id });
    expect((read!.state.values as { messages: unknown[] }).messages[0]).toMatchObject({
      type: "human",
      content: "m0",
      id: expect.any(String),
    });
  });
});

describe("updateThread", () => {
  it("merges metadata", async () => {
    const { createThread } = await server.query(CreateThreadDocument, {
      input: { metadata: { a: 1, b: 1 } },
    });
    const { updateThread } = await server.query(UpdateThreadDocument, {
      id: createThread.id,
      metadata: { b: 2, c: 3 },
    });
    expect(updateThread.metadata).toEqual({ a: 1, b: 2, c: 3 });
    const missing = await server.request(UpdateThreadDocument, { id: randomUUID(), metadata: {} });
    expect(errorOf(missing).extensions.code).toBe("NOT_FOUND");
  });
});

describe("threads search", () => {
  it("filters by ids, status, metadata and values containment, with order and paging", async () => {
    const tag = randomUUID();
    const a = await threadWithMessages("agent", 1, { tag, n: 1 });
    const b = await threadWithMessages("agent", 2, { tag, n: 2 });
    const { createThread: c } = await server.query(CreateThreadDocument, {
      input: { metadata: { tag, n: 3 } },
    });

    const all = await server.query(ThreadsDocument, {
      filter: { metadata: { tag } },
      orderBy: { field: "CREATED_AT", direction: "ASC" },
    });
    expect(all.threads.nodes.map((t) => t.id)).toEqual([a.id, b.id, c.id]);
    expect(all.threads.totalCount).toBe(3);

    const byIds = await server.query(ThreadsDocument, { filter: { ids: [a.id, c.id] } });
    expect(byIds.threads.nodes.map((t) => t.id).sort()).toEqual([a.id, c.id].sort());

    const byValues = await server.query(ThreadsDocument, {
      filter: { metadata: { tag }, values: { messages: [{ content: "m1" }] } },
    });
    expect(byValues.threads.nodes.map((t) => t.id)).toEqual([b.id]);

    const idle = await server.query(ThreadsDocument, {
      filter: { metadata: { tag }, status: "IDLE" },
    });
    expect(idle.threads.totalCount).toBe(3);
    const busy = await server.query(ThreadsDocument, {
      filter: { metadata: { tag }, status: "BUSY" },
    });
    expect(busy.threads.totalCount).toBe(0);

    const page1 = await server.query(ThreadsDocument, {
      filter: { metadata: { tag } },
      orderBy: { field: "CREATED_AT", direction: "DESC" },
      first: 2,
    });
    expect(page1.threads.nodes.map((t) => t.id)).toEqual([c.id, b.id]);
    const page2 = await server.query(ThreadsDocument, {
      filter: { metadata: { tag } },
      orderBy: { field: "CREATED_AT", direction: "DESC" },
      first: 2,
      after: page1.threads.pageInfo.endCursor,
    });
    expect(page2.threads.nodes.map((t) => t.id)).toEqual([a.id]);
    expect(page2.threads.pageInfo.hasNextPage).toBe(false);
  });

  it("refuses malformed ids in the filter", async () => {
    const result = await server.request(ThreadsDocument, { filter: { ids: ["nope"] } });
    expect(errorOf(result).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "filter.ids[0]",
    });
  });
});

describe("state and history", () => {
  it("pages history newest first with before, and filters it by metadata", async () => {
    const thread = await threadWithMessages("agent", 5);
    const { thread: first } = await server.query(ThreadHistoryDocument, {
      id: thread.id,
      first: 2,
    });
    const page1 = first!.history;
    expect(page1.map((s) => (s.values as { messages: unknown[] }).messages.length)).toEqual([5, 4]);
    const { thread: second } = await server.query(ThreadHistoryDocument, {
      id: thread.id,
      first: 2,
      before: { checkpointId: page1[1]!.checkpoint.checkpointId },
    });
    expect(
      second!.history.map((s) => (s.values as { messages: unknown[] }).messages.length),
    ).toEqual([3, 2]);
    expect(second!.history[0]!.checkpoint.checkpointId).toBe(
      page1[1]!.parentCheckpoint?.checkpointId,
    );

    const { thread: updates } = await server.query(ThreadHistoryDocument, {
      id: thread.id,
      metadata: { source: "update" },
    });
    expect(updates!.history).toHaveLength(5);
    const stepTwo = updates!.history.find((s) => (s.metadata as { step: number }).step === 2)!;
    const { thread: filtered } = await server.query(ThreadHistoryDocument, {
      id: thread.id,
      metadata: { step: 2 },
    });
    expect(filtered!.history.map((s) => s.checkpoint.checkpointId)).toEqual([
      stepTwo.checkpoint.checkpointId,
    ]);
  });

  it("reads the state at a past checkpoint", async () => {
    const thread = await threadWithMessages("agent", 3);
    const { thread: history } = await server.query(ThreadHistoryDocument, { id: thread.id });
    const oldest = history!.history.at(-1)!;
    const { thread: read } = await server.query(ThreadStateDocument, {
      id: thread.id,
      checkpoint: { checkpointId: oldest.checkpoint.checkpointId },
    });
    expect(read!.state.checkpoint.checkpointId).toBe(oldest.checkpoint.checkpointId);
    expect((read!.state.values as { messages: unknown[] }).messages).toHaveLength(1);
  });

  it("updateThreadState writes as a node and refreshes the thread's values", async () => {
    const thread = await threadWithMessages("agent", 1);
    const { updateThreadState } = await server.query(UpdateThreadStateDocument, {
      input: { threadId: thread.id, values: { messages: [human("edited")] }, asNode: "agent" },
    });
    expect(updateThreadState).toMatchObject({ threadId: thread.id, checkpointNs: "" });
    const { thread: read } = await server.query(ThreadStateDocument, { id: thread.id });
    expect(read!.state.checkpoint.checkpointId).toBe(updateThreadState.checkpointId);
    expect(read!.state.metadata).toMatchObject({ source: "update" });
    const { thread: row } = await server.query(ThreadDocument, { id: thread.id });
    expect((row!.values as { messages: Array<{ content: string }> }).messages.at(-1)?.content).toBe(
      "edited",
    );
  });

  it("updateThreadState keeps what jsonb cannot hold in the state; the thread's copy has U+FFFD", async () => {
    const thread = await threadWithMessages("agent", 1);
    const text = "a\u0000b \ud800";
    await server.query(UpdateThreadStateDocument, {
      input: { threadId: thread.id, values: { messages: [human(text)] }, asNode: "agent" },
    });
    const { thread: read } = await server.query(ThreadStateDocument, { id: thread.id });
    const state = read!.state.values as { messages: Array<{ content: string }> };
    expect(state.messages.at(-1)?.content).toBe(text);
    const { thread: row } = await server.query(ThreadDocument, { id: thread.id });
    const copy = row!.values as { messages: Array<{ content: string }> };
    expect(copy.messages.at(-1)?.content).toBe("a\uFFFDb \uFFFD");
  });

  it("forks from a past checkpoint, leaving the original branch intact", async () => {
    const thread = await threadWithMessages("agent", 3);
    const { thread: before } = await server.query(ThreadHistoryDocument, { id: thread.id });
    const past = before!.history.at(-1)!;
    const { updateThreadState: fork } = await server.query(UpdateThreadStateDocument, {
      input: {
        threadId: thread.id,
        values: { messages: [human("fork")] },
        asNode: "agent",
        checkpoint: { checkpointId: past.checkpoint.checkpointId },
      },
    });
    const { thread: forked } = await server.query(ThreadStateDocument, {
      id: thread.id,
      checkpoint: { checkpointId: fork.checkpointId },
    });
    expect(forked!.state.parentCheckpoint?.checkpointId).toBe(past.checkpoint.checkpointId);
    expect(
      (forked!.state.values as { messages: Array<{ content: string }> }).messages.map(
        (m) => m.content,
      ),
    ).toEqual(["m0", "fork"]);
    // The old branch's head is still readable as it was.
    const head = before!.history[0]!;
    const { thread: old } = await server.query(ThreadStateDocument, {
      id: thread.id,
      checkpoint: { checkpointId: head.checkpoint.checkpointId },
    });
    expect((old!.state.values as { messages: unknown[] }).messages).toHaveLength(3);
  });

  it("reads and edits a subgraph's state through its checkpoint namespace", async () => {
    const { createThread } = await server.query(CreateThreadDocument, {
      input: { graphId: "research" },
    });
    await runInProcess(createThread.id, { messages: [human("otters")] });
    const { thread: history } = await server.query(ThreadHistoryDocument, {
      id: createThread.id,
      first: 20,
    });
    const atResearch = history!.history.find((s) => s.next.includes("research"))!;
    const ns = atResearch.tasks.find((t) => t.name === "research")!.checkpoint!.checkpointNs;
    expect(ns).toMatch(/^research:/);

    const { thread: sub } = await server.query(ThreadStateDocument, {
      id: createThread.id,
      checkpoint: { checkpointNs: ns },
    });
    expect(sub!.state.values).toMatchObject({ topic: "otters", summary: expect.any(String) });
    expect(sub!.state.checkpoint.checkpointNs).toBe(ns);

    const { updateThreadState } = await server.query(UpdateThreadStateDocument, {
      input: {
        threadId: createThread.id,
        values: { summary: "edited summary" },
        asNode: "summarize",
        checkpoint: { checkpointNs: ns },
      },
    });
    expect(updateThreadState.checkpointNs).toBe(ns);
    const { thread: after } = await server.query(ThreadStateDocument, {
      id: createThread.id,
      checkpoint: { checkpointNs: ns },
    });
    expect(after!.state.values).toMatchObject({ summary: "edited summary" });
    // The parent's own state is untouched by the subgraph edit.
    const { thread: parent } = await server.query(ThreadStateDocument, { id: createThread.id });
    expect(parent!.state.values).not.toMatchObject({ summary: "edited summary" });
  });

  it("lists pending interrupts and marks the thread INTERRUPTED", async () => {
    const { createThread } = await server.query(CreateThreadDocument, {
      input: { graphId: "agent" },
    });
    await runInProcess(createThread.id, {
      messages: [human("please approve: email bob@example.com saying hi")],
    });
    const { thread } = await server.query(ThreadStateDocument, { id: createThread.id });
    expect(thread!.state.next).toEqual(["human_review"]);
    expect(thread!.state.interrupts).toHaveLength(1);
    expect(thread!.state.interrupts[0]).toMatchObject({
      id: expect.any(String),
      value: { question: expect.any(String) },
    });
    const { thread: row } = await server.query(ThreadDocument, { id: createThread.id });
    expect(row!.status).toBe("INTERRUPTED");
    expect(row!.interrupts).toEqual(thread!.state.interrupts);
  });

  it("refuses state updates with CONFLICT while a run is pending or running", async () => {
    const thread = await threadWithMessages("agent", 1);
    for (const status of ["PENDING", "RUNNING"]) {
      const runId = randomUUID();
      await sql.query(
        `INSERT INTO run (id, thread_id, assistant_id, status, updated_at)
         SELECT $1, $2, id, $3::"RunStatus", now() FROM assistant WHERE graph_id = 'agent' LIMIT 1`,
        [runId, thread.id, status],
      );
      const result = await server.request(UpdateThreadStateDocument, {
        input: { threadId: thread.id, values: { messages: [human("no")] }, asNode: "agent" },
      });
      expect(errorOf(result).extensions.code).toBe("CONFLICT");
      await sql.query("DELETE FROM run WHERE id = $1", [runId]);
    }
    const { thread: history } = await server.query(ThreadHistoryDocument, { id: thread.id });
    expect(history!.history).toHaveLength(1);
  });

  it("refuses updates on threads without a graph, and unknown nodes, as bad input", async () => {
    const { createThread } = await server.query(CreateThreadDocument, {});
    const noGraph = await server.request(UpdateThreadStateDocument, {
      input: { threadId: createThread.id, values: {} },
    });
    expect(errorOf(noGraph).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.threadId",
    });
    const thread = await threadWithMessages("agent", 1);
    const badNode = await server.request(UpdateThreadStateDocument, {
      input: { threadId: thread.id, values: {}, asNode: "nope" },
    });
    expect(errorOf(badNode).extensions.code).toBe("BAD_USER_INPUT");
    const missing = await server.request(UpdateThreadStateDocument, {
      input: { threadId: randomUUID(), values: {} },
    });
    expect(errorOf(missing).extensions.code).toBe("NOT_FOUND");
  });
});

describe("copyThread and deleteThread", () => {
  it("copies the whole history; editing the copy leaves the original alone", async () => {
    const source = await threadWithMessages("agent", 3, { team: "x" });
    const { copyThread } = await server.query(CopyThreadDocument, { id: source.id });
    expect(copyThread.id).not.toBe(source.id);
    expect(copyThread.metadata).toEqual(source.metadata);
    expect(copyThread.values).toEqual(source.values);

    const { thread: copied } = await server.query(ThreadHistoryDocument, { id: copyThread.id });
    const { thread: original } = await server.query(ThreadHistoryDocument, { id: source.id });
    expect(copied!.history.map((s) => s.checkpoint.checkpointId)).toEqual(
      original!.history.map((s) => s.checkpoint.checkpointId),
    );
    expect(copied!.history.every((s) => s.checkpoint.threadId === copyThread.id)).toBe(true);
    expect(copied!.history.map((s) => s.values)).toEqual(original!.history.map((s) => s.values));

    await server.query(UpdateThreadStateDocument, {
      input: {
        threadId: copyThread.id,
        values: { messages: [human("only in copy")] },
        asNode: "agent",
      },
    });
    const { thread: originalAfter } = await server.query(ThreadHistoryDocument, { id: source.id });
    expect(originalAfter!.history).toHaveLength(3);
    const { thread: copyAfter } = await server.query(ThreadHistoryDocument, { id: copyThread.id });
    expect(copyAfter!.history).toHaveLength(4);

    const missing = await server.request(CopyThreadDocument, { id: randomUUID() });
    expect(errorOf(missing).extensions.code).toBe("NOT_FOUND");
  });

  it("deletes the thread with its checkpoints and runs", async () => {
    const thread = await threadWithMessages("agent", 2);
    await sql.query(
      `INSERT INTO run (id, thread_id, assistant_id, status, updated_at)
       SELECT $1, $2, id, 'SUCCESS', now() FROM assistant WHERE graph_id = 'agent' LIMIT 1`,
      [randomUUID(), thread.id],
    );
    expect((await server.query(DeleteThreadDocument, { id: thread.id })).deleteThread).toBe(
      thread.id,
    );
    expect((await server.query(ThreadDocument, { id: thread.id })).thread).toBeNull();
    for (const table of ["checkpoint", "checkpoint_blob", "checkpoint_write", "run"]) {
      const left = await sql.query(`SELECT 1 FROM ${table} WHERE thread_id = $1`, [thread.id]);
      expect(left.rowCount, table).toBe(0);
    }
    const again = await server.request(DeleteThreadDocument, { id: thread.id });
    expect(errorOf(again).extensions.code).toBe("NOT_FOUND");
  });
});
