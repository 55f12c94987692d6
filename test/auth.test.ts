import { resolve } from "node:path";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import type { ExecutionResult } from "graphql";
import pg from "pg";
import WebSocket from "ws";
import {
  AssistantDocument,
  AssistantsDocument,
  AssistantVersionsDocument,
  CancelRunDocument,
  CancelRunsDocument,
  CopyThreadDocument,
  CreateAssistantDocument,
  CreateCronDocument,
  CreateRunDocument,
  CreateThreadDocument,
  CronDocument,
  CronsDocument,
  DeleteAssistantDocument,
  DeleteCronDocument,
  DeleteRunDocument,
  DeleteStoreItemDocument,
  DeleteThreadDocument,
  GraphsDocument,
  PutStoreItemDocument,
  RunDocument,
  RunEventsDocument,
  RunResultDocument,
  RunsDocument,
  ServerInfoDocument,
  SetAssistantVersionDocument,
  StoreItemDocument,
  StoreItemsDocument,
  StoreNamespacesDocument,
  StreamRunDocument,
  ThreadDocument,
  ThreadEventsDocument,
  ThreadHistoryDocument,
  ThreadRunsDocument,
  ThreadStateDocument,
  ThreadsDocument,
  UpdateAssistantDocument,
  UpdateCronDocument,
  UpdateThreadDocument,
  UpdateThreadStateDocument,
  WaitRunDocument,
} from "./gql/graphql.ts";
import { until } from "./helpers/poll.ts";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server.ts";
import { type Receiver, startReceiver } from "./helpers/webhook-receiver.ts";
import { streamClient, subscribe, type Transport } from "./stream-clients.ts";

/**
 * Two users (and a read-only third) against a server whose langgraph.json names an auth module
 * written with LangGraph's `Auth` API (test/fixtures/auth/auth.ts): it stamps `metadata.owner`
 * on everything created and filters every resource by it, and confines store namespaces under
 * the user's identity.
 */

type User = "alice" | "bob" | "carol" | "root";
const tokenOf = (user: User) => ({ authorization: `Bearer token-${user}` });

let server: TestServer;
let pool: pg.Pool;
let receiver: Receiver;

function as<R, V>(user: User, document: TypedDocumentNode<R, V>, variables?: V) {
  return server.request(document, variables, tokenOf(user));
}

async function ok<R, V>(user: User, document: TypedDocumentNode<R, V>, variables?: V) {
  const result = await as(user, document, variables);
  if (result.errors?.length) throw new Error(`${user}: ${JSON.stringify(result.errors)}`);
  return result.data!;
}

function codeOf(result: ExecutionResult<unknown>): string | undefined {
  expect(result.errors, JSON.stringify(result)).toHaveLength(1);
  return (result.errors![0]!.extensions as { code?: string }).code;
}

/** What alice owns; every test below checks bob against it. */
const alice = {} as {
  assistantId: string;
  threadId: string;
  runId: string;
  statelessRunId: string;
  cronId: string;
  checkpointId: string;
};

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startTestServer({
    configFile: resolve(repoRoot, "test", "fixtures", "auth", "langgraph.json"),
    env: { WEBHOOK_ALLOW_PRIVATE_TARGETS: "true", WEBHOOK_RETRY_BASE_SECONDS: "0.1" },
  });
  pool = new pg.Pool({ connectionString: server.db.url, max: 2 });
  const { createAssistant } = await ok("alice", CreateAssistantDocument, {
    input: { graphId: "whoami", name: "alice's" },
  });
  alice.assistantId = createAssistant.id;
  const { createThread } = await ok("alice", CreateThreadDocument, {
    input: { metadata: { topic: "secrets" } },
  });
  alice.threadId = createThread.id;
  const { waitRun } = await ok("alice", WaitRunDocument, {
    input: { threadId: alice.threadId, assistantId: alice.assistantId, input: {} },
  });
  alice.runId = waitRun.run.id;
  const stateless = await ok("alice", WaitRunDocument, {
    input: { assistantId: alice.assistantId, input: {} },
  });
  alice.statelessRunId = stateless.waitRun.run.id;
  const { createCron } = await ok("alice", CreateCronDocument, {
    input: { assistantId: alice.assistantId, schedule: "0 0 1 1 *", input: {} },
  });
  alice.cronId = createCron.id;
  const state = await ok("alice", ThreadStateDocument, { id: alice.threadId });
  alice.checkpointId = state.thread!.state.checkpoint.checkpointId!;
  await ok("alice", PutStoreItemDocument, {
    namespace: ["notes"],
    key: "diary",
    value: { text: "alice's" },
  });
});

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  await receiver?.close();
});

describe("authentication", () => {
  it("refuses HTTP requests without or with bad credentials with UNAUTHENTICATED (401)", async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: "Bearer nope" },
      { authorization: "Basic x" },
    ];
    for (const headers of attempts) {
      const response = await fetch(server.graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ query: "{ info { version } }" }),
      });
      expect(response.status).toBe(401);
      const body = (await response.json()) as ExecutionResult;
      expect(codeOf(body)).toBe("UNAUTHENTICATED");
      expect(body.data ?? null).toBeNull();
    }
  });

  it("masks an authenticate handler's own bug as INTERNAL_SERVER_ERROR, letting nobody in", async () => {
    const result = await server.request(ServerInfoDocument, {}, tokenOf("broken" as User));
    expect(codeOf(result)).toBe("INTERNAL_SERVER_ERROR");
    expect(result.data ?? null).toBeNull();
  });

  it("refuses SSE subscriptions without credentials before any event", async () => {
    const response = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({
        query: "subscription($id: ID!) { runEvents(runId: $id) { __typename } }",
        variables: { id: alice.runId },
      }),
    });
    expect(response.status).toBe(401);
    const body = await response.text();
    expect(body).toContain('"code":"UNAUTHENTICATED"');
    expect(body).not.toContain("RunStartedEvent");
    // The graphql-sse client gives up on it (no retry) instead of streaming.
    const client = streamClient("sse", server);
    const subscription = subscribe(client, RunEventsDocument, { runId: alice.runId });
    await subscription.completed;
    expect(subscription.events).toEqual([]);
    expect(subscription.errors).toHaveLength(1);
    await client.dispose();
  });

  it("closes graphql-ws connections whose connection_init lacks credentials (4401)", async () => {
    for (const payload of [undefined, { authorization: "Bearer nope" }]) {
      const socket = new WebSocket(server.wsUrl, "graphql-transport-ws");
      const closed = new Promise<{ code: number; reason: string }>((done) =>
        socket.on("close", (code, reason) => done({ code, reason: reason.toString() })),
      );
      socket.on("open", () =>
        socket.send(JSON.stringify({ type: "connection_init", ...(payload ? { payload } : {}) })),
      );
      const { code, reason } = await closed;
      expect(code).toBe(4401);
      expect(reason).toMatch(/^UNAUTHENTICATED: /);
    }
  });

  it("accepts the token in connection_init, flat or under headers", async () => {
    for (const params of [tokenOf("alice"), { headers: tokenOf("alice") }]) {
      const socket = new WebSocket(server.wsUrl, "graphql-transport-ws");
      const acked = new Promise<string>((done, fail) => {
        socket.on("message", (data) => done(JSON.parse(data.toString()).type));
        socket.on("close", (code) => fail(new Error(`closed ${code}`)));
      });
      socket.on("open", () =>
        socket.send(JSON.stringify({ type: "connection_init", payload: params })),
      );
      expect(await acked).toBe("connection_ack");
      socket.close();
    }
  });

  it("hands graphs the authenticated user, which a client's config cannot override", async () => {
    const { waitRun } = await ok("alice", WaitRunDocument, {
      input: {
        assistantId: alice.assistantId,
        input: {},
        config: {
          configurable: {
            langgraph_auth_user: { identity: "mallory" },
            langgraph_auth_user_id: "mallory",
          },
        },
      },
    });
    expect(waitRun.values).toMatchObject({
      identity: "alice",
      claimed: "alice",
      permissions: ["read", "write"],
    });
    // The user is kept out of the run's config, which anyone reading the run sees.
    const { run } = await ok("alice", RunDocument, { id: alice.runId });
    expect(JSON.stringify(run?.config)).not.toContain("langgraph_auth_user");
  });
});

describe("a handler that stamps the owner and returns a filter", () => {
  it("stamps create (overriding a forged owner), and search and update honour it", async () => {
    const { createThread } = await ok("bob", CreateThreadDocument, {
      input: { metadata: { owner: "alice", topic: "forged" } },
    });
    expect(createThread.metadata).toEqual({ owner: "bob", topic: "forged" });
    const bobs = await ok("bob", ThreadsDocument, { first: 100 });
    const alices = await ok("alice", ThreadsDocument, { first: 100 });
    const ids = (page: typeof bobs) => page.threads.nodes.map((n) => n.id);
    expect(ids(bobs)).toContain(createThread.id);
    expect(ids(bobs)).not.toContain(alice.threadId);
    expect(ids(alices)).toContain(alice.threadId);
    expect(ids(alices)).not.toContain(createThread.id);
    expect(bobs.threads.totalCount).toBe(bobs.threads.nodes.length);
    const { updateThread } = await ok("bob", UpdateThreadDocument, {
      id: createThread.id,
      metadata: { topic: "edited" },
    });
    expect(updateThread.metadata).toEqual({ owner: "bob", topic: "edited" });
    expect(
      codeOf(await as("alice", UpdateThreadDocument, { id: createThread.id, metadata: { x: 1 } })),
    ).toBe("NOT_FOUND");
  });

  it("a handler's refusal is FORBIDDEN and writes nothing", async () => {
    const before = await pool.query("SELECT count(*)::int AS n FROM thread");
    expect(codeOf(await as("carol", CreateThreadDocument, { input: {} }))).toBe("FORBIDDEN");
    expect(
      codeOf(
        await as("carol", CreateAssistantDocument, { input: { graphId: "whoami", name: "c" } }),
      ),
    ).toBe("FORBIDDEN");
    const after = await pool.query("SELECT count(*)::int AS n FROM thread");
    expect(after.rows[0].n).toBe(before.rows[0].n);
    // Reading is allowed to carol, within her own (empty) scope.
    const { threads } = await ok("carol", ThreadsDocument, {});
    expect(threads.totalCount).toBe(0);
  });
});

describe("another user's resources are NOT_FOUND or filtered out; the owner's work", () => {
  it("assistants", async () => {
    expect((await ok("alice", AssistantDocument, { id: alice.assistantId })).assistant?.id).toBe(
      alice.assistantId,
    );
    expect((await ok("bob", AssistantDocument, { id: alice.assistantId })).assistant).toBeNull();
    const listed = await ok("bob", AssistantsDocument, { first: 100 });
    expect(listed.assistants.nodes.map((n) => n.id)).not.toContain(alice.assistantId);
    expect(
      (await ok("bob", AssistantVersionsDocument, { id: alice.assistantId })).assistant,
    ).toBeNull();
    const id = alice.assistantId;
    expect(codeOf(await as("bob", UpdateAssistantDocument, { id, input: { name: "x" } }))).toBe(
      "NOT_FOUND",
    );
    expect(codeOf(await as("bob", SetAssistantVersionDocument, { id, version: 1 }))).toBe(
      "NOT_FOUND",
    );
    expect(codeOf(await as("bob", DeleteAssistantDocument, { id }))).toBe("NOT_FOUND");
    // Creating with the same id clashes without handing alice's assistant over.
    const clash = await as("bob", CreateAssistantDocument, {
      input: { assistantId: id, graphId: "whoami", ifExists: "DO_NOTHING" },
    });
    expect(codeOf(clash)).toBe("CONFLICT");
    // A run on someone else's assistant finds no assistant.
    expect(
      codeOf(await as("bob", CreateRunDocument, { input: { assistantId: id, input: {} } })),
    ).toBe("NOT_FOUND");
    const { updateAssistant } = await ok("alice", UpdateAssistantDocument, {
      id,
      input: { description: "mine" },
    });
    expect(updateAssistant.metadata).toMatchObject({ owner: "alice" });
  });

  it("threads, their state and history", async () => {
    const id = alice.threadId;
    expect((await ok("alice", ThreadDocument, { id })).thread?.id).toBe(id);
    expect((await ok("bob", ThreadDocument, { id })).thread).toBeNull();
    expect((await ok("bob", ThreadStateDocument, { id })).thread).toBeNull();
    const checkpoint = { checkpointId: alice.checkpointId };
    expect((await ok("bob", ThreadStateDocument, { id, checkpoint })).thread).toBeNull();
    expect((await ok("bob", ThreadHistoryDocument, { id })).thread).toBeNull();
    expect((await ok("bob", ThreadRunsDocument, { id })).thread).toBeNull();
    expect(
      (await ok("alice", ThreadHistoryDocument, { id })).thread!.history.length,
    ).toBeGreaterThan(0);
    expect(codeOf(await as("bob", UpdateThreadDocument, { id, metadata: { owner: "bob" } }))).toBe(
      "NOT_FOUND",
    );
    expect(codeOf(await as("bob", DeleteThreadDocument, { id }))).toBe("NOT_FOUND");
    expect(codeOf(await as("bob", CopyThreadDocument, { id }))).toBe("NOT_FOUND");
    const edit = { threadId: id, values: { identity: "bob" }, asNode: "whoami" };
    expect(codeOf(await as("bob", UpdateThreadStateDocument, { input: edit }))).toBe("NOT_FOUND");
    expect(
      codeOf(
        await as("bob", UpdateThreadStateDocument, {
          input: { ...edit, checkpoint: { checkpointId: alice.checkpointId } },
        }),
      ),
    ).toBe("NOT_FOUND");
    const clash = await as("bob", CreateThreadDocument, {
      input: { threadId: id, ifExists: "DO_NOTHING" },
    });
    expect(codeOf(clash)).toBe("CONFLICT");
    expect(JSON.stringify(clash)).not.toContain("secrets");

    // The owner: a copy is hers (stamped again) and independent.
    const { copyThread } = await ok("alice", CopyThreadDocument, { id });
    expect(copyThread.metadata).toMatchObject({ owner: "alice", topic: "secrets" });
    const { updateThreadState } = await ok("alice", UpdateThreadStateDocument, {
      input: { threadId: copyThread.id, values: { identity: "edited" }, asNode: "whoami" },
    });
    expect(updateThreadState.checkpointId).toBeTruthy();
  });

  it("runs and their results", async () => {
    const id = alice.runId;
    expect((await ok("alice", RunDocument, { id })).run?.id).toBe(id);
    expect((await ok("bob", RunDocument, { id })).run).toBeNull();
    expect((await ok("alice", RunResultDocument, { id })).runResult.values).toMatchObject({
      identity: "alice",
    });
    expect(codeOf(await as("bob", RunResultDocument, { id }))).toBe("NOT_FOUND");
    // A stateless run's thread is gone; its kept outcome still belongs to alice alone.
    const stateless = alice.statelessRunId;
    expect((await ok("alice", RunResultDocument, { id: stateless })).runResult.run.id).toBe(
      stateless,
    );
    expect(codeOf(await as("bob", RunResultDocument, { id: stateless }))).toBe("NOT_FOUND");
    const all = await ok("bob", RunsDocument, { first: 100 });
    expect(all.runs.nodes.map((n) => n.id)).not.toContain(id);
    const onThread = await ok("bob", RunsDocument, { threadId: alice.threadId });
    expect(onThread.runs.totalCount).toBe(0);
    expect((await ok("alice", RunsDocument, { threadId: alice.threadId })).runs.totalCount).toBe(1);
    expect(codeOf(await as("bob", CancelRunDocument, { id }))).toBe("NOT_FOUND");
    expect(codeOf(await as("bob", DeleteRunDocument, { id }))).toBe("NOT_FOUND");
    expect(codeOf(await as("bob", CancelRunsDocument, { input: { runIds: [id] } }))).toBe(
      "NOT_FOUND",
    );
    expect(
      codeOf(await as("bob", CancelRunsDocument, { input: { threadId: alice.threadId } })),
    ).toBe("NOT_FOUND");
  });

  it("run creation on another user's thread, also with ifNotExists CREATE", async () => {
    const { createAssistant } = await ok("bob", CreateAssistantDocument, {
      input: { graphId: "whoami" },
    });
    const input = { assistantId: createAssistant.id, threadId: alice.threadId, input: {} };
    for (const variables of [{ input }, { input: { ...input, ifNotExists: "CREATE" as const } }]) {
      expect(codeOf(await as("bob", CreateRunDocument, variables))).toBe("NOT_FOUND");
      expect(codeOf(await as("bob", WaitRunDocument, variables))).toBe("NOT_FOUND");
    }
    const runs = await pool.query("SELECT count(*)::int AS n FROM run WHERE thread_id = $1", [
      alice.threadId,
    ]);
    expect(runs.rows[0].n).toBe(1);
    // A thread bob's run creates is stamped as his, so only he sees it.
    const threadId = crypto.randomUUID();
    await ok("bob", WaitRunDocument, { input: { ...input, threadId, ifNotExists: "CREATE" } });
    const { thread } = await ok("bob", ThreadDocument, { id: threadId });
    expect(thread?.metadata).toMatchObject({ owner: "bob" });
    expect((await ok("alice", ThreadDocument, { id: threadId })).thread).toBeNull();
  });

  it("cancelRuns by status touches only the caller's runs", async () => {
    const { createAssistant } = await ok("alice", CreateAssistantDocument, {
      input: { graphId: "slow", config: { configurable: { steps: 1000, delayMs: 20 } } },
    });
    const { createRun } = await ok("alice", CreateRunDocument, {
      input: { assistantId: createAssistant.id, input: {} },
    });
    await until(
      async () => (await ok("alice", RunDocument, { id: createRun.id })).run?.status,
      (status) => status === "RUNNING",
      "alice's run running",
    );
    const { cancelRuns } = await ok("bob", CancelRunsDocument, { input: { status: "RUNNING" } });
    expect(cancelRuns).toEqual([]);
    expect((await ok("alice", RunDocument, { id: createRun.id })).run?.status).toBe("RUNNING");
    const mine = await ok("alice", CancelRunsDocument, {
      input: { status: "RUNNING", action: "INTERRUPT" },
    });
    expect(mine.cancelRuns.map((r) => r.id)).toContain(createRun.id);
  });

  it("crons, and the runs a cron starts act for its creator", async () => {
    const id = alice.cronId;
    expect((await ok("alice", CronDocument, { id })).cron?.metadata).toMatchObject({
      owner: "alice",
    });
    expect((await ok("bob", CronDocument, { id })).cron).toBeNull();
    const crons = await ok("bob", CronsDocument, {});
    expect(crons.crons.nodes.map((n) => n.id)).not.toContain(id);
    expect(codeOf(await as("bob", UpdateCronDocument, { id, input: { enabled: false } }))).toBe(
      "NOT_FOUND",
    );
    expect(codeOf(await as("bob", DeleteCronDocument, { id }))).toBe("NOT_FOUND");
    const { createAssistant } = await ok("bob", CreateAssistantDocument, {
      input: { graphId: "whoami" },
    });
    const onAlicesThread = await as("bob", CreateCronDocument, {
      input: { assistantId: createAssistant.id, threadId: alice.threadId, schedule: "* * * * *" },
    });
    expect(codeOf(onAlicesThread)).toBe("NOT_FOUND");

    // A per-second cron keeping its threads: each run says it acts for alice, on alice's thread.
    const { createCron } = await ok("alice", CreateCronDocument, {
      input: {
        assistantId: alice.assistantId,
        schedule: "* * * * * *",
        input: {},
        onRunCompleted: "KEEP",
      },
    });
    const fired = (await until(
      async () => {
        const { cron } = await ok("alice", CronDocument, { id: createCron.id });
        return cron?.runs.nodes.find((r) => r.status === "SUCCESS") ?? null;
      },
      (run) => run !== null,
      "a successful cron run",
    ))!;
    await ok("alice", DeleteCronDocument, { id: createCron.id });
    const { thread } = await ok("alice", ThreadDocument, { id: fired.threadId });
    expect(thread?.metadata).toMatchObject({ owner: "alice" });
    expect(thread?.values).toMatchObject({ identity: "alice" });
    expect((await ok("bob", ThreadDocument, { id: fired.threadId })).thread).toBeNull();
    expect((await ok("bob", RunDocument, { id: fired.id })).run).toBeNull();
  });

  it("store items and namespaces are confined per user", async () => {
    expect(
      (await ok("alice", StoreItemDocument, { namespace: ["notes"], key: "diary" })).storeItem,
    ).toMatchObject({ namespace: ["alice", "notes"], value: { text: "alice's" } });
    expect(
      (await ok("bob", StoreItemDocument, { namespace: ["notes"], key: "diary" })).storeItem,
    ).toBeNull();
    expect(
      (await ok("bob", StoreItemDocument, { namespace: ["alice", "notes"], key: "diary" }))
        .storeItem,
    ).toBeNull();
    expect(
      (await ok("bob", StoreItemsDocument, { namespacePrefix: [] })).storeItems.map(
        (i) => i.namespace,
      ),
    ).toEqual([]);
    expect((await ok("bob", StoreNamespacesDocument, {})).storeNamespaces).toEqual([]);
    expect(
      (await ok("bob", DeleteStoreItemDocument, { namespace: ["notes"], key: "diary" }))
        .deleteStoreItem,
    ).toBe(false);
    const { putStoreItem } = await ok("bob", PutStoreItemDocument, {
      namespace: ["notes"],
      key: "diary",
      value: { text: "bob's" },
    });
    expect(putStoreItem.namespace).toEqual(["bob", "notes"]);
    expect(
      (await ok("alice", StoreItemDocument, { namespace: ["notes"], key: "diary" })).storeItem
        ?.value,
    ).toEqual({ text: "alice's" });
    expect((await ok("alice", StoreNamespacesDocument, {})).storeNamespaces).toEqual([
      ["alice", "notes"],
    ]);
    expect(
      (await ok("alice", StoreItemsDocument, { namespacePrefix: ["notes"] })).storeItems.map(
        (i) => i.value,
      ),
    ).toEqual([{ text: "alice's" }]);
  });

  it("a webhook carries the run's own data, never the user record behind it", async () => {
    const { waitRun } = await ok("alice", WaitRunDocument, {
      input: { assistantId: alice.assistantId, input: {}, webhook: receiver.url("/alice") },
    });
    const [delivery] = await until(
      async () => receiver.received("/alice"),
      (received) => received.length > 0,
      "alice's webhook",
    );
    expect(delivery!.json).toMatchObject({ id: waitRun.run.id, values: { identity: "alice" } });
    expect(delivery!.body).not.toContain("langgraph_auth_user");
    expect(delivery!.body).not.toContain("token-alice");
    expect((await ok("bob", RunDocument, { id: waitRun.run.id })).run).toBeNull();
  });

  it("graphs and server info are open to any authenticated user", async () => {
    expect((await ok("bob", GraphsDocument)).graphs.map((g) => g.id)).toContain("whoami");
    expect((await ok("carol", ServerInfoDocument)).info.version).toBeTruthy();
  });
});

describe.each<Transport>(["ws", "sse"])("subscriptions over %s", (transport) => {
  it("another user's run or thread is NOT_FOUND, with no event leaked", async () => {
    const client = streamClient(transport, server, tokenOf("bob"));
    for (const [document, variables] of [
      [RunEventsDocument, { runId: alice.runId }],
      [RunEventsDocument, { runId: alice.statelessRunId }],
      [ThreadEventsDocument, { threadId: alice.threadId }],
    ] as const) {
      const subscription = subscribe(
        client,
        document as typeof RunEventsDocument,
        variables as never,
      );
      await subscription.completed;
      expect(subscription.events).toEqual([]);
      expect(subscription.errors[0]?.extensions?.code).toBe("NOT_FOUND");
    }
    const streamed = subscribe(client, StreamRunDocument, {
      input: { assistantId: alice.assistantId, threadId: alice.threadId, input: {} },
    });
    await streamed.completed;
    expect(streamed.events).toEqual([]);
    expect(streamed.errors[0]?.extensions?.code).toBe("NOT_FOUND");
    await client.dispose();
  });

  it("the owner replays her runs, stateless ones included, and streams new ones", async () => {
    const client = streamClient(transport, server, tokenOf("alice"));
    for (const runId of [alice.runId, alice.statelessRunId]) {
      const replay = subscribe(client, RunEventsDocument, { runId });
      await replay.completed;
      expect(replay.errors).toEqual([]);
      expect(replay.events.at(-1)?.__typename).toBe("RunEndedEvent");
    }
    const streamed = subscribe(client, StreamRunDocument, {
      input: { assistantId: alice.assistantId, input: {} },
    });
    await streamed.completed;
    expect(streamed.errors).toEqual([]);
    expect(streamed.events.at(-1)?.__typename).toBe("RunEndedEvent");
    await client.dispose();
  });
});

describe("ownership cannot be handed over by an update", () => {
  it("updateThread and updateAssistant keep the caller as owner, out of the other's lists", async () => {
    const { createThread } = await ok("bob", CreateThreadDocument, { input: {} });
    const { updateThread } = await ok("bob", UpdateThreadDocument, {
      id: createThread.id,
      metadata: { owner: "alice", topic: "planted" },
    });
    expect(updateThread.metadata).toMatchObject({ owner: "bob", topic: "planted" });
    const alicesThreads = await ok("alice", ThreadsDocument, { first: 100 });
    expect(alicesThreads.threads.nodes.map((n) => n.id)).not.toContain(createThread.id);

    const { createAssistant } = await ok("bob", CreateAssistantDocument, {
      input: { graphId: "whoami", name: "bob's prompt" },
    });
    const { updateAssistant } = await ok("bob", UpdateAssistantDocument, {
      id: createAssistant.id,
      input: { metadata: { owner: "alice" } },
    });
    expect(updateAssistant.metadata).toMatchObject({ owner: "bob" });
    expect((await ok("alice", AssistantDocument, { id: createAssistant.id })).assistant).toBeNull();
    const alicesAssistants = await ok("alice", AssistantsDocument, { first: 100 });
    expect(alicesAssistants.assistants.nodes.map((n) => n.id)).not.toContain(createAssistant.id);
  });
});

describe("the graphs' own assistants under the owner filter", () => {
  it("are readable and runnable by every user, and writable by none", async () => {
    for (const user of ["alice", "bob", "carol"] as const) {
      expect((await ok(user, AssistantDocument, { id: "whoami" })).assistant?.graphId).toBe(
        "whoami",
      );
    }
    for (const user of ["alice", "bob"] as const) {
      const { waitRun } = await ok(user, WaitRunDocument, {
        input: { assistantId: "whoami", input: {} },
      });
      expect(waitRun.values).toMatchObject({ identity: user });
    }
    expect(
      codeOf(await as("bob", UpdateAssistantDocument, { id: "whoami", input: { name: "mine" } })),
    ).toBe("NOT_FOUND");
  });
});

describe.each<Transport>(["ws", "sse"])(
  "open streams lose a thread handed over, over %s",
  (transport) => {
    /** Root, an admin in the auth module, hands a thread to alice. */
    async function handOver(threadId: string) {
      await ok("root", UpdateThreadDocument, {
        id: threadId,
        metadata: { owner: "alice" },
      });
    }

    /** Bob's thread, with one run of his done, and his threadEvents subscription that saw it. */
    async function bobWatching() {
      const { createThread } = await ok("bob", CreateThreadDocument, { input: {} });
      const threadId = createThread.id;
      const client = streamClient(transport, server, tokenOf("bob"));
      const watching = subscribe(client, ThreadEventsDocument, { threadId });
      const { waitRun } = await ok("bob", WaitRunDocument, {
        input: { threadId, assistantId: "whoami", input: {} },
      });
      await watching.until(
        (events) => events.some((e) => e.__typename === "RunEndedEvent"),
        "bob's own run",
      );
      expect(watching.events.every((e) => e.runId === waitRun.run.id)).toBe(true);
      return { threadId, client, watching };
    }

    it("threadEvents ends with NOT_FOUND and delivers none of the new owner's run", async () => {
      const { threadId, client, watching } = await bobWatching();
      const seen = watching.events.length;
      await handOver(threadId);
      const { waitRun } = await ok("alice", WaitRunDocument, {
        input: { threadId, assistantId: "whoami", input: {} },
      });
      await watching.completed;
      expect(watching.events.slice(seen)).toEqual([]);
      expect(watching.events.some((e) => e.runId === waitRun.run.id)).toBe(false);
      expect(watching.errors.map((e) => e.extensions)).toEqual([
        { code: "NOT_FOUND", field: "threadId" },
      ]);
      await client.dispose();
    });

    it("a change made behind the server's back is caught at the thread's next run", async () => {
      const { threadId, client, watching } = await bobWatching();
      const seen = watching.events.length;
      // No announcement: only the check before a new run's first event can notice.
      await pool.query(
        `UPDATE thread SET metadata = metadata || '{"owner": "alice"}' WHERE id = $1`,
        [threadId],
      );
      const { waitRun } = await ok("alice", WaitRunDocument, {
        input: { threadId, assistantId: "whoami", input: {} },
      });
      await watching.completed;
      expect(watching.events.slice(seen)).toEqual([]);
      expect(watching.events.some((e) => e.runId === waitRun.run.id)).toBe(false);
      expect(watching.errors.map((e) => e.extensions?.code)).toEqual(["NOT_FOUND"]);
      await client.dispose();
    });

    it("runEvents of a run in flight ends with NOT_FOUND once its thread is handed over", async () => {
      const { createThread } = await ok("bob", CreateThreadDocument, { input: {} });
      const threadId = createThread.id;
      const { createRun } = await ok("bob", CreateRunDocument, {
        input: {
          threadId,
          assistantId: "slow",
          input: {},
          config: { configurable: { steps: 20, delayMs: 80 } },
        },
      });
      const client = streamClient(transport, server, tokenOf("bob"));
      const watching = subscribe(client, RunEventsDocument, { runId: createRun.id });
      await watching.until(
        (events) => events.some((e) => e.__typename === "ValuesEvent"),
        "the run's first values",
      );
      await handOver(threadId);
      await watching.completed;
      expect(watching.errors.map((e) => e.extensions)).toEqual([
        { code: "NOT_FOUND", field: "runId" },
      ]);
      expect(watching.events.some((e) => e.__typename === "RunEndedEvent")).toBe(false);
      await client.dispose();
      // The run itself goes on.
      const { runResult } = await ok("root", RunResultDocument, { id: createRun.id, wait: true });
      expect(runResult?.run.status).toBe("SUCCESS");
    });
  },
);
