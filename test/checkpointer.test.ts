import { Document } from "@langchain/core/documents";
import {
  AIMessage,
  AIMessageChunk,
  type BaseMessage,
  ChatMessage,
  HumanMessage,
  RemoveMessage,
  SystemMessage,
  ToolMessage,
} from "@langchain/core/messages";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  Annotation,
  Command,
  DeltaValue,
  END,
  interrupt,
  MemorySaver,
  MessagesAnnotation,
  messagesDeltaReducer,
  messagesStateReducer,
  Send,
  START,
  StateGraph,
  StateSchema,
  type StateSnapshot,
} from "@langchain/langgraph";
import * as checkpointModule from "@langchain/langgraph-checkpoint";
import {
  BaseCheckpointSaver,
  type CheckpointTuple,
  DeltaSnapshot,
  ERROR,
  emptyCheckpoint,
  type PendingWrite,
  TASKS,
  uuid6,
} from "@langchain/langgraph-checkpoint";
import pg from "pg";
import { z } from "zod";
import { RunCheckpointView } from "../src/checkpoint/run-view.ts";
import { createCheckpointSaver, type PrismaCheckpointSaver } from "../src/checkpoint/saver.ts";
import { FastSerializer } from "../src/checkpoint/serde.ts";
import { blobRows, collect, comparable, ThreadDriver } from "./checkpoint-fixtures.ts";
import { buildDeltaChat } from "./fixtures/graphs/delta.ts";
import { createTestDatabase, recordCommitModes, type TestDatabase } from "./helpers/db.ts";

let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 6 });
  pool.on("error", () => {});
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

const saver = (snapshotEvery?: number): PrismaCheckpointSaver =>
  createCheckpointSaver({ pool, snapshotEvery });

/** Counts the statements sent from now until the returned function is called. */
const statementsSent = () => {
  let count = 0;
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    count += 1;
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  return () => {
    pg.Client.prototype.query = query;
    return count;
  };
};

/**
 * A collation of this server that sorts "a" before "B" (byte order sorts "B" first), to store
 * writes under; null when the server has none (e.g. built without ICU or locales).
 */
async function caseFoldingCollation(db: pg.Pool): Promise<string | null> {
  const { rows } = await db.query<{ collname: string }>(
    `SELECT collname FROM pg_collation
     WHERE collname IN ('und-x-icu', 'en-x-icu', 'en_US.utf8', 'en_US.UTF-8')
       AND collencoding IN (-1, (SELECT encoding FROM pg_database WHERE datname = current_database()))`,
  );
  for (const { collname } of rows) {
    const { rows: order } = await db.query(`SELECT 'a' < ('B' COLLATE "${collname}") AS folds`);
    if (order[0]?.folds === true) return collname;
  }
  return null;
}

const human = (i: number, text = `question ${i} `.repeat(20)) =>
  new HumanMessage({ id: `h-${i}`, content: text });
const ai = (i: number, text = `answer ${i} `.repeat(30)) =>
  new AIMessage({
    id: `a-${i}`,
    content: text,
    tool_calls: i % 3 === 0 ? [{ id: `call-${i}`, name: "lookup", args: { q: i } }] : [],
  });
const tool = (i: number) =>
  new ToolMessage({ id: `t-${i}`, tool_call_id: `call-${i}`, content: `${i}` });

function messagesOf(tuple: CheckpointTuple | undefined): BaseMessage[] {
  expect(tuple).toBeDefined();
  return tuple!.checkpoint.channel_values.messages as BaseMessage[];
}

/** Every checkpoint the driver wrote reads back from ours exactly as from MemorySaver. */
async function expectSameHistory(
  ours: BaseCheckpointSaver,
  reference: BaseCheckpointSaver,
  driver: ThreadDriver,
) {
  for (const config of driver.configs) {
    const [a, b] = await Promise.all([ours.getTuple(config), reference.getTuple(config)]);
    expect(comparable(a)).toStrictEqual(comparable(b));
  }
  const scope = {
    configurable: { thread_id: driver.threadId, checkpoint_ns: driver.checkpointNs },
  };
  const [listed, expected] = await Promise.all([
    collect(ours.list(scope)),
    collect(reference.list(scope)),
  ]);
  expect(listed.map(comparable)).toStrictEqual(expected.map(comparable));
}

function expectMessagesOf(value: unknown, classes: (typeof HumanMessage | typeof AIMessage)[]) {
  expect(Array.isArray(value)).toBe(true);
  (value as unknown[]).forEach((message, i) => {
    expect(message).toBeInstanceOf(classes[i % classes.length]!);
  });
}

describe("delta storage of list channels", () => {
  it("stores appends as deltas and rebuilds every version exactly across snapshots", async () => {
    const ours = saver(4);
    const reference = new MemorySaver();
    const driver = new ThreadDriver([ours, reference], uuid6(1));
    let messages: BaseMessage[] = [];
    for (let i = 0; i < 40; i += 1) {
      messages = [...messages, human(i)];
      await driver.put({ messages, step: i });
      messages = i % 3 === 0 ? [...messages, ai(i), tool(i)] : [...messages, ai(i)];
      await driver.put({ messages });
    }
    await expectSameHistory(ours, reference, driver);

    const latest = await ours.getTuple({ configurable: { thread_id: driver.threadId } });
    expect(latest?.checkpoint.channel_values.messages).toHaveLength(messages.length);
    expect(messagesOf(latest)[0]).toBeInstanceOf(HumanMessage);

    const rows = await blobRows(pool, driver.threadId, "messages");
    expect(rows).toHaveLength(80);
    const byVersion = new Map(rows.map((r) => [r.version, r]));
    for (const row of rows) {
      if (row.kind === "FULL") {
        expect(row.depth).toBe(0);
        expect(row.root_version).toBe(row.version);
        continue;
      }
      const base = byVersion.get(row.base_version!)!;
      const root = byVersion.get(row.root_version!)!;
      expect(row.depth).toBe(base.depth + 1);
      expect(root.kind).toBe("FULL");
      // A chain never outgrows max(snapshotEvery, its snapshot's length).
      expect(row.depth).toBeLessThanOrEqual(Math.max(4, root.length!));
    }
    const full = rows.filter((r) => r.kind === "FULL");
    // Snapshots double in size: a handful, not one every four versions.
    expect(full.length).toBeLessThanOrEqual(8);
    expect(full.length).toBeGreaterThan(1);
  });

  it("keeps each delta proportional to its tail and total storage linear", async () => {
    const ours = saver();
    const threadId = uuid6(1);
    const driver = new ThreadDriver([ours], threadId);
    let messages: BaseMessage[] = [];
    const sizes: number[] = [];
    for (let i = 0; i < 150; i += 1) {
      const message = i % 2 ? ai(i, "x".repeat(500)) : human(i, "y".repeat(500));
      const [, bytes] = await ours.serde.dumpsTyped(message);
      sizes.push(bytes.byteLength);
      messages = [...messages, message];
      await driver.put({ messages });
    }
    const rows = await blobRows(pool, threadId, "messages");
    const byVersion = new Map(rows.map((r) => [r.version, r]));
    const frameOverhead = 1 + "json".length + 4;
    let deltas = 0;
    for (const row of rows) {
      if (row.kind !== "DELTA") continue;
      deltas += 1;
      const added = row.length! - byVersion.get(row.base_version!)!.length!;
      expect(added).toBe(1);
      expect(row.bytes).toBe(sizes[row.length! - 1]! + frameOverhead);
    }
    expect(deltas).toBeGreaterThan(140);
    const data = sizes.reduce((a, b) => a + b, 0);
    const stored = rows.reduce((a, r) => a + r.bytes, 0);
    expect(stored).toBeLessThan(3 * data);
  });

  it("stores replace-by-id and removals whole, then goes back to deltas", async () => {
    const ours = saver();
    const reference = new MemorySaver();
    const driver = new ThreadDriver([ours, reference], uuid6(1));
    let messages: BaseMessage[] = [];
    for (let i = 0; i < 5; i += 1) {
      messages = messagesStateReducer(messages, [human(i), ai(i)]);
      await driver.put({ messages });
    }
    messages = messagesStateReducer(messages, [ai(2, "edited answer")]);
    await driver.put({ messages });
    messages = messagesStateReducer(messages, [new RemoveMessage({ id: "h-1" })]);
    await driver.put({ messages });
    messages = messagesStateReducer(messages, [human(5)]);
    await driver.put({ messages });
    await expectSameHistory(ours, reference, driver);

    const kinds = (await blobRows(pool, driver.threadId, "messages")).map((r) => r.kind);
    expect(kinds).toEqual(["FULL", "DELTA", "DELTA", "DELTA", "DELTA", "FULL", "FULL", "DELTA"]);
    const latest = await ours.getTuple(driver.configs.at(-1)!);
    const ids = messagesOf(latest).map((m) => m.id);
    expect(ids).not.toContain("h-1");
    expect(ids.at(-1)).toBe("h-5");
  });

  it("does not lose an in-place edit of the last stored element", async () => {
    const ours = saver();
    const reference = new MemorySaver();
    const driver = new ThreadDriver([ours, reference], uuid6(1));
    const last = ai(1);
    const messages: BaseMessage[] = [human(1), last];
    await driver.put({ messages });
    last.content = "rewritten in place";
    await driver.put({ messages: [...messages, human(2)] });
    await expectSameHistory(ours, reference, driver);
    const latest = await ours.getTuple(driver.configs[1]!);
    expect(messagesOf(latest)[1]!.content).toBe("rewritten in place");
  });

  it("continues a thread with deltas from a process that never saw it", async () => {
    const first = saver();
    const threadId = uuid6(1);
    const driver = new ThreadDriver([first], threadId);
    let messages: BaseMessage[] = [human(0), ai(0)];
    await driver.put({ messages });
    messages = [...messages, human(1)];
    await driver.put({ messages });

    // A second process: no in-memory state; builds on the list it read itself.
    const second = saver();
    const read = await second.getTuple({ configurable: { thread_id: threadId } });
    messages = [...messagesOf(read), ai(1)];
    const continued = driver.continueWith([second]);
    await continued.put({ messages });

    // A third: no read either (the list comes from yet another reader); its put finds the base
    // through the parent checkpoint's row.
    const third = saver();
    const other = await saver().getTuple({ configurable: { thread_id: threadId } });
    const blind = continued.continueWith([third]);
    await blind.put({
      messages: [...messagesOf(other), human(2)],
    });

    const rows = await blobRows(pool, threadId, "messages");
    expect(rows.map((r) => r.kind)).toEqual(["FULL", "DELTA", "DELTA", "DELTA"]);
    const latest = await saver().getTuple({ configurable: { thread_id: threadId } });
    expect(messagesOf(latest).map((m) => m.id)).toEqual(["h-0", "a-0", "h-1", "a-1", "h-2"]);
  });

  it("looks up no base for a list its parent, written by the same saver, did not have", async () => {
    const writer = saver();
    const driver = new ThreadDriver([writer], uuid6(1));
    await driver.put({ step: 0 });
    // The same saver: one statement, the put.
    let done = statementsSent();
    await driver.put({ messages: [human(0)] });
    expect(done()).toBe(1);
    // Another saver (another process) cannot know: it asks the parent's row first.
    const other = driver.continueWith([saver()]);
    await other.put({ step: 1 });
    const next = other.continueWith([saver()]);
    done = statementsSent();
    await next.put({ messages: [human(0), ai(0)] });
    expect(done()).toBe(2);
    const rows = await blobRows(pool, driver.threadId, "messages");
    expect(rows.map((r) => r.kind)).toEqual(["FULL", "DELTA"]);
    const latest = await saver().getTuple({ configurable: { thread_id: driver.threadId } });
    expect(messagesOf(latest).map((m) => m.id)).toEqual(["h-0", "a-0"]);
  });

  it("builds on what it read even when revived messages re-serialise differently", async () => {
    // A revived AIMessageChunk serialises its kwargs in another order than the original.
    const chunk = (i: number) =>
      new AIMessageChunk({
        id: `c-${i}`,
        content: `chunk ${i}`,
        tool_call_chunks: [{ id: `call-${i}`, name: "lookup", args: '{"q":1}', index: 0 }],
      });
    const threadId = uuid6(1);
    const driver = new ThreadDriver([saver()], threadId);
    await driver.put({ messages: [human(0), chunk(0)] });
    const reader = saver();
    const read = await reader.getTuple({ configurable: { thread_id: threadId } });
    await driver.continueWith([reader]).put({ messages: [...messagesOf(read), chunk(1)] });
    const rows = await blobRows(pool, threadId, "messages");
    expect(rows.map((r) => r.kind)).toEqual(["FULL", "DELTA"]);
    const latest = await saver().getTuple({ configurable: { thread_id: threadId } });
    expect(messagesOf(latest)[2]).toBeInstanceOf(AIMessageChunk);
    expect(messagesOf(latest).map((m) => m.id)).toEqual(["h-0", "c-0", "c-1"]);
  });

  it("never builds on a base that changed under it (deleted and recreated thread)", async () => {
    const a = saver();
    const b = saver();
    const threadId = uuid6(1);
    const driverA = new ThreadDriver([a], threadId);
    const original = [human(0), ai(0)];
    await driverA.put({ messages: original });

    await b.deleteThread(threadId);
    const driverB = new ThreadDriver([b], threadId);
    await driverB.put({ messages: [human(9), ai(9), human(10)] });

    // a still believes version 1 holds `original`; Postgres disagrees, so a writes whole.
    await driverA.put({ messages: [...original, human(1)] });
    const rows = await blobRows(pool, threadId, "messages");
    expect(rows.map((r) => [r.version, r.kind])).toEqual([
      ["1", "FULL"],
      ["2", "FULL"],
    ]);
    const latest = await saver().getTuple(driverA.configs.at(-1)!);
    expect(messagesOf(latest).map((m) => m.id)).toEqual(["h-0", "a-0", "h-1"]);
  });
});

describe("a reader sharing decoded values (sharedReadItems)", () => {
  it("reads every version as the saver does while the thread grows, decoding each once", async () => {
    const writer = saver(4);
    const reader = createCheckpointSaver({ pool, snapshotEvery: 4, sharedReadItems: 10_000 });
    const reference = new MemorySaver();
    const driver = new ThreadDriver([writer, reference], uuid6(1));
    const latest = () => ({ configurable: { thread_id: driver.threadId, checkpoint_ns: "" } });
    let messages: BaseMessage[] = [];
    for (let i = 0; i < 24; i += 1) {
      messages = messagesStateReducer(messages, [human(i), ai(i)]);
      // A replaced message (stored whole), and a channel emptied and refilled along the way.
      if (i === 9) messages = messagesStateReducer(messages, [ai(3, "edited answer")]);
      await driver.put({ messages, note: i % 5 === 4 ? undefined : `turn ${i}` });
      if (i % 3 !== 0) continue;
      // Reading between puts leaves cached bases for the next versions' chains to stop at.
      const [ours, expected] = await Promise.all([
        reader.getTuple(latest()),
        reference.getTuple(latest()),
      ]);
      expect(comparable(ours)).toStrictEqual(comparable(expected));
      const [page, expectedPage] = await Promise.all([
        collect(reader.list(latest(), { limit: 5 })),
        collect(reference.list(latest(), { limit: 5 })),
      ]);
      expect(page.map(comparable)).toStrictEqual(expectedPage.map(comparable));
    }
    await expectSameHistory(reader, reference, driver);

    // Shared: the same version read twice gives the same message objects, in fresh arrays.
    const [a, b] = await Promise.all([reader.getTuple(latest()), reader.getTuple(latest())]);
    expect(messagesOf(a)).not.toBe(messagesOf(b));
    for (const [i, message] of messagesOf(a).entries()) expect(message).toBe(messagesOf(b)[i]);
    const [c, d] = await Promise.all([writer.getTuple(latest()), writer.getTuple(latest())]);
    expect(messagesOf(c)[0]).not.toBe(messagesOf(d)[0]);
  });
});

describe("other values", () => {
  it("stores non-list channels whole and carries unchanged channels over", async () => {
    const ours = saver(2);
    const reference = new MemorySaver();
    const driver = new ThreadDriver([ours, reference], uuid6(1));
    await driver.put({
      text: "hello",
      count: 1,
      nested: { a: [1, 2, { b: "c" }], d: null },
      bytes: new Uint8Array([1, 2, 3]),
      set: new Set(["x"]),
      snapshot: new DeltaSnapshot([1, 2]),
      list: [1, "two", { three: 3 }],
      empty: [],
    });
    await driver.put({ count: 2, list: [1, "two", { three: 3 }, [4]] });
    await driver.put({ text: undefined, empty: [undefined, null] });
    await driver.put({ list: ["replaced"], nested: { a: [] } });
    await expectSameHistory(ours, reference, driver);
    const latest = await ours.getTuple(driver.configs.at(-1)!);
    expect(latest?.checkpoint.channel_values).not.toHaveProperty("text");
    expect(latest?.checkpoint.channel_values.set).toBeInstanceOf(Set);
    expect(latest?.checkpoint.channel_values.snapshot).toBeInstanceOf(DeltaSnapshot);
    const kinds = (await blobRows(pool, driver.threadId, "list")).map((r) => r.kind);
    expect(kinds).toEqual(["FULL", "DELTA", "FULL"]);
  });

  it("keeps namespaces apart within a thread", async () => {
    const ours = saver(3);
    const reference = new MemorySaver();
    const threadId = uuid6(1);
    const root = new ThreadDriver([ours, reference], threadId, "");
    const child = new ThreadDriver([ours, reference], threadId, "agent:1234");
    let rootMessages: BaseMessage[] = [];
    let childMessages: BaseMessage[] = [];
    for (let i = 0; i < 12; i += 1) {
      rootMessages = [...rootMessages, human(i)];
      childMessages = [...childMessages, ai(i)];
      // Same versions in both namespaces: rows must never mix.
      await root.put({ messages: rootMessages });
      await child.put({ messages: childMessages });
    }
    await expectSameHistory(ours, reference, root);
    await expectSameHistory(ours, reference, child);
    const all = await collect(ours.list({ configurable: { thread_id: threadId } }));
    expect(all).toHaveLength(24);
    const newest = (ns: string) => all.find((t) => t.config.configurable?.checkpoint_ns === ns);
    expectMessagesOf(newest("")?.checkpoint.channel_values.messages, [HumanMessage]);
    expectMessagesOf(newest("agent:1234")?.checkpoint.channel_values.messages, [AIMessage]);

    await ours.deleteThread(threadId);
    expect(await collect(ours.list({ configurable: { thread_id: threadId } }))).toEqual([]);
    const { rows } = await pool.query("SELECT 1 FROM checkpoint_blob WHERE thread_id = $1", [
      threadId,
    ]);
    expect(rows).toEqual([]);
  });

  it("keeps the first regular write of a task and the last special one", async () => {
    const ours = saver();
    const driver = new ThreadDriver([ours], uuid6(1));
    await driver.put({ messages: [human(0)] });
    const config = driver.configs[0]!;
    await ours.putWrites(config, [["messages", ["first"]]], "task");
    await ours.putWrites(config, [["messages", ["second"]]], "task");
    await ours.putWrites(config, [[ERROR, "boom 1"]], "task");
    await ours.putWrites(config, [[ERROR, "boom 2"]], "task");
    await ours.putWrites(
      config,
      [
        [ERROR, "boom 3"],
        [ERROR, "boom 4"],
      ],
      "other",
    );
    const tuple = await ours.getTuple(config);
    expect(tuple?.pendingWrites).toEqual([
      ["other", ERROR, "boom 4"],
      ["task", ERROR, "boom 2"],
      ["task", "messages", ["first"]],
    ]);
  });

  it("reads a checkpoint's writes by task path, task id and index, strings by code point, whatever the collation", async () => {
    // A database whose collation is not byte order: "a" < "B" there, "B" < "a" by code point.
    const local = await createTestDatabase();
    const localPool = new pg.Pool({ connectionString: local.url, max: 2 });
    localPool.on("error", () => {});
    try {
      const collation = await caseFoldingCollation(localPool);
      if (collation) {
        await localPool.query(
          `ALTER TABLE checkpoint_write ALTER COLUMN task_path TYPE text COLLATE "${collation}",
                                        ALTER COLUMN task_id TYPE text COLLATE "${collation}"`,
        );
      }
      const ours = createCheckpointSaver({ pool: localPool });
      const threadId = uuid6(1);
      const view = new RunCheckpointView(ours, threadId);
      const reference = new MemorySaver();
      const driver = new ThreadDriver([view, reference], threadId);
      await driver.put({ messages: [human(0)] });
      const config = driver.configs[0]!;
      // [task id, task path (undefined: none given), writes], stored in this order.
      const written: [string, string | undefined, PendingWrite[]][] = [
        ["t-1", "~__pregel_pull, b", [["messages", "b0"]]],
        ["t-2", "~__pregel_pull, B", [["messages", "B0"]]],
        [
          "t-0",
          "~__pregel_pull, a",
          [
            ["messages", "a0"],
            ["other", "a1"],
            [ERROR, "a-error"],
          ],
        ],
        ["t-3", "~__pregel_pull, \u{10000}", [["messages", "astral"]]],
        ["t-4", "~__pregel_pull, \uffff", [["messages", "bmp"]]],
        ["t-6", undefined, [["messages", "input"]]],
        ["t-5", "", [["messages", "command"]]],
        ["t-7", "~__pregel_pull, b", [["messages", "b-second-task"]]],
      ];
      for (const [taskId, taskPath, writes] of written) {
        await Promise.all(
          [view, reference].map((saver) => saver.putWrites(config, writes, taskId, taskPath)),
        );
      }
      const expected = [
        ["t-5", "messages", "command"],
        ["t-6", "messages", "input"],
        ["t-2", "messages", "B0"],
        ["t-0", ERROR, "a-error"],
        ["t-0", "messages", "a0"],
        ["t-0", "other", "a1"],
        ["t-1", "messages", "b0"],
        ["t-7", "messages", "b-second-task"],
        ["t-4", "messages", "bmp"],
        ["t-3", "messages", "astral"],
      ];
      expect((await ours.getTuple(config))?.pendingWrites).toEqual(expected);
      expect((await collect(ours.list(config)))[0]?.pendingWrites).toEqual(expected);
      expect((await view.getTuple(config))?.pendingWrites).toEqual(expected);
      // MemorySaver orders them too since @langchain/langgraph-checkpoint 1.2 (writesSortKey).
      if (typeof (checkpointModule as Record<string, unknown>).writesSortKey === "function") {
        expect((await reference.getTuple(config))?.pendingWrites).toEqual(expected);
      }
    } finally {
      await localPool.end();
      await local.drop();
    }
  });

  it("can commit without waiting for the WAL flush, for its own statements only", async () => {
    const single = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      const ours = createCheckpointSaver({ pool: single, synchronousCommit: false });
      const reference = new MemorySaver();
      const driver = new ThreadDriver([ours, reference], uuid6(1));
      await driver.put({ messages: [human(0)] });
      await driver.put({ messages: [human(0), ai(0)] });
      await ours.putWrites(driver.configs[1]!, [["messages", [human(1)]]], "task");
      await reference.putWrites(driver.configs[1]!, [["messages", [human(1)]]], "task");
      await expectSameHistory(ours, reference, driver);
      const { rows } = await single.query("SHOW synchronous_commit");
      expect(rows[0].synchronous_commit).toBe("on");
    } finally {
      await single.end();
    }
  });

  it("answers getDeltaChannelHistory as the base implementation does", async () => {
    const ours = saver(2);
    const threadId = uuid6(1);
    const driver = new ThreadDriver([ours], threadId);
    const configs: RunnableConfig[] = [];
    // Task paths in the opposite order of the task ids, where the installed checkpoint package
    // orders writes by them (>= 1.2: the base walk relies on getTuple's order).
    const paths = typeof (checkpointModule as Record<string, unknown>).writesSortKey === "function";
    const write = async (update: Record<string, unknown>, writes: [string, unknown][][]) => {
      await driver.put(update);
      const config = driver.configs.at(-1)!;
      configs.push(config);
      for (const [i, w] of writes.entries()) {
        const task = (i * 7) % 3;
        await ours.putWrites(config, w, `task-${task}`, paths ? `~path-${3 - task}` : undefined);
      }
    };
    await write({ messages: new DeltaSnapshot([human(0)]), other: [1] }, [
      [["messages", [ai(0)]]],
      [
        ["other", [2]],
        ["messages", [human(1)]],
      ],
    ]);
    await write({ scratch: "x" }, [[["messages", [ai(1)]]], [[TASKS, "send"]]]);
    await write({ other: [1, 2, 3] }, [[["messages", [human(2)]]]]);
    await write({ messages: undefined }, [[["messages", [ai(2)]]], [["other", [4]]]]);
    await write({ scratch: "y" }, []);
    const base = BaseCheckpointSaver.prototype.getDeltaChannelHistory;
    for (const config of [...configs, { configurable: { thread_id: threadId } }]) {
      for (const channels of [["messages"], ["messages", "other", "missing"], []]) {
        const [got, want] = await Promise.all([
          ours.getDeltaChannelHistory({ config, channels }),
          base.call(ours, { config, channels }),
        ]);
        expect(got).toStrictEqual(want);
      }
    }
  });
});

describe("graphs end to end", () => {
  /** StateSnapshots without the ids and timestamps two runs cannot share. */
  const normalise = (snapshot: StateSnapshot) => ({
    values: snapshot.values,
    next: snapshot.next,
    metadata: { ...snapshot.metadata, parents: Object.keys(snapshot.metadata?.parents ?? {}) },
    tasks: snapshot.tasks.map((t) => ({
      name: t.name,
      interrupts: t.interrupts.map((i) => i.value),
    })),
    hasParent: snapshot.parentConfig !== undefined,
    ns: snapshot.config.configurable?.checkpoint_ns,
  });

  function chatGraph(checkpointer: BaseCheckpointSaver) {
    const Review = Annotation.Root({ ...MessagesAnnotation.spec, approved: Annotation<string>() });
    // A subgraph that answers and, every fifth turn, asks a human first.
    const agent = new StateGraph(MessagesAnnotation)
      .addNode("answer", (state) => {
        const n = state.messages.length;
        if (n % 10 === 9) interrupt({ question: `approve turn ${n}?` });
        return { messages: [ai(n, `answer to ${n} `.repeat(25))] };
      })
      .addEdge(START, "answer")
      .addEdge("answer", END)
      .compile();
    return new StateGraph(Review)
      .addNode("agent", agent)
      .addNode("tally", (state) => ({ approved: `seen ${state.messages.length}` }))
      .addEdge(START, "agent")
      .addEdge("agent", "tally")
      .addEdge("tally", END)
      .compile({ checkpointer });
  }

  async function drive(checkpointer: BaseCheckpointSaver, threadId: string, turns: number) {
    const graph = chatGraph(checkpointer);
    const config = { configurable: { thread_id: threadId } };
    for (let turn = 0; turn < turns; turn += 1) {
      await graph.invoke({ messages: [human(turn)] }, config);
      const state = await graph.getState(config);
      if (state.next.length > 0) await graph.invoke(new Command({ resume: "yes" }), config);
    }
    return { graph, config };
  }

  it("gives the same state and history as MemorySaver over many turns", async () => {
    const ours = saver(3);
    const reference = new MemorySaver();
    const threadId = uuid6(1);
    const [a, b] = await Promise.all([drive(ours, threadId, 24), drive(reference, threadId, 24)]);

    const [stateA, stateB] = await Promise.all([
      a.graph.getState(a.config, { subgraphs: true }),
      b.graph.getState(b.config, { subgraphs: true }),
    ]);
    expect(normalise(stateA)).toStrictEqual(normalise(stateB));
    expect(stateA.values.messages).toHaveLength(48);
    expectMessagesOf(stateA.values.messages, [HumanMessage, AIMessage]);

    const [historyA, historyB] = await Promise.all([
      collect(a.graph.getStateHistory(a.config)),
      collect(b.graph.getStateHistory(b.config)),
    ]);
    expect(historyA.length).toBe(historyB.length);
    expect(historyA.map(normalise)).toStrictEqual(historyB.map(normalise));
    const page = await collect(a.graph.getStateHistory(a.config, { limit: 10 }));
    expect(page.map(normalise)).toStrictEqual(historyB.slice(0, 10).map(normalise));

    // The subgraph's checkpoints live in their own namespaces, with their own chains.
    const { rows } = await pool.query<{ ns: string; kind: string; n: number }>(
      `SELECT checkpoint_ns <> '' AS ns, kind, count(*)::int AS n FROM checkpoint_blob
       WHERE thread_id = $1 AND channel = 'messages' GROUP BY 1, 2 ORDER BY 1, 2`,
      [threadId],
    );
    const count = (ns: boolean, kind: string) =>
      rows.find((r) => String(r.ns) === String(ns) && r.kind === kind)?.n ?? 0;
    expect(count(false, "DELTA")).toBeGreaterThan(count(false, "FULL") * 3);
    expect(count(true, "FULL")).toBeGreaterThan(0);
  });

  it("interrupts inside a subgraph and resumes from our checkpoints", async () => {
    const ours = saver();
    const threadId = uuid6(1);
    const graph = chatGraph(ours);
    const config = { configurable: { thread_id: threadId } };
    for (let turn = 0; turn < 5; turn += 1) await graph.invoke({ messages: [human(turn)] }, config);
    const waiting = await graph.getState(config, { subgraphs: true });
    expect(waiting.next).toEqual(["agent"]);
    expect(waiting.tasks[0]?.interrupts[0]?.value).toEqual({ question: "approve turn 9?" });
    const sub = waiting.tasks[0]?.state as StateSnapshot;
    expect(sub.config.configurable?.checkpoint_ns).toMatch(/^agent:/);
    expect(sub.values.messages).toHaveLength(9);
    await graph.invoke(new Command({ resume: "yes" }), config);
    const done = await graph.getState(config);
    expect(done.next).toEqual([]);
    expect(done.values.messages).toHaveLength(10);
    expect(done.values.approved).toBe("seen 10");
  });

  it("rebuilds DeltaChannel state through getDeltaChannelHistory like MemorySaver", async () => {
    const State = new StateSchema({
      messages: new DeltaValue(
        z.custom<BaseMessage[]>().default(() => []),
        {
          reducer: messagesDeltaReducer,
          snapshotFrequency: 4,
        },
      ),
    });
    const build = (checkpointer: BaseCheckpointSaver) =>
      new StateGraph(State)
        .addNode("answer", (state) => ({ messages: [ai(state.messages.length)] }))
        .addEdge(START, "answer")
        .addEdge("answer", END)
        .compile({ checkpointer });
    const threadId = uuid6(1);
    const config = { configurable: { thread_id: threadId } };
    const graphs = [build(saver()), build(new MemorySaver())];
    for (let turn = 0; turn < 11; turn += 1) {
      for (const graph of graphs) await graph.invoke({ messages: [human(turn)] }, config);
    }
    const [ours, reference] = await Promise.all(graphs.map((g) => g.getState(config)));
    expect(ours!.values.messages).toHaveLength(22);
    expect(ours!.values).toStrictEqual(reference!.values);
    const histories = await Promise.all(graphs.map((g) => collect(g.getStateHistory(config))));
    expect(histories[0]!.map((s) => s.values)).toStrictEqual(histories[1]!.map((s) => s.values));
  });
});

describe("a superstep's parallel writes to a DeltaChannel", () => {
  /** MemorySaver, noting whether LangGraph passes putWrites a task path (>= 1.7 does). */
  class PathNotingSaver extends MemorySaver {
    pathsGiven = false;
    override putWrites(...args: Parameters<MemorySaver["putWrites"]>): Promise<void> {
      // The 4th parameter, taskPath, exists in @langchain/langgraph-checkpoint >= 1.2 only.
      if ((args as unknown[])[3]) this.pathsGiven = true;
      return super.putWrites(...args);
    }
  }

  const messageIds = (values: { messages: BaseMessage[] }) => values.messages.map((m) => m.id);

  for (const durability of ["sync", "async", "exit"] as const) {
    it(`read back in the order the run applied them (${durability} durability)`, async (context) => {
      const stored = saver();
      const reference = new PathNotingSaver();
      const threadId = uuid6(1);
      const config = { configurable: { thread_id: threadId } };
      for (let turn = 0; turn < 4; turn += 1) {
        const input = { messages: [new HumanMessage({ id: `h-${turn}`, content: "hi" })] };
        // As the executor runs a graph: through a run's view of the saver.
        const view = new RunCheckpointView(stored, threadId);
        const [ran, ranOnReference] = await Promise.all([
          buildDeltaChat()
            .compile({ checkpointer: view })
            .invoke(input, { ...config, durability }),
          buildDeltaChat()
            .compile({ checkpointer: reference })
            .invoke(input, { ...config, durability }),
        ]);
        // LangGraph < 1.7 replays a run's EXIT-mode writes by task id, not as it applied them,
        // with its own MemorySaver too: nothing a saver can do without the task paths.
        if (durability === "exit" && !reference.pathsGiven) context.skip();
        const [state, referenceState] = await Promise.all([
          buildDeltaChat().compile({ checkpointer: stored }).getState(config),
          buildDeltaChat().compile({ checkpointer: reference }).getState(config),
        ]);
        expect(messageIds(referenceState.values)).toEqual(messageIds(ranOnReference));
        expect(messageIds(state.values)).toEqual(messageIds(ran));
        expect(state.values.messages).toHaveLength(8 * (turn + 1));
      }
      const history = await collect(
        buildDeltaChat().compile({ checkpointer: stored }).getStateHistory(config),
      );
      const last = messageIds(history[0]!.values);
      for (const entry of history) {
        const ids = messageIds(entry.values);
        expect(ids).toEqual(last.slice(0, ids.length));
      }
    });
  }
});

describe("a run's view of the saver", () => {
  /** A graph's state as a client would see it: JSON, without ids and timestamps. */
  const seen = (snapshot: StateSnapshot) =>
    JSON.parse(
      JSON.stringify({
        values: snapshot.values,
        next: snapshot.next,
        tasks: snapshot.tasks.map((t) => ({
          name: t.name,
          error: t.error ?? null,
          interrupts: t.interrupts.map((i) => i.value),
        })),
        id: snapshot.config.configurable?.checkpoint_id,
        parent: snapshot.parentConfig?.configurable?.checkpoint_id,
      }),
    );

  it("reads the run's outcome from what it wrote, as the saver would read it back", async () => {
    const stored = saver();
    const Review = Annotation.Root({ ...MessagesAnnotation.spec, approved: Annotation<string>() });
    const build = (checkpointer: BaseCheckpointSaver) =>
      new StateGraph(Review)
        .addNode("answer", (state) => {
          const n = state.messages.length;
          if (n % 4 === 3) interrupt({ question: `approve ${n}?` });
          if (state.approved === "fail") throw new Error("the model refused");
          return { messages: [ai(n)] };
        })
        .addNode("tally", (state) => ({ approved: `seen ${state.messages.length}` }))
        .addEdge(START, "answer")
        .addEdge("answer", "tally")
        .addEdge("tally", END)
        .compile({ checkpointer });
    const threadId = uuid6(1);
    const config = { configurable: { thread_id: threadId } };
    const inputs: unknown[] = [
      { messages: [human(0)] },
      { messages: [human(1)] }, // interrupts (3 messages in)
      new Command({ resume: "yes" }),
      { messages: [human(2)], approved: "fail" }, // fails in a node
      { messages: [human(3)], approved: "ok" },
    ];
    for (const [i, input] of inputs.entries()) {
      // Each "run" gets its own view, as the executor does; durability varies.
      const view = new RunCheckpointView(stored, threadId);
      const durability = (["sync", "async", "exit"] as const)[i % 3];
      const failed = await build(view)
        .invoke(input as never, { ...config, durability })
        .then(
          () => false,
          (error: Error) => error.message === "the model refused",
        );
      expect(failed).toBe(i === 3);
      const count = statementsSent();
      const fromView = await build(view).getState(config);
      expect(count()).toBe(0);
      const fromSaver = await build(stored).getState(config);
      expect(seen(fromView)).toStrictEqual(seen(fromSaver));
    }
    const last = await build(stored).getState(config);
    expect(last.values.approved).toBe("seen 7");
  });

  it("commits a run's writes without waiting for the WAL flush unless told to wait", async () => {
    const removeRecorder = await recordCommitModes(pool, [
      "INSERT ON checkpoint",
      "INSERT ON checkpoint_write",
    ]);
    try {
      const stored = saver();
      const modes = async (waitForFlush: boolean) => {
        const threadId = uuid6(1);
        const view = new RunCheckpointView(stored, threadId, { waitForFlush });
        const driver = new ThreadDriver([view], threadId);
        await driver.put({ messages: [human(0)] });
        await view.putWrites(driver.configs[0]!, [["messages", [ai(0)]]], "task");
        const { rows } = await pool.query(
          "SELECT DISTINCT mode FROM test_commit_modes WHERE thread_id = $1",
          [threadId],
        );
        return rows.map((r) => r.mode);
      };
      expect(await modes(false)).toEqual(["off"]);
      expect(await modes(true)).toEqual(["on"]);
      // The setting is the statement's own: the connection keeps the server's.
      const { rows } = await pool.query("SHOW synchronous_commit");
      expect(rows[0].synchronous_commit).toBe("on");
    } finally {
      await removeRecorder();
    }
  });

  it("hands a run's writes to the saver after the promise callbacks queued before them, unless the run waits for each", async () => {
    const stored = saver();
    const handedOver = (waitForFlush: boolean) => {
      const threadId = uuid6(5);
      const view = new RunCheckpointView(stored, threadId, { waitForFlush });
      const put = vi.spyOn(stored, "put");
      const putWrites = vi.spyOn(stored, "putWrites");
      const config = { configurable: { thread_id: threadId, checkpoint_ns: "" } };
      const checkpoint = { ...emptyCheckpoint(), id: uuid6(6) };
      const written = view
        .put(config, checkpoint, { source: "input", step: -1, parents: {} }, {})
        .then((saved) => view.putWrites(saved, [["messages", [human(0)]]], "task"));
      return { put, putWrites, written, threadId };
    };
    const hops = async () => {
      for (let i = 0; i < 20; i += 1) await Promise.resolve();
    };

    try {
      const deferred = handedOver(false);
      await hops();
      expect(deferred.put).not.toHaveBeenCalled();
      await deferred.written;
      expect(deferred.put).toHaveBeenCalledTimes(1);
      expect(deferred.putWrites).toHaveBeenCalledTimes(1);
      expect(
        (await stored.getTuple({ configurable: { thread_id: deferred.threadId } }))?.pendingWrites,
      ).toHaveLength(1);
      vi.restoreAllMocks();

      const waited = handedOver(true);
      expect(waited.put).toHaveBeenCalledTimes(1);
      await waited.written;
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("once closed, waits for the writes it accepted and refuses later ones", async () => {
    const stored = saver();
    const threadId = uuid6(7);
    const view = new RunCheckpointView(stored, threadId, { waitForFlush: false });
    const config = { configurable: { thread_id: threadId, checkpoint_ns: "" } };
    const accepted = view.put(
      config,
      { ...emptyCheckpoint(), id: uuid6(8) },
      { source: "input", step: -1, parents: {} },
      {},
    );
    await view.close();
    // Accepted before the close: written by the time it resolved.
    expect((await stored.getTuple(config))?.checkpoint.id).toBe(
      (await accepted).configurable?.checkpoint_id,
    );
    await expect(
      view.put(
        config,
        { ...emptyCheckpoint(), id: uuid6(9) },
        { source: "loop", step: 0, parents: {} },
        {},
      ),
    ).rejects.toThrow(/closed/);
    expect((await stored.getTuple(config))?.checkpoint.id).toBe(
      (await accepted).configurable?.checkpoint_id,
    );
  });

  it("a fresh view (a thread created with its run) reads nothing back before it writes", async () => {
    const stored = saver();
    const threadId = uuid6(3);
    const config = { configurable: { thread_id: threadId } };
    const view = new RunCheckpointView(stored, threadId, { fresh: true });
    const count = statementsSent();
    expect(await view.getTuple(config)).toBeUndefined();
    expect(count()).toBe(0);
    // A run through it ends where the same run through the saver ends.
    const graph = (checkpointer: BaseCheckpointSaver) =>
      new StateGraph(MessagesAnnotation)
        .addNode("answer", (state) => ({ messages: [ai(state.messages.length)] }))
        .addEdge(START, "answer")
        .addEdge("answer", END)
        .compile({ checkpointer });
    await graph(view).invoke({ messages: [human(0)] }, config);
    const other = uuid6(4);
    await graph(stored).invoke({ messages: [human(0)] }, { configurable: { thread_id: other } });
    const values = async (thread: string) =>
      (await graph(stored).getState({ configurable: { thread_id: thread } })).values;
    expect(await values(threadId)).toStrictEqual(await values(other));
    // Once it has written, reads are the saver's again (or its own latest).
    expect((await view.getTuple(config))?.checkpoint.id).toBe(
      (await stored.getTuple(config))?.checkpoint.id,
    );
  });

  it("reads anything else (other checkpoints, subgraphs, other threads) from the saver", async () => {
    const stored = saver();
    const threadId = uuid6(1);
    const driver = new ThreadDriver([stored], threadId);
    await driver.put({ messages: [human(0)] });
    const first = await stored.getTuple({ configurable: { thread_id: threadId } });
    const view = new RunCheckpointView(stored, threadId);
    const run = driver.continueWith([view]);
    await run.put({ messages: [human(0), human(1)] });
    // A subgraph's checkpoint is not the root's latest.
    await new ThreadDriver([view], threadId, "sub:1").put({ messages: [human(9)] });
    expect(
      (await view.getTuple({ configurable: { thread_id: threadId } }))?.checkpoint.channel_values,
    ).toStrictEqual({ messages: [human(0), human(1)] });
    const atFirst = {
      configurable: {
        thread_id: threadId,
        checkpoint_ns: "",
        checkpoint_id: first!.checkpoint.id,
      },
    };
    expect(comparable(await view.getTuple(atFirst))).toStrictEqual(comparable(first));
    expect(await view.getTuple({ configurable: { thread_id: uuid6(2) } })).toBeUndefined();
    await view.deleteThread(threadId);
    expect(await view.getTuple({ configurable: { thread_id: threadId } })).toBeUndefined();
  });
});

describe("reading and writing values (FastSerializer)", () => {
  const official = new MemorySaver().serde;
  const fast = new FastSerializer(official);
  const corpus: Record<string, unknown> = {
    human: new HumanMessage({ id: "h", content: "hi", name: "ann", additional_kwargs: { a: 1 } }),
    aiWithTools: new AIMessage({
      id: "a",
      content: [
        { type: "text", text: "calling" },
        { type: "image_url", image_url: { url: "data:x" } },
      ],
      tool_calls: [{ id: "c1", name: "lookup", args: { q: [1, { deep: true }] } }],
      invalid_tool_calls: [{ id: "c2", name: "bad", args: "{", error: "parse" }],
      usage_metadata: { input_tokens: 3, output_tokens: 4, total_tokens: 7 },
      response_metadata: { model_name: "fake", finish_reason: "stop" },
    }),
    chunk: new AIMessageChunk({
      id: "k",
      content: "par",
      tool_call_chunks: [{ id: "c3", name: "lookup", args: '{"q":', index: 0 }],
    }),
    tool: new ToolMessage({
      id: "t",
      tool_call_id: "c1",
      content: "42",
      artifact: { rows: [1, 2] },
      status: "error",
    }),
    system: new SystemMessage({ id: "s", content: "be brief" }),
    chat: new ChatMessage({ id: "c", content: "x", role: "critic" }),
    remove: new RemoveMessage({ id: "r" }),
    list: [new HumanMessage("a"), new AIMessage("b"), { plain: [1, "two", null, { n: 3.5 }] }],
    nested: { messages: [new AIMessage({ id: "n", content: "in an object" })], count: 2 },
    plain: { a: [1, 2, { b: "c" }], empty: {}, unicode: "héllo \u2028 😀" },
    scalars: [0, -1.5, "s", true, false, null],
    withUndefined: { kept: 1, gone: undefined },
    set: new Set([1, 2]),
    map: new Map([["k", { v: 1 }]]),
    error: new Error("boom"),
    bytes: new Uint8Array([1, 2, 3]),
    lcLookalike: { lc: 7, type: "mine" },
    escaped: { __lc_escaped__: { x: 1 } },
    proto: JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}'),
    otherLangChain: new Document({ pageContent: "doc", metadata: { s: 1 } }),
  };

  it.each(Object.entries(corpus))(
    "reads %s back exactly as LangGraph's serializer",
    async (_, value) => {
      const [type, data] = await official.dumpsTyped(value);
      const expected = await official.loadsTyped(type, data);
      const actual = await fast.loadsTyped(type, data);
      expect(actual).toStrictEqual(expected);
      expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
      if (expected && typeof expected === "object") {
        expect((actual as object).constructor).toBe(expected.constructor);
      }
    },
  );

  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  let deep: unknown = "bottom";
  for (let i = 0; i < 60; i += 1) deep = { next: deep, list: [i] };
  const sendLookalike = { lg_name: "Send", node: "n", args: { x: 1 }, extra: 2 };
  const taggedArray = Object.assign([1, 2], { lg_name: "Send" });
  const holes: number[] = [];
  holes[0] = 1;
  holes[2] = 3;
  const writeCorpus: Record<string, unknown> = {
    ...corpus,
    metadata: { source: "loop", step: 3, parents: { "": "1f0-x" }, run_id: "r", nested: [{}] },
    null: null,
    numbers: [Number.NaN, Number.POSITIVE_INFINITY, -0, 1e21, 0.1],
    string: 'plain \u0000 "quoted" \ud800 lone',
    nullPrototype: Object.assign(Object.create(null), { a: 1 }),
    date: { at: new Date(0) },
    holes,
    functionValue: { f: () => 1, kept: 2 },
    send: new Send("node", { x: 1 }),
    sendLookalike,
    taggedArray,
    cyclic,
    deep,
    bigint: { n: BigInt(1) },
  };

  it.each(Object.entries(writeCorpus))(
    "writes %s to exactly the bytes LangGraph's serializer writes",
    async (_, value) => {
      const [type, data] = await official.dumpsTyped(value);
      const [fastType, fastData] = await fast.dumpsTyped(value);
      expect(fastType).toBe(type);
      expect(Buffer.from(fastData).toString("utf8")).toBe(Buffer.from(data).toString("utf8"));
    },
  );

  it("writes plain JSON itself and hands everything else to LangGraph's serializer", async () => {
    const handed: unknown[] = [];
    const counting = new FastSerializer({
      dumpsTyped: (value: unknown) => {
        handed.push(value);
        return official.dumpsTyped(value);
      },
      loadsTyped: (type: string, data: Uint8Array | string) => official.loadsTyped(type, data),
    });
    for (const value of [writeCorpus.metadata, null, 3, "s", [1, { a: [] }]]) {
      await counting.dumpsTyped(value);
    }
    expect(handed).toEqual([]);
    for (const value of [corpus.human, corpus.withUndefined, writeCorpus.holes, cyclic]) {
      await counting.dumpsTyped(value);
    }
    expect(handed).toHaveLength(4);
  });

  it("is what the saver reads with unless a serializer is given", () => {
    expect(saver().serde).toBeInstanceOf(FastSerializer);
    expect(createCheckpointSaver({ pool, serde: official }).serde).toBe(official);
  });
});
