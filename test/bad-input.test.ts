import { print } from "graphql";
import pg from "pg";
import { createLogger } from "../src/log.ts";
import {
  CreateAssistantDocument,
  CreateRunDocument,
  CreateThreadDocument,
  PutStoreItemDocument,
  StreamRunDocument,
  ThreadStateDocument,
  UpdateAssistantDocument,
  UpdateThreadDocument,
  WaitRunDocument,
} from "./gql/graphql.ts";
import { errorOf } from "./helpers/graphql.ts";
import { until } from "./helpers/poll.ts";
import { fixturesConfig, startTestServer, type TestServer } from "./helpers/server.ts";
import { streamClient, subscribe } from "./stream-clients.ts";

/**
 * Inputs that used to end in INTERNAL_SERVER_ERROR or in a success that did the wrong thing:
 * each is refused with a code naming its field, and nothing is written.
 */

let server: TestServer;
let pool: pg.Pool;
const logLines: string[] = [];

beforeAll(async () => {
  server = await startTestServer({
    configFile: fixturesConfig,
    log: createLogger("debug", (line) => logLines.push(line)),
  });
  pool = new pg.Pool({ connectionString: server.db.url, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await server?.stop();
});

/** Rows in the tables a refused request could have written to. */
async function written() {
  const { rows } = await pool.query(`SELECT
    (SELECT count(*) FROM assistant)::int AS assistants,
    (SELECT count(*) FROM thread)::int AS threads,
    (SELECT count(*) FROM run)::int AS runs,
    (SELECT count(*) FROM store_item)::int AS items,
    (SELECT coalesce(sum(octet_length(metadata::text)), 0) FROM thread)::int AS metadata`);
  return rows[0] as { assistants: number; threads: number; runs: number; items: number };
}

/** JSON text of `{"a":{"a":…1…}}`, `depth` objects deep, built as text: JSON.stringify of
 * such a value is what overflows. */
const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

/** Posts a document with variables given as JSON text (so they can be nested at will). */
async function post(document: Parameters<typeof print>[0], variablesJson: string) {
  const response = await fetch(server.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: `{"query":${JSON.stringify(print(document))},"variables":${variablesJson}}`,
  });
  return (await response.json()) as {
    data?: unknown;
    errors?: Array<{ message: string; extensions: { code: string; field?: string } }>;
  };
}

async function newThread() {
  return (await server.query(CreateThreadDocument, { input: {} })).createThread.id;
}

describe("JSON nested beyond MAX_JSON_DEPTH (100 by default)", () => {
  it("is refused by field in run input, thread metadata and store values, however deep", async () => {
    const threadId = await newThread();
    const before = await written();
    for (const depth of [101, 6000, 10_000]) {
      const cases: Array<[Parameters<typeof print>[0], string, string]> = [
        [
          CreateRunDocument,
          `{"input":{"assistantId":"slow","threadId":"${threadId}","input":${nested(depth)}}}`,
          "input.input",
        ],
        [CreateThreadDocument, `{"input":{"metadata":${nested(depth)}}}`, "input.metadata"],
        [UpdateThreadDocument, `{"id":"${threadId}","metadata":${nested(depth)}}`, "metadata"],
        [
          PutStoreItemDocument,
          `{"namespace":["deep"],"key":"k","value":${nested(depth)}}`,
          "value",
        ],
      ];
      for (const [document, variables, field] of cases) {
        const error = errorOf(await post(document, variables));
        expect(error.extensions, `${field} at depth ${depth}`).toEqual({
          code: "BAD_USER_INPUT",
          field,
        });
        expect(error.message).toContain("deeper than 100 levels");
      }
    }
    // A literal in the document is held to the same rule.
    const literal = `${"{a:".repeat(101)}1${"}".repeat(101)}`;
    const response = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({
        query: `mutation { putStoreItem(namespace: ["deep"], key: "lit", value: ${literal}) { key } }`,
      }),
    });
    const error = errorOf((await response.json()) as Parameters<typeof errorOf>[0]);
    expect(error.extensions).toEqual({ code: "BAD_USER_INPUT", field: "value" });
    expect(await written()).toEqual(before);
  });

  it("accepts a value exactly at the limit", async () => {
    const result = await post(
      PutStoreItemDocument,
      `{"namespace":["deep"],"key":"ok","value":${nested(100)}}`,
    );
    expect(result.errors).toBeUndefined();
  });
});

describe("U+0000 in a String argument", () => {
  it("is refused by field, with nothing written", async () => {
    const before = await written();
    const name = errorOf(
      await server.request(CreateAssistantDocument, {
        input: { graphId: "slow", name: "bad\u0000name" },
      }),
    );
    expect(name.extensions).toEqual({ code: "BAD_USER_INPUT", field: "input.name" });
    const description = errorOf(
      await server.request(CreateAssistantDocument, {
        input: { graphId: "slow", name: "fine", description: "a\u0000b" },
      }),
    );
    expect(description.extensions).toEqual({ code: "BAD_USER_INPUT", field: "input.description" });
    const { createAssistant } = await server.query(CreateAssistantDocument, {
      input: { graphId: "slow", name: "kept" },
    });
    const afterCreate = await written();
    const update = errorOf(
      await server.request(UpdateAssistantDocument, {
        id: createAssistant.id,
        input: { name: "x\u0000" },
      }),
    );
    expect(update.extensions).toEqual({ code: "BAD_USER_INPUT", field: "input.name" });
    expect(afterCreate.assistants).toBe(before.assistants + 1);
    expect(await written()).toEqual(afterCreate);
  });
});

describe("a run from a checkpoint the thread does not have", () => {
  it("is NOT_FOUND naming input.checkpoint.checkpointId, and the thread keeps its state", async () => {
    const threadId = await newThread();
    await server.query(WaitRunDocument, {
      input: { threadId, assistantId: "slow", input: {}, config: { configurable: { steps: 2 } } },
    });
    const state = async () => (await server.query(ThreadStateDocument, { id: threadId })).thread!;
    const before = await state();
    console.log(
      JSON.stringify(
        await server.request(CreateRunDocument, {
          input: {
            threadId,
            assistantId: "slow",
            input: { items: ["x"] },
            checkpoint: { checkpointId: "1f000000-0000-6000-8000-000000000000" },
          },
        }),
      ),
    );
    expect(before.state.values).toMatchObject({ steps: [1, 2] });
    const rows = await written();
    const error = errorOf(
      await server.request(CreateRunDocument, {
        input: {
          threadId,
          assistantId: "slow",
          input: { items: ["new turn"] },
          checkpoint: { checkpointId: "1f000000-0000-6000-8000-000000000000" },
        },
      }),
    );
    expect(error.extensions).toEqual({
      code: "NOT_FOUND",
      field: "input.checkpoint.checkpointId",
    });
    expect(await written()).toEqual(rows);
    expect((await state()).state).toEqual(before.state);
  });
});

describe("command.goto", () => {
  it("to a node the graph does not have is refused like interruptBefore's", async () => {
    const threadId = await newThread();
    const rows = await written();
    for (const goto of ["nowhere", ["step", "nowhere"], { node: "nowhere", args: {} }]) {
      const error = errorOf(
        await server.request(CreateRunDocument, {
          input: { threadId, assistantId: "slow", command: { goto } },
        }),
      );
      expect(error.extensions).toEqual({ code: "BAD_USER_INPUT", field: "input.command.goto" });
      expect(error.message).toContain('no node "nowhere"');
    }
    const malformed = errorOf(
      await server.request(CreateRunDocument, {
        input: { threadId, assistantId: "slow", command: { goto: 42 } },
      }),
    );
    expect(malformed.extensions).toEqual({ code: "BAD_USER_INPUT", field: "input.command.goto" });
    expect(await written()).toEqual(rows);
    // A node it has is taken.
    const { createRun } = await server.query(CreateRunDocument, {
      input: { threadId, assistantId: "slow", command: { goto: "step" } },
    });
    expect(createRun.id).toBeTruthy();
  });
});

describe("updates streams of a resumed graph", () => {
  it("carry no __metadata__ node for the writes of tasks that finished before", async () => {
    const threadId = await newThread();
    const first = await server.query(WaitRunDocument, {
      input: { threadId, assistantId: "ask", input: {} },
    });
    const idOf = (question: string) =>
      first.waitRun.interrupts.find((i) => (i.value as { question: string }).question === question)!
        .id;
    // Answer one question: its task finishes, the other asks again.
    const partly = await server.query(WaitRunDocument, {
      input: {
        threadId,
        assistantId: "ask",
        command: { resume: { [idOf("what about a?")]: "yes" } },
      },
    });
    const open = partly.waitRun.interrupts.filter((i) => i.id === idOf("what about b?"));
    expect(open).toHaveLength(1);
    // Resuming the other replays the finished task's writes, which LangGraph marks as cached.
    const client = streamClient("ws", server);
    const stream = subscribe(client, StreamRunDocument, {
      input: {
        threadId,
        assistantId: "ask",
        command: { resume: { [open[0]!.id]: "no" } },
        streamMode: ["UPDATES"],
      },
    });
    await stream.completed;
    await client.dispose();
    expect(stream.errors).toEqual([]);
    const nodes = stream.events
      .filter((e) => e.__typename === "UpdatesEvent")
      .map((e) => (e as { node: string }).node);
    expect(nodes).toContain("question");
    expect(nodes).toContain("done");
    expect(nodes).not.toContain("__metadata__");
  });
});

describe("a client giving up on waitRun", () => {
  it("is not logged as an error", async () => {
    const threadId = await newThread();
    const controller = new AbortController();
    const request = fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({
        query: print(WaitRunDocument),
        variables: {
          input: {
            threadId,
            assistantId: "slow",
            input: {},
            config: { configurable: { steps: 1, delayMs: 3000 } },
          },
        },
      }),
      signal: controller.signal,
    }).catch(() => "aborted");
    await until(
      async () =>
        (await pool.query("SELECT status FROM run WHERE thread_id = $1", [threadId])).rows[0]
          ?.status,
      (status) => status === "RUNNING",
      "the waited run to start",
    );
    const from = logLines.length;
    controller.abort();
    expect(await request).toBe("aborted");
    await until(
      async () => logLines.slice(from),
      (lines) => lines.some((line) => line.includes("client went away")),
      "the server to notice the client left",
    );
    expect(logLines.slice(from).filter((line) => / error /.test(line))).toEqual([]);
  });
});
