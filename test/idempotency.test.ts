import { print } from "graphql";
import {
  CreateRunDocument,
  CreateThreadDocument,
  type RunInput,
  StreamRunDocument,
  ThreadRunsDocument,
  ThreadStateDocument,
  WaitRunDocument,
} from "./gql/graphql.ts";
import { type Cli, cli } from "./helpers/cli.ts";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server.ts";
import { streamClient, subscribe } from "./stream-clients.ts";

/**
 * RunInput.idempotencyKey across two server processes on one database: this process's server,
 * and a `langgraph-gql start` child. A retry with the key, on either, finds the first run.
 */

let server: TestServer;
let other: Cli;
let otherUrl: string;

beforeAll(async () => {
  server = await startTestServer();
  other = cli(
    ["start", "--config", `${repoRoot}/langgraph.json`, "--port", "0", "--host", "127.0.0.1"],
    { DATABASE_URL: server.db.url },
  );
  otherUrl = (await other.waitFor(/serving .* at (http:\/\/\S+\/graphql)/))[1]!;
}, 120_000);

afterAll(async () => {
  other?.child.kill("SIGTERM");
  await other?.exited;
  await server?.stop();
});

/** A document sent to the child process's server. */
async function onOther<R, V>(document: { __apiType?: unknown }, variables: V) {
  const response = await fetch(otherUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: print(document as never), variables }),
  });
  return (await response.json()) as {
    data?: R;
    errors?: Array<{ extensions?: { code?: string; field?: string } }>;
  };
}

const newThread = async () => (await server.query(CreateThreadDocument, {})).createThread.id;
const runsOf = async (threadId: string) =>
  (await server.query(ThreadRunsDocument, { id: threadId, first: 100 })).thread!.runs;
const messagesOf = async (threadId: string) =>
  (
    (await server.query(ThreadStateDocument, { id: threadId })).thread!.state.values as {
      messages: Array<{ type: string }>;
    }
  ).messages;

const hello = (threadId: string, idempotencyKey: string): RunInput => ({
  threadId,
  assistantId: "agent",
  input: { messages: [{ role: "user", content: "hello" }] },
  idempotencyKey,
});

describe("idempotency keys", () => {
  it("createRun sent to two processes at once makes one run, returned to both", async () => {
    const threadId = await newThread();
    const input = hello(threadId, "create-1");
    const [here, there] = await Promise.all([
      server.query(CreateRunDocument, { input }),
      onOther<{ createRun: { id: string } }, unknown>(CreateRunDocument, { input }),
    ]);
    expect(there.errors).toBeUndefined();
    expect(there.data!.createRun.id).toBe(here.createRun.id);
    // Once it has ended, a third retry still finds it.
    await server.query(WaitRunDocument, { input });
    const again = await server.query(CreateRunDocument, { input });
    expect(again.createRun.id).toBe(here.createRun.id);
    expect((await runsOf(threadId)).totalCount).toBe(1);
    expect((await messagesOf(threadId)).map((m) => m.type)).toEqual(["human", "ai"]);
  });

  it("waitRun re-sent waits for the same run and creates nothing", async () => {
    const threadId = await newThread();
    const input = hello(threadId, "wait-1");
    const first = await server.query(WaitRunDocument, { input });
    const second = await onOther<{ waitRun: { run: { id: string }; values: unknown } }, unknown>(
      WaitRunDocument,
      { input },
    );
    expect(second.data!.waitRun.run.id).toBe(first.waitRun.run.id);
    expect(second.data!.waitRun.values).toEqual(first.waitRun.values);
    expect((await runsOf(threadId)).totalCount).toBe(1);
  });

  it("a stateless waitRun re-sent after its run was deleted returns its outcome", async () => {
    const input: RunInput = {
      assistantId: "agent",
      input: { messages: [{ role: "user", content: "hello" }] },
      idempotencyKey: "stateless-1",
    };
    const first = await server.query(WaitRunDocument, { input });
    const second = await server.query(WaitRunDocument, { input });
    expect(second.waitRun.run.id).toBe(first.waitRun.run.id);
    expect(second.waitRun.values).toEqual(first.waitRun.values);
  });

  it("streamRun re-sent streams the first run instead of starting another", async () => {
    const threadId = await newThread();
    const input = hello(threadId, "stream-1");
    const client = streamClient("ws", server);
    try {
      const first = subscribe(client, StreamRunDocument, { input });
      await first.completed;
      const second = subscribe(client, StreamRunDocument, { input });
      await second.completed;
      const runIds = (events: typeof first.events) =>
        new Set(events.map((event) => ("runId" in event ? event.runId : null)));
      expect(runIds(second.events)).toEqual(runIds(first.events));
      expect(second.events.map((event) => event.__typename)).toEqual(
        first.events.map((event) => event.__typename),
      );
    } finally {
      await client.dispose();
    }
    expect((await runsOf(threadId)).totalCount).toBe(1);
    expect((await messagesOf(threadId)).map((m) => m.type)).toEqual(["human", "ai"]);
  });

  it("the same key with a different input is CONFLICT, and creates nothing", async () => {
    const threadId = await newThread();
    await server.query(CreateRunDocument, { input: hello(threadId, "conflict-1") });
    const changed = {
      ...hello(threadId, "conflict-1"),
      input: { messages: [{ role: "user", content: "something else" }] },
    };
    const refused = await onOther(CreateRunDocument, { input: changed });
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: "CONFLICT",
      field: "input.idempotencyKey",
    });
    expect((await runsOf(threadId)).totalCount).toBe(1);
  });

  it("a key is refused when empty or over 255 characters", async () => {
    const threadId = await newThread();
    for (const key of ["", "k".repeat(256)]) {
      const refused = await server.request(CreateRunDocument, { input: hello(threadId, key) });
      expect(refused.errors?.[0]?.extensions).toMatchObject({
        code: "BAD_USER_INPUT",
        field: "input.idempotencyKey",
      });
    }
    expect((await runsOf(threadId)).totalCount).toBe(0);
  });

  it("a creation that fails gives its key back", async () => {
    const threadId = await newThread();
    const unknownAssistant = { ...hello(threadId, "retry-1"), assistantId: "nope" };
    const failed = await server.request(CreateRunDocument, { input: unknownAssistant });
    expect(failed.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    // The corrected retry with the same key is a different input; the key is free again.
    const run = await server.query(CreateRunDocument, { input: hello(threadId, "retry-1") });
    expect(run.createRun.threadId).toBe(threadId);
  });
});
