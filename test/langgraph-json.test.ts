import { resolve } from "node:path";
import pg from "pg";
import { defaultAssistantId } from "../src/graphs/load.ts";
import { createLogger } from "../src/log.ts";
import { createThreadTtlSweeper } from "../src/threads/ttl.ts";
import {
  AssistantDocument,
  CancelRunDocument,
  CreateRunDocument,
  CreateThreadDocument,
  PutStoreItemDocument,
  StoreItemDocument,
  WaitRunDocument,
} from "./gql/graphql.ts";
import { errorOf } from "./helpers/graphql.ts";
import { until } from "./helpers/poll.ts";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server.ts";
import { type Receiver, startReceiver } from "./helpers/webhook-receiver.ts";

/**
 * A server on test/fixtures/keys/langgraph.json, which uses the langgraph.json keys that do
 * something at run time: LANGGRAPH_CONFIG (through `env`), store.ttl and checkpointer.ttl (with
 * sweeps every few hundred milliseconds), ui, and a graph logging through the SDK's getLogger().
 */
const keysConfig = resolve(repoRoot, "test", "fixtures", "keys", "langgraph.json");

let server: TestServer;
let sql: pg.Client;
let receiver: Receiver;
const lines: string[] = [];

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startTestServer({
    configFile: keysConfig,
    env: { LG_WEBHOOK_DEPLOYMENT: "test", WEBHOOK_ALLOW_PRIVATE_TARGETS: "true" },
    log: createLogger("debug", (line) => lines.push(line)),
  });
  sql = new pg.Client({ connectionString: server.db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await server?.stop();
  await receiver?.close();
});

const logged = (text: string) => lines.filter((line) => line.includes(text));

async function count(table: string, column: string, id: string): Promise<number> {
  const { rows } = await sql.query(
    `SELECT count(*)::int AS n FROM ${table} WHERE ${column}::text = $1`,
    [id],
  );
  return rows[0].n;
}

async function threadWithRun(assistantId: string): Promise<string> {
  const threadId = (await server.query(CreateThreadDocument, {})).createThread.id;
  const { waitRun } = await server.query(WaitRunDocument, {
    input: { threadId, assistantId, input: { items: [1] } },
  });
  expect(waitRun.run.status).toBe("SUCCESS");
  return threadId;
}

describe("the SDK's logger", () => {
  it("is there for a graph module's top level and for its nodes, backed by the server's log", async () => {
    expect(logged("info  logged: module loaded")).toEqual([
      expect.stringContaining('{"fixture":"logged"}'),
    ]);
    const threadId = (await server.query(CreateThreadDocument, {})).createThread.id;
    await server.query(WaitRunDocument, { input: { threadId, assistantId: "logged", input: {} } });
    expect(logged("warn  logged: node ran")).toEqual([
      expect.stringContaining('{"greeting":"hello from LANGGRAPH_CONFIG"}'),
    ]);
  });
});

describe("LANGGRAPH_CONFIG", () => {
  it("gives a graph's default assistant its config and context; other graphs get none", async () => {
    const { assistant } = await server.query(AssistantDocument, { id: "logged" });
    expect(assistant).toMatchObject({
      id: defaultAssistantId("logged"),
      config: { configurable: { greeting: "hello from LANGGRAPH_CONFIG" }, tags: ["configured"] },
      context: { model: "fake" },
    });
    const other = await server.query(AssistantDocument, { id: "append" });
    expect(other.assistant).toMatchObject({ config: {}, context: {} });
  });

  it("reaches the graph through the default assistant", async () => {
    const threadId = (await server.query(CreateThreadDocument, {})).createThread.id;
    const { waitRun } = await server.query(WaitRunDocument, {
      input: { threadId, assistantId: "logged", input: {} },
    });
    expect(waitRun.values).toEqual({ greeting: "hello from LANGGRAPH_CONFIG" });
  });
});

describe("start-up notices", () => {
  it("warns that ui is not served, naming its components", () => {
    expect(logged("warn  langgraph.json ui:")).toEqual([expect.stringContaining("(weather)")]);
  });

  it("notes the keys that only shape the platform's image", () => {
    expect(logged("debug langgraph.json dockerfile_lines, image_distro:")).toHaveLength(1);
    expect(logged("debug langgraph.json dependencies:")).toHaveLength(1);
  });
});

describe("checkpointer.ttl", () => {
  it("deletes threads idle past default_ttl with their runs and checkpoints, and keeps the others", async () => {
    const idle = await threadWithRun("append");
    const active = await threadWithRun("append");
    for (const [table, column] of [
      ["run", "thread_id"],
      ["checkpoint", "thread_id"],
      ["checkpoint_blob", "thread_id"],
      ["checkpoint_write", "thread_id"],
    ] as const) {
      expect(await count(table, column, idle)).toBeGreaterThan(0);
    }
    // Last updated two hours ago: past the fixture's 60-minute TTL.
    await sql.query(
      "UPDATE thread SET updated_at = now() - interval '2 hours' WHERE id = $1::uuid",
      [idle],
    );

    await until(
      () => count("thread", "id", idle),
      (n) => n === 0,
      "the periodic sweep to delete the idle thread",
    );
    expect(await count("run", "thread_id", idle)).toBe(0);
    expect(await count("checkpoint", "thread_id", idle)).toBe(0);
    expect(await count("checkpoint_blob", "thread_id", idle)).toBe(0);
    expect(await count("checkpoint_write", "thread_id", idle)).toBe(0);
    expect(await count("thread", "id", active)).toBe(1);
    expect(await count("checkpoint", "thread_id", active)).toBeGreaterThan(0);
    expect(logged("(checkpointer.ttl)").length).toBeGreaterThan(0);
  });

  it("spares a thread whose run is still going, however long ago it was updated", async () => {
    const threadId = (await server.query(CreateThreadDocument, {})).createThread.id;
    const { createRun } = await server.query(CreateRunDocument, {
      input: {
        threadId,
        assistantId: "slow",
        input: {},
        config: { configurable: { steps: 1000, delayMs: 20 } },
      },
    });
    await until(
      async () => (await sql.query("SELECT status FROM run WHERE id = $1", [createRun.id])).rows,
      (rows) => rows[0]?.status === "RUNNING",
      "the run to start",
    );
    await sql.query(
      "UPDATE thread SET updated_at = now() - interval '2 hours' WHERE id = $1::uuid",
      [threadId],
    );
    // A sweep of our own, right now: the periodic ones may run meanwhile, with the same result.
    expect(await server.services.threadTtl!.sweep()).not.toContain(threadId);
    expect(await count("thread", "id", threadId)).toBe(1);

    await server.query(CancelRunDocument, { id: createRun.id, wait: true });
    // Once the run is over the thread is idle again, from the run's end on.
    expect(await server.services.threadTtl!.sweep()).not.toContain(threadId);
    expect(await count("thread", "id", threadId)).toBe(1);
  });
});

describe("checkpointer.ttl with several sweepers", () => {
  it("splits the idle threads between sweepers racing each other, each deleted once", async () => {
    const threads = await Promise.all(Array.from({ length: 12 }, () => threadWithRun("append")));
    // Idle for 30 minutes: past these sweepers' 10, within the server's own 60.
    await sql.query(
      "UPDATE thread SET updated_at = now() - interval '30 minutes' WHERE id = ANY($1::uuid[])",
      [threads],
    );
    const sweeper = () =>
      createThreadTtlSweeper({
        db: server.services.db,
        deleteCheckpoints: (id, client) => server.services.checkpointer.deleteThread(id, client),
        log: createLogger("silent"),
        options: { defaultTtlMinutes: 10, sweepIntervalMinutes: 60, sweepLimit: 4 },
      });
    const [a, b] = [sweeper(), sweeper()];
    const deleted: string[] = [];
    for (;;) {
      const [byA, byB] = await Promise.all([a.sweep(), b.sweep()]);
      if (byA.length + byB.length === 0) break;
      deleted.push(...byA, ...byB);
    }
    expect(deleted.toSorted()).toEqual(threads.toSorted());
    for (const id of threads) {
      expect(await count("thread", "id", id)).toBe(0);
      expect(await count("checkpoint", "thread_id", id)).toBe(0);
    }
  });
});

describe("store.ttl", () => {
  async function expiry(key: string) {
    const { rows } = await sql.query(
      "SELECT expires_at, ttl_minutes FROM store_item WHERE namespace = $1 AND key = $2",
      [["ttl"], key],
    );
    return rows[0] as { expires_at: Date; ttl_minutes: number } | undefined;
  }

  it("gives items default_ttl, leaves it alone on reads, and sweeps expired items away", async () => {
    for (const key of ["expiring", "kept"]) {
      await server.query(PutStoreItemDocument, { namespace: ["ttl"], key, value: { key } });
    }
    const before = await expiry("kept");
    expect(before?.ttl_minutes).toBe(60);
    expect(before!.expires_at.getTime()).toBeGreaterThan(Date.now() + 59 * 60_000);

    // refresh_on_read is false: a read does not push the expiry forward.
    await server.query(StoreItemDocument, { namespace: ["ttl"], key: "kept" });
    expect((await expiry("kept"))!.expires_at).toEqual(before!.expires_at);

    await sql.query(
      "UPDATE store_item SET expires_at = now() - interval '1 minute' WHERE key = 'expiring'",
    );
    await until(
      () => expiry("expiring"),
      (row) => row === undefined,
      "the periodic sweep to delete the expired item",
    );
    expect(await expiry("kept")).toBeDefined();
  });
});

describe("webhooks", () => {
  it("refuses a webhook URL outside webhooks.url, naming the field and the rule", async () => {
    const threadId = (await server.query(CreateThreadDocument, {})).createThread.id;
    const cases = [
      ["http://localhost:9/hook", 'host "localhost" is not among the allowed domains (127.0.0.1)'],
      [receiver.url(`/${"x".repeat(200)}`), "is longer than the 200 characters"],
    ];
    for (const [webhook, problem] of cases) {
      const result = await server.request(CreateRunDocument, {
        input: { threadId, assistantId: "append", input: {}, webhook },
      });
      const error = errorOf(result);
      expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.webhook" });
      expect(error.message).toContain(problem);
    }
    expect(await count("run", "thread_id", threadId)).toBe(0);
  });

  it("sends webhooks.headers, their env placeholders resolved, with every delivery", async () => {
    const threadId = (await server.query(CreateThreadDocument, {})).createThread.id;
    await server.query(WaitRunDocument, {
      input: { threadId, assistantId: "append", input: {}, webhook: receiver.url("/headers") },
    });
    const [request] = await until(
      async () => receiver.received("/headers"),
      (received) => received.length > 0,
      "the webhook",
    );
    expect(request!.headers["x-deployment"]).toBe("keys-test");
    expect(request!.headers["webhook-id"]).toBeDefined();
  });
});
