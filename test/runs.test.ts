import { randomUUID } from "node:crypto";
import pg from "pg";
import { UNSTORABLE_TEXT } from "./fixtures/graphs/runs.ts";
import {
  CancelRunDocument,
  CancelRunsDocument,
  CreateAssistantDocument,
  CreateRunDocument,
  CreateThreadDocument,
  DeleteAssistantDocument,
  DeleteRunDocument,
  DeleteThreadDocument,
  RunDocument,
  type RunInput,
  RunResultDocument,
  RunsDocument,
  SetAssistantVersionDocument,
  ThreadDocument,
  ThreadHistoryDocument,
  ThreadStateDocument,
  ThreadsWithRunsDocument,
  UpdateAssistantDocument,
  UpdateThreadStateDocument,
  WaitRunDocument,
} from "./gql/graphql.ts";
import { recordCommitModes } from "./helpers/db.ts";
import { errorOf } from "./helpers/graphql.ts";
import { stepsOf, until } from "./helpers/poll.ts";
import { fixturesConfig, startTestServer, type TestServer } from "./helpers/server.ts";

let server: TestServer;
let sql: pg.Client;

beforeAll(async () => {
  server = await startTestServer({ configFile: fixturesConfig });
  sql = new pg.Client({ connectionString: server.db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await server?.stop();
});

async function newThread() {
  return (await server.query(CreateThreadDocument, {})).createThread.id;
}

const createRun = async (input: RunInput) =>
  (await server.query(CreateRunDocument, { input })).createRun;
const waitRun = async (input: RunInput) => (await server.query(WaitRunDocument, { input })).waitRun;
const result = async (id: string) => (await server.query(RunResultDocument, { id })).runResult;
const threadOf = async (id: string) => (await server.query(ThreadDocument, { id })).thread!;

async function checkpointSteps(threadId: string): Promise<number> {
  const { rows } = await sql.query(
    "SELECT count(*)::int AS n FROM checkpoint WHERE thread_id = $1 AND checkpoint_ns = ''",
    [threadId],
  );
  return rows[0].n;
}

describe("runs on a thread", () => {
  it("waitRun returns the final values; run and thread end SUCCESS / IDLE", async () => {
    const threadId = await newThread();
    const outcome = await waitRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: { configurable: { steps: 3, delayMs: 1 } },
    });
    expect(outcome.run).toMatchObject({ status: "SUCCESS", attempt: 1, error: null, threadId });
    expect(outcome.run.startedAt).toBeTruthy();
    expect(outcome.run.endedAt).toBeTruthy();
    expect(stepsOf(outcome.values)).toEqual([1, 2, 3]);
    expect(outcome.interrupts).toEqual([]);
    const thread = await threadOf(threadId);
    expect(thread.status).toBe("IDLE");
    expect(stepsOf(thread.values)).toEqual([1, 2, 3]);
    // Checkpoints carry the run's identity, so history can be filtered by run.
    const { thread: history } = await server.query(ThreadHistoryDocument, {
      id: threadId,
      first: 50,
      metadata: { run_id: outcome.run.id },
    });
    expect(history!.history.length).toBeGreaterThan(0);
    expect(history!.history[0]!.metadata).toMatchObject({
      run_id: outcome.run.id,
      thread_id: threadId,
      graph_id: "slow",
      assistant_id: outcome.run.assistantId,
    });
  });

  it("merges config, context and metadata with the assistant's and records them", async () => {
    const threadId = await newThread();
    const run = await createRun({
      threadId,
      assistantId: "append",
      input: { items: ["x"] },
      metadata: { who: "test" },
      config: { configurable: { extra: 1 } },
    });
    expect(run).toMatchObject({
      // Claimed by this process's worker (it has a free slot) in the statement creating it.
      status: "RUNNING",
      metadata: { who: "test" },
      config: { configurable: { extra: 1 } },
    });
    const done = await result(run.id);
    expect(done.run.status).toBe("SUCCESS");
    expect(done.values).toMatchObject({ items: ["x"] });
    const thread = await threadOf(threadId);
    expect(thread.metadata).toMatchObject({ graph_id: "append", assistant_id: run.assistantId });
  });

  it("a run whose state holds what jsonb cannot (NUL, a lone surrogate) ends all the same", async () => {
    const threadId = await newThread();
    const outcome = await waitRun({ threadId, input: {}, assistantId: "unstorable" });
    expect(outcome.run.status).toBe("SUCCESS");
    // As the graph left it; the thread's copy for search and `Thread.values` holds U+FFFD.
    expect(outcome.values).toEqual({ text: UNSTORABLE_TEXT });
    const thread = await threadOf(threadId);
    expect(thread.status).toBe("IDLE");
    expect(thread.values).toEqual({
      text: "nul\uFFFD lone\uFFFD pair\ud83d\ude00 typed \\u0000 \\\\ud800 \\\uFFFD",
    });
  });

  it("runResult without wait answers at once; with wait after the end", async () => {
    const threadId = await newThread();
    const run = await createRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: { configurable: { steps: 2, delayMs: 100 } },
    });
    const early = (await server.query(RunResultDocument, { id: run.id, wait: false })).runResult;
    expect(["PENDING", "RUNNING"]).toContain(early.run.status);
    const late = await result(run.id);
    expect(late.run.status).toBe("SUCCESS");
    expect(stepsOf(late.values)).toEqual([1, 2]);
  });

  it("a failing graph ends ERROR with the error, and the thread ERROR", async () => {
    const threadId = await newThread();
    const outcome = await waitRun({ threadId, input: {}, assistantId: "fails" });
    expect(outcome.run.status).toBe("ERROR");
    expect(outcome.error).toEqual({ type: "Error", message: "boom: the node failed on purpose" });
    expect(outcome.run.error).toEqual(outcome.error);
    expect((await threadOf(threadId)).status).toBe("ERROR");
  });

  it("refuses bad input with coded errors and creates nothing", async () => {
    const threadId = await newThread();
    const cases: Array<[RunInput, string, string]> = [
      [{ threadId, assistantId: "nope" }, "NOT_FOUND", "input.assistantId"],
      [{ threadId: randomUUID(), input: {}, assistantId: "slow" }, "NOT_FOUND", "input.threadId"],
      [{ threadId: "bad", input: {}, assistantId: "slow" }, "BAD_USER_INPUT", "input.threadId"],
      [{ threadId, input: {}, assistantId: "slow", config: [] }, "BAD_USER_INPUT", "input.config"],
      [
        { threadId, input: {}, assistantId: "slow", afterSeconds: -1 },
        "BAD_USER_INPUT",
        "input.afterSeconds",
      ],
      [
        { threadId, input: {}, assistantId: "slow", interruptBefore: ["nope"] },
        "BAD_USER_INPUT",
        "input.interruptBefore",
      ],
      [
        { threadId, assistantId: "slow", input: {}, command: { resume: 1 } },
        "BAD_USER_INPUT",
        "input.command",
      ],
      [
        { threadId, input: {}, assistantId: "slow", webhook: "ftp://x" },
        "BAD_USER_INPUT",
        "input.webhook",
      ],
      [
        { assistantId: "slow", checkpoint: { checkpointId: randomUUID() } },
        "BAD_USER_INPUT",
        "input.checkpoint",
      ],
      // jsonb holds neither a NUL nor a lone surrogate.
      [
        { threadId, assistantId: "slow", input: { notes: ["a\u0000b"] } },
        "BAD_USER_INPUT",
        "input.input",
      ],
      [
        { threadId, input: {}, assistantId: "slow", metadata: { "\ud800": 1 } },
        "BAD_USER_INPUT",
        "input.metadata",
      ],
      [
        { threadId, input: {}, assistantId: "slow", checkpoint: { checkpointNs: "\u0000" } },
        "BAD_USER_INPUT",
        "input.checkpoint.checkpointNs",
      ],
    ];
    for (const [input, code, field] of cases) {
      const response = await server.request(CreateRunDocument, { input });
      expect(errorOf(response).extensions, JSON.stringify(input)).toMatchObject({ code, field });
    }
    expect(
      errorOf(
        await server.request(CreateRunDocument, {
          input: { threadId, assistantId: "slow", input: { notes: ["a\u0000b"] } },
        }),
      ).message,
    ).toBe(
      "input.input.notes[0] contains a NUL character or an unpaired UTF-16 surrogate, which cannot be stored",
    );
    const { runs } = await server.query(RunsDocument, { threadId });
    expect(runs.totalCount).toBe(0);
    expect((await threadOf(threadId)).status).toBe("IDLE");
  });

  it("creates the thread when asked (ifNotExists CREATE)", async () => {
    const threadId = randomUUID();
    const outcome = await waitRun({
      threadId,
      assistantId: "append",
      ifNotExists: "CREATE",
      input: { items: [1] },
    });
    expect(outcome.run.status).toBe("SUCCESS");
    expect((await threadOf(threadId)).status).toBe("IDLE");
  });

  it("lists runs newest first, by thread and status, and deletes finished ones", async () => {
    const threadId = await newThread();
    const first = await waitRun({ threadId, assistantId: "append", input: { items: [1] } });
    const second = await waitRun({ threadId, input: {}, assistantId: "fails" });
    const { runs } = await server.query(RunsDocument, { threadId });
    expect(runs.nodes.map((r) => r.id)).toEqual([second.run.id, first.run.id]);
    const failed = await server.query(RunsDocument, { threadId, status: "ERROR" });
    expect(failed.runs.nodes.map((r) => r.id)).toEqual([second.run.id]);
    const { run } = await server.query(RunDocument, { id: first.run.id });
    expect(run).toMatchObject({ thread: { id: threadId }, assistant: { graphId: "append" } });
    expect((await server.query(DeleteRunDocument, { id: first.run.id })).deleteRun).toBe(
      first.run.id,
    );
    expect((await server.query(RunDocument, { id: first.run.id })).run).toBeNull();
  });
});

describe("durability", () => {
  it("only SYNC waits for each checkpoint's WAL flush; the run's end is durable either way", async () => {
    // What each checkpoint, and the run's end, committed with, as the database saw it.
    const removeRecorder = await recordCommitModes(sql, [
      "INSERT ON checkpoint",
      "UPDATE OF ended_at ON run",
    ]);
    try {
      const modes = async (durability: "SYNC" | "ASYNC" | "EXIT") => {
        const threadId = await newThread();
        await waitRun({ threadId, assistantId: "append", input: { items: [1] }, durability });
        const { rows } = await sql.query(
          "SELECT mode, count(*)::int AS n FROM test_commit_modes WHERE thread_id = $1 GROUP BY mode ORDER BY mode",
          [threadId],
        );
        return rows;
      };
      // The run row's end (one row, "on") and its checkpoints.
      expect(await modes("SYNC")).toEqual([{ mode: "on", n: 4 }]);
      expect(await modes("ASYNC")).toEqual([
        { mode: "off", n: 3 },
        { mode: "on", n: 1 },
      ]);
      expect(await modes("EXIT")).toEqual([
        { mode: "off", n: 1 },
        { mode: "on", n: 1 },
      ]);
    } finally {
      await removeRecorder();
    }
  });
});

describe("the run's assistant", () => {
  it("is the assistant as it is now: updated, set back to a version, re-created", async () => {
    // A run checks its nodes against its assistant's graph and records the graph on its thread:
    // each must see the graph the assistant has at that moment.
    const runAt = async (assistantId: string, node?: string) => {
      const threadId = await newThread();
      const { waitRun } = await server.query(WaitRunDocument, {
        input: { assistantId, threadId, input: {}, ...(node ? { interruptBefore: [node] } : {}) },
      });
      expect(waitRun.run.status).toBe("SUCCESS");
      const { thread } = await server.query(ThreadDocument, { id: threadId });
      return (thread!.metadata as { graph_id: string }).graph_id;
    };
    const statelessAt = async (assistantId: string, node: string) => {
      const { waitRun } = await server.query(WaitRunDocument, {
        input: { assistantId, input: {}, interruptBefore: [node] },
      });
      expect(waitRun.run.status).toBe("SUCCESS");
    };
    const { createAssistant } = await server.query(CreateAssistantDocument, {
      input: { graphId: "slow", config: { configurable: { steps: 1, delayMs: 0 } } },
    });
    const id = createAssistant.id;
    expect(await runAt(id)).toBe("slow");
    await server.query(UpdateAssistantDocument, { id, input: { graphId: "append" } });
    expect(await runAt(id)).toBe("append");
    expect(await runAt(id, "record")).toBe("append");
    await statelessAt(id, "record");
    await server.query(SetAssistantVersionDocument, { id, version: 1 });
    expect(await runAt(id)).toBe("slow");
    await statelessAt(id, "step");
    await server.query(DeleteAssistantDocument, { id });
    const gone = await server.request(WaitRunDocument, { input: { assistantId: id, input: {} } });
    expect(errorOf(gone).extensions.code).toBe("NOT_FOUND");
    await server.query(CreateAssistantDocument, { input: { assistantId: id, graphId: "append" } });
    expect(await runAt(id)).toBe("append");
    await statelessAt(id, "record");
  });
});

describe("stateless runs", () => {
  it("DELETE: the temporary thread goes when the run ends; the result still carries it", async () => {
    const outcome = await waitRun({ assistantId: "append", input: { items: ["s"] } });
    expect(outcome.run.status).toBe("SUCCESS");
    expect(outcome.values).toMatchObject({ items: ["s"] });
    expect((await server.query(ThreadDocument, { id: outcome.run.threadId })).thread).toBeNull();
    const again = await result(outcome.run.id);
    expect(again.run.id).toBe(outcome.run.id);
    const left = await sql.query("SELECT 1 FROM checkpoint WHERE thread_id = $1", [
      outcome.run.threadId,
    ]);
    expect(left.rowCount).toBe(0);
  });

  it("KEEP: the thread stays with its state", async () => {
    const outcome = await waitRun({
      assistantId: "append",
      input: { items: ["k"] },
      onCompletion: "KEEP",
    });
    const thread = await threadOf(outcome.run.threadId);
    expect(thread).toMatchObject({ status: "IDLE", values: { items: ["k"] } });
  });
});

describe("interrupts and resume", () => {
  it("interrupt(): run SUCCESS, thread INTERRUPTED with its interrupts; resume answers each by id", async () => {
    const threadId = await newThread();
    const first = await waitRun({ threadId, input: {}, assistantId: "ask" });
    expect(first.run.status).toBe("SUCCESS");
    expect(first.interrupts).toHaveLength(2);
    const thread = await threadOf(threadId);
    expect(thread.status).toBe("INTERRUPTED");
    expect(thread.interrupts.map((i) => i.id).sort()).toEqual(
      first.interrupts.map((i) => i.id).sort(),
    );

    const byQuestion = Object.fromEntries(
      first.interrupts.map((i) => [(i.value as { question: string }).question, i.id]),
    );
    const resumed = await waitRun({
      threadId,
      assistantId: "ask",
      command: {
        resume: { [byQuestion["what about a?"]!]: "yes", [byQuestion["what about b?"]!]: "no" },
      },
    });
    expect(resumed.run.status).toBe("SUCCESS");
    expect((resumed.values as { answers: string[] }).answers.sort()).toEqual(["a=yes", "b=no"]);
    expect(resumed.interrupts).toEqual([]);
    expect((await threadOf(threadId)).status).toBe("IDLE");
  });

  it("resumes a single interrupt with a plain value (the chat agent's approval)", async () => {
    const threadId = await newThread();
    const asked = await waitRun({
      threadId,
      assistantId: "agent",
      input: {
        messages: [{ type: "human", content: "please approve: email bob@example.com saying hi" }],
      },
    });
    expect(asked.interrupts).toHaveLength(1);
    const approved = await waitRun({
      threadId,
      assistantId: "agent",
      command: { resume: "approve" },
    });
    expect(approved.run.status).toBe("SUCCESS");
    expect(approved.interrupts).toEqual([]);
    expect(approved.values).toMatchObject({ review: "approved" });
  });

  it("interruptBefore and interruptAfter stop the run; a run with no input continues", async () => {
    const threadId = await newThread();
    const before = await waitRun({
      threadId,
      input: {},
      assistantId: "slow",
      interruptBefore: ["step"],
      config: { configurable: { steps: 2, delayMs: 1 } },
    });
    expect(before.run.status).toBe("SUCCESS");
    expect(stepsOf(before.values)).toEqual([]);
    expect((await threadOf(threadId)).status).toBe("INTERRUPTED");
    const after = await waitRun({
      threadId,
      assistantId: "slow",
      interruptAfter: ["step"],
      config: { configurable: { steps: 2, delayMs: 1 } },
    });
    expect(stepsOf(after.values)).toEqual([1]);
    const rest = await waitRun({
      threadId,
      assistantId: "slow",
      config: { configurable: { steps: 2, delayMs: 1 } },
    });
    expect(stepsOf(rest.values)).toEqual([1, 2]);
    expect((await threadOf(threadId)).status).toBe("IDLE");
  });

  it("edit-then-continue: a state edit at the interrupt is what the resumed run sees", async () => {
    const threadId = await newThread();
    await waitRun({
      threadId,
      input: {},
      assistantId: "slow",
      interruptBefore: ["step"],
      config: { configurable: { steps: 3, delayMs: 1 } },
    });
    await server.query(UpdateThreadStateDocument, {
      input: { threadId, values: { steps: [10] } },
    });
    const continued = await waitRun({
      threadId,
      assistantId: "slow",
      config: { configurable: { steps: 3, delayMs: 1 } },
    });
    expect(stepsOf(continued.values)).toEqual([10, 2, 3]);
  });

  it("REJECT refuses new input on a thread waiting at an interrupt; other strategies supersede it, saying so", async () => {
    const threadId = await newThread();
    const asked = await waitRun({ threadId, input: {}, assistantId: "ask" });
    const refused = await server.request(CreateRunDocument, {
      input: {
        threadId,
        assistantId: "ask",
        input: { topics: ["c"] },
        multitaskStrategy: "REJECT",
      },
    });
    expect(errorOf(refused).extensions.code).toBe("CONFLICT");
    expect(errorOf(refused).message).toContain("interrupt");
    const superseding = await waitRun({ threadId, assistantId: "append", input: { items: [] } });
    expect(
      (
        superseding.run.metadata as { superseded_interrupts: Array<{ id: string }> }
      ).superseded_interrupts
        .map((i) => i.id)
        .sort(),
    ).toEqual(asked.interrupts.map((i) => i.id).sort());
  });
});

describe("double texting", () => {
  const slowConfig = (steps: number, delayMs: number) => ({ configurable: { steps, delayMs } });

  it("REJECT: CONFLICT while a run is in flight, nothing created", async () => {
    const threadId = await newThread();
    const running = await createRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: slowConfig(3, 200),
    });
    const refused = await server.request(CreateRunDocument, {
      input: { threadId, assistantId: "append", multitaskStrategy: "REJECT" },
    });
    expect(errorOf(refused).extensions.code).toBe("CONFLICT");
    const { runs } = await server.query(RunsDocument, { threadId });
    expect(runs.nodes.map((r) => r.id)).toEqual([running.id]);
    await server.query(CancelRunDocument, { id: running.id, wait: true });
  });

  it("ENQUEUE: 20 quick runs execute one at a time, in creation order", async () => {
    const threadId = await newThread();
    const runs = [];
    for (let i = 0; i < 20; i++) {
      runs.push(await createRun({ threadId, assistantId: "append", input: { items: [i] } }));
    }
    const last = await result(runs.at(-1)!.id);
    expect(last.values).toEqual({ items: Array.from({ length: 20 }, (_, i) => i), steps: [] });
    const { rows } = await sql.query(
      "SELECT id::text, started_at, ended_at FROM run WHERE thread_id = $1 ORDER BY created_at",
      [threadId],
    );
    expect(rows.map((r) => r.id)).toEqual(runs.map((r) => r.id));
    for (let i = 1; i < rows.length; i++) {
      expect(rows[i].started_at.getTime()).toBeGreaterThanOrEqual(rows[i - 1].ended_at.getTime());
    }
  });

  it("ENQUEUE: runs created at once on an idle thread start one at a time", async () => {
    // Each creator may find the thread idle and claim its run as it inserts it; the thread's
    // lock decides which one does, the others queue behind it.
    const threadId = await newThread();
    const runs = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        createRun({ threadId, assistantId: "append", input: { items: [i] } }),
      ),
    );
    for (const run of runs) expect((await result(run.id)).run.status).toBe("SUCCESS");
    const { rows } = await sql.query(
      "SELECT id::text, started_at, ended_at FROM run WHERE thread_id = $1 ORDER BY started_at",
      [threadId],
    );
    expect(rows).toHaveLength(12);
    for (let i = 1; i < rows.length; i++) {
      expect(rows[i].started_at.getTime()).toBeGreaterThanOrEqual(rows[i - 1].ended_at.getTime());
    }
    const state = await result(rows.at(-1).id);
    expect([...(state.values as { items: number[] }).items].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 12 }, (_, i) => i),
    );
  });

  it("INTERRUPT: the running run stops keeping its progress; the new run continues from there", async () => {
    const threadId = await newThread();
    const first = await createRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: slowConfig(20, 100),
    });
    await until(
      () => checkpointSteps(threadId),
      (n) => n >= 4,
      "two steps of the first run",
    );
    const second = await createRun({
      threadId,
      assistantId: "append",
      input: { items: ["second"] },
      multitaskStrategy: "INTERRUPT",
    });
    const done = await result(second.id);
    expect(done.run.status).toBe("SUCCESS");
    const interrupted = (await server.query(RunDocument, { id: first.id })).run!;
    expect(interrupted.status).toBe("INTERRUPTED");
    const steps = stepsOf(done.values);
    expect(steps.length).toBeGreaterThanOrEqual(2);
    expect(steps.length).toBeLessThan(20);
    expect(done.values).toMatchObject({ items: ["second"] });
    expect((await threadOf(threadId)).status).toBe("IDLE");
  });

  it("ROLLBACK of a running run: it and everything it wrote are gone; the new run starts from before it", async () => {
    const threadId = await newThread();
    await waitRun({ threadId, assistantId: "append", input: { items: ["before"] } });
    const checkpointsBefore = await checkpointSteps(threadId);
    const doomed = await createRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: slowConfig(20, 100),
    });
    await until(
      () => checkpointSteps(threadId),
      (n) => n >= checkpointsBefore + 3,
      "progress of the doomed run",
    );
    const next = await createRun({
      threadId,
      assistantId: "append",
      input: { items: ["after"] },
      multitaskStrategy: "ROLLBACK",
    });
    const done = await result(next.id);
    expect(done.run.status).toBe("SUCCESS");
    expect(done.values).toEqual({ items: ["before", "after"], steps: [] });
    expect((await server.query(RunDocument, { id: doomed.id })).run).toBeNull();
    const left = await sql.query(
      "SELECT count(*)::int AS n FROM checkpoint WHERE thread_id = $1 AND metadata ->> 'run_id' = $2",
      [threadId, doomed.id],
    );
    expect(left.rows[0].n).toBe(0);
    const { thread: history } = await server.query(ThreadHistoryDocument, {
      id: threadId,
      first: 100,
      metadata: { run_id: doomed.id },
    });
    expect(history!.history).toEqual([]);
  });

  it("ROLLBACK of a pending run deletes it before it starts", async () => {
    const threadId = await newThread();
    const running = await createRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: slowConfig(3, 100),
    });
    const pending = await createRun({ threadId, assistantId: "append", input: { items: ["p"] } });
    const replacing = await createRun({
      threadId,
      assistantId: "append",
      input: { items: ["r"] },
      multitaskStrategy: "ROLLBACK",
    });
    const done = await result(replacing.id);
    expect(done.values).toMatchObject({ items: ["r"] });
    expect((await server.query(RunDocument, { id: pending.id })).run).toBeNull();
    expect((await server.query(RunDocument, { id: running.id })).run).toBeNull();
  });
});

describe("runs of many threads", () => {
  it("threads { runs } pages each thread's runs, newest first, in a fixed number of queries", async () => {
    const batch = randomUUID();
    const threadIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { createThread } = await server.query(CreateThreadDocument, {
        input: { metadata: { batch } },
      });
      threadIds.push(createThread.id);
      for (let n = 0; n < 2; n++) {
        await waitRun({ threadId: createThread.id, assistantId: "append", input: { items: [n] } });
      }
    }
    const pool = server.services.db.pool;
    const query = pool.query.bind(pool);
    /**
     * The run-page reads the server sends while answering `threads { runs }` for `filter`
     * (recognised by their ordering; the worker's own background statements never match).
     */
    const statementsFor = async (filter: Record<string, unknown>) => {
      let count = 0;
      pool.query = ((...args: Parameters<typeof query>) => {
        const [first] = args as unknown[];
        const text = typeof first === "string" ? first : (first as { text?: string }).text;
        if (text?.includes("ORDER BY r.created_at DESC, r.id DESC")) count++;
        return query(...args);
      }) as typeof pool.query;
      try {
        const data = await server.query(ThreadsWithRunsDocument, { filter, runsFirst: 1 });
        return { count, nodes: data.threads.nodes };
      } finally {
        pool.query = query;
      }
    };
    const all = await statementsFor({ metadata: { batch } });
    expect(all.nodes.map((n) => n.id).sort()).toEqual([...threadIds].sort());
    for (const node of all.nodes) {
      expect(node.runs.totalCount).toBe(2);
      expect(node.runs.nodes).toHaveLength(1);
      expect(node.runs.nodes[0]!.threadId).toBe(node.id);
      const { rows } = await sql.query(
        "SELECT id::text FROM run WHERE thread_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
        [node.id],
      );
      expect(node.runs.nodes[0]!.id).toBe(rows[0].id);
    }
    const one = await statementsFor({ ids: [threadIds[0]] });
    expect(one.nodes).toHaveLength(1);
    expect(all.count).toBe(one.count);
  });
});

describe("cancel", () => {
  it("cancels a pending run (INTERRUPTED) and a running one mid-node, with wait", async () => {
    const threadId = await newThread();
    const running = await createRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: { configurable: { steps: 50, delayMs: 100 } },
    });
    const pending = await createRun({
      threadId,
      assistantId: "append",
      input: { items: ["never"] },
    });
    const cancelledPending = (await server.query(CancelRunDocument, { id: pending.id })).cancelRun;
    expect(cancelledPending.status).toBe("INTERRUPTED");
    await until(
      () => checkpointSteps(threadId),
      (n) => n >= 2,
      "the running run to start",
    );
    const cancelled = (await server.query(CancelRunDocument, { id: running.id, wait: true }))
      .cancelRun;
    expect(cancelled.status).toBe("INTERRUPTED");
    expect(stepsOf((await threadOf(threadId)).values).length).toBeLessThan(50);
    expect((await threadOf(threadId)).status).toBe("IDLE");
  });

  it("a cancelled run's end comes after what LangGraph writes on its way out (EXIT durability)", async () => {
    const threadId = await newThread();
    const running = await createRun({
      threadId,
      input: {},
      assistantId: "slow",
      durability: "EXIT",
      streamMode: ["VALUES"],
      config: { configurable: { steps: 50, delayMs: 100 } },
    });
    // EXIT writes no checkpoint until the run stops: its logged VALUES events show progress.
    await until(
      async () =>
        (
          await sql.query(
            "SELECT count(*)::int AS n FROM run_event WHERE run_id = $1 AND kind = 'VALUES'",
            [running.id],
          )
        ).rows[0].n,
      (n) => n >= 3,
      "two steps of the running run",
    );
    const cancelled = (await server.query(CancelRunDocument, { id: running.id, wait: true }))
      .cancelRun;
    expect(cancelled.status).toBe("INTERRUPTED");
    // LangGraph wrote its one checkpoint as the run stopped; the run's end read it.
    expect(await checkpointSteps(threadId)).toBe(1);
    const state = (await server.query(ThreadStateDocument, { id: threadId })).thread!.state;
    expect(stepsOf(state.values).length).toBeGreaterThanOrEqual(2);
    expect((await threadOf(threadId)).values).toEqual(state.values);
  });

  it("cancelRuns by thread with ROLLBACK removes its in-flight runs", async () => {
    const threadId = await newThread();
    const a = await createRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: { configurable: { steps: 50, delayMs: 100 } },
    });
    const b = await createRun({ threadId, assistantId: "append", input: { items: [1] } });
    const cancelled = (
      await server.query(CancelRunsDocument, { input: { threadId, action: "ROLLBACK" } })
    ).cancelRuns;
    expect(cancelled.map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
    await until(
      async () => (await server.query(RunsDocument, { threadId })).runs.totalCount,
      (n) => n === 0,
      "rollback",
    );
    expect((await threadOf(threadId)).status).toBe("IDLE");
  });

  it("refuses to delete a run in flight and to cancel what is not named", async () => {
    const threadId = await newThread();
    const run = await createRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: { configurable: { steps: 50, delayMs: 100 } },
    });
    expect(errorOf(await server.request(DeleteRunDocument, { id: run.id })).extensions.code).toBe(
      "CONFLICT",
    );
    expect(errorOf(await server.request(CancelRunsDocument, { input: {} })).extensions.code).toBe(
      "BAD_USER_INPUT",
    );
    expect(
      errorOf(await server.request(CancelRunDocument, { id: randomUUID() })).extensions.code,
    ).toBe("NOT_FOUND");
    await server.query(CancelRunDocument, { id: run.id, wait: true });
  });
});

describe("deleting a thread with a run in flight", () => {
  it("stops the run first, so nothing is written for the deleted thread", async () => {
    const threadId = await newThread();
    const run = await createRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: { configurable: { steps: 100, delayMs: 100 } },
    });
    await until(
      () => checkpointSteps(threadId),
      (n) => n >= 2,
      "the run to start",
    );
    expect((await server.query(DeleteThreadDocument, { id: threadId })).deleteThread).toBe(
      threadId,
    );
    expect((await server.query(RunDocument, { id: run.id })).run).toBeNull();
    // Had the run kept going, its next step would have checkpointed by now.
    await new Promise((r) => setTimeout(r, 300));
    expect(await checkpointSteps(threadId)).toBe(0);
  });
});

describe("time", () => {
  it("afterSeconds delays the start", async () => {
    const threadId = await newThread();
    const run = await createRun({
      threadId,
      assistantId: "append",
      input: { items: [1] },
      afterSeconds: 1,
    });
    const done = await result(run.id);
    expect(done.run.status).toBe("SUCCESS");
    const { rows } = await sql.query("SELECT created_at, started_at FROM run WHERE id = $1", [
      run.id,
    ]);
    expect(rows[0].started_at.getTime() - rows[0].created_at.getTime()).toBeGreaterThanOrEqual(
      1000,
    );
  });

  it("forks from a past checkpoint with checkpoint", async () => {
    const threadId = await newThread();
    await waitRun({
      threadId,
      input: {},
      assistantId: "slow",
      config: { configurable: { steps: 3, delayMs: 1 } },
    });
    const { thread } = await server.query(ThreadHistoryDocument, { id: threadId, first: 20 });
    const atOne = thread!.history.find((s) => stepsOf(s.values).length === 1)!;
    const forked = await waitRun({
      threadId,
      assistantId: "slow",
      checkpoint: { checkpointId: atOne.checkpoint.checkpointId },
      config: { configurable: { steps: 2, delayMs: 1 } },
    });
    expect(stepsOf(forked.values)).toEqual([1, 2]);
    const { thread: state } = await server.query(ThreadStateDocument, { id: threadId });
    expect(stepsOf(state!.state.values)).toEqual([1, 2]);
  });
});

describe("the queue", () => {
  const jobStates = async (runId: string) =>
    (
      await sql.query<{ state: string }>(
        "SELECT state FROM pgboss.job WHERE name = 'runs' AND data->>'runId' = $1",
        [runId],
      )
    ).rows.map((r) => r.state);

  it("settles a run's job in the transaction that ends the run", async () => {
    // Created where a worker has a free slot: claimed by the statement creating it, no job.
    const threadId = await newThread();
    const first = await createRun({
      threadId,
      assistantId: "slow",
      input: {},
      config: { configurable: { steps: 1, delayMs: 200 } },
    });
    expect(first.status).toBe("RUNNING");
    // Announced when due (its thread's first run ended): claimed straight away, its job never
    // fetched, and cancelled when it ends.
    const announced = await createRun({ threadId, assistantId: "append", input: { items: [1] } });
    expect(announced.status).toBe("PENDING");
    expect((await result(announced.id)).run.status).toBe("SUCCESS");
    expect(await jobStates(first.id)).toEqual([]);
    expect(await jobStates(announced.id)).toEqual(["cancelled"]);
    // Not due when created: the worker fetches its job when it is.
    const delayed = await createRun({
      threadId: await newThread(),
      assistantId: "append",
      input: { items: [1] },
      afterSeconds: 1,
    });
    expect((await result(delayed.id)).run.status).toBe("SUCCESS");
    expect(await jobStates(delayed.id)).toEqual(["completed"]);
  });
});

describe("claiming at creation", () => {
  let full: TestServer;
  beforeAll(async () => {
    full = await startTestServer({ configFile: fixturesConfig, env: { N_JOBS_PER_WORKER: "1" } });
  });
  afterAll(async () => {
    await full?.stop();
  });

  it("queues runs created while this process's worker has no free slot", async () => {
    const create = async (input: RunInput) =>
      (await full.query(CreateRunDocument, { input })).createRun;
    const thread = async () => (await full.query(CreateThreadDocument, {})).createThread.id;
    const busy = await create({
      threadId: await thread(),
      assistantId: "slow",
      input: {},
      config: { configurable: { steps: 2, delayMs: 150 } },
    });
    expect(busy.status).toBe("RUNNING");
    const queued = await create({
      threadId: await thread(),
      assistantId: "append",
      input: { items: [1] },
    });
    const stateless = await create({ assistantId: "append", input: { items: [2] } });
    expect([queued.status, stateless.status]).toEqual(["PENDING", "PENDING"]);

    const outcome = async (id: string) =>
      (await full.query(RunResultDocument, { id, wait: true })).runResult;
    const [first, second, third] = [
      await outcome(busy.id),
      await outcome(queued.id),
      await outcome(stateless.id),
    ];
    expect([first.run.status, second.run.status, third.run.status]).toEqual([
      "SUCCESS",
      "SUCCESS",
      "SUCCESS",
    ]);
    expect(second.values).toMatchObject({ items: [1] });
    expect(third.values).toMatchObject({ items: [2] });
    // One slot: the queued runs started only once the first had ended.
    const own = new pg.Client({ connectionString: full.db.url });
    await own.connect();
    try {
      const { rows } = await own.query(
        `SELECT bool_and(q.started_at >= b.ended_at) AS after FROM run q, run b
         WHERE q.id = ANY($1::uuid[]) AND b.id = $2::uuid`,
        [[queued.id, stateless.id], busy.id],
      );
      expect(rows[0].after).toBe(true);
    } finally {
      await own.end();
    }
  });
});
