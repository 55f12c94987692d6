import { performance } from "node:perf_hooks";
import { print } from "graphql";
import pg from "pg";
import {
  CancelRunDocument,
  CreateRunDocument,
  CreateThreadDocument,
  type RunInput,
  RunResultDocument,
  StreamRunDocument,
  WaitRunDocument,
} from "./gql/graphql.ts";
import { errorOf } from "./helpers/graphql.ts";
import { fixturesConfig, startTestServer, type TestServer } from "./helpers/server.ts";
import { streamClient, subscribe } from "./stream-clients.ts";

/** A run that holds the only slot until it is cancelled. */
const BLOCKER: RunInput = {
  assistantId: "slow",
  input: {},
  config: { configurable: { steps: 100_000, delayMs: 50 } },
};

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe("runs start in creation order across threads", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ configFile: fixturesConfig, env: { N_JOBS_PER_WORKER: "1" } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("never lets a run created later start before one created earlier, on a saturated worker", async () => {
    const creators = 4;
    const perCreator = 10;
    const created: Array<{ id: string; sent: number; returned: number }> = [];
    // Concurrent creators keep the one slot saturated, each run on a thread of its own, so runs
    // are created while others wait and while slots free up: a run created in this process with
    // a free slot, or announced to it, must not jump the runs already waiting.
    await Promise.all(
      Array.from({ length: creators }, async () => {
        for (let i = 0; i < perCreator; i++) {
          const threadId = (await server.query(CreateThreadDocument, {})).createThread.id;
          const sent = performance.now();
          const { createRun } = await server.query(CreateRunDocument, {
            input: {
              threadId,
              assistantId: "slow",
              input: {},
              config: { configurable: { steps: 1, delayMs: 10 } },
            },
          });
          created.push({ id: createRun.id, sent, returned: performance.now() });
        }
      }),
    );
    for (const run of created) {
      const { runResult } = await server.query(RunResultDocument, { id: run.id, wait: true });
      expect(runResult.run.status).toBe("SUCCESS");
    }
    const started = await withClient(server.db.url, async (client) => {
      const { rows } = await client.query<{ id: string; position: number }>(
        `SELECT id::text, rank() OVER (ORDER BY started_at)::int AS position FROM run
         WHERE id = ANY($1::uuid[])`,
        [created.map((r) => r.id)],
      );
      return new Map(rows.map((r) => [r.id, r.position]));
    });
    // A run whose creation had returned before another's was sent is the older of the two for
    // certain (concurrent creations may commit in either order): it must not start later.
    const overtaken: string[] = [];
    for (const older of created) {
      for (const newer of created) {
        if (older.returned < newer.sent && started.get(newer.id)! < started.get(older.id)!) {
          overtaken.push(`${older.id} (started #${started.get(older.id)}) by ${newer.id}`);
        }
      }
    }
    expect(overtaken).toEqual([]);
  });
});

describe("admission control", () => {
  const LIMIT = 3;
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      configFile: fixturesConfig,
      env: {
        N_JOBS_PER_WORKER: "1",
        MAX_PENDING_RUNS: String(LIMIT),
        OVERLOAD_RETRY_AFTER_SECONDS: "2",
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const counts = () =>
    withClient(server.db.url, async (client) => {
      const { rows } = await client.query(
        "SELECT (SELECT count(*) FROM run)::int AS runs, (SELECT count(*) FROM thread)::int AS threads",
      );
      return rows[0] as { runs: number; threads: number };
    });

  it("accepts runs up to MAX_PENDING_RUNS waiting, then refuses with OVERLOADED and creates nothing", async () => {
    const blocker = (await server.query(CreateRunDocument, { input: BLOCKER })).createRun;
    expect(blocker.status).toBe("RUNNING");
    const queued: string[] = [];
    // Under the limit nothing is refused: the LIMIT-th waiting run is still accepted.
    for (let i = 0; i < LIMIT; i++) {
      const { createRun } = await server.query(CreateRunDocument, {
        input: { assistantId: "append", input: { items: [i] } },
      });
      expect(createRun.status).toBe("PENDING");
      queued.push(createRun.id);
    }
    const before = await counts();

    // Over it: a stateless run, a run on a thread it would create, a waited run.
    const threadId = crypto.randomUUID();
    const refusals = [
      await server.request(CreateRunDocument, {
        input: { assistantId: "append", input: { items: [9] } },
      }),
      await server.request(CreateRunDocument, {
        input: { assistantId: "append", threadId, ifNotExists: "CREATE", input: { items: [9] } },
      }),
      await server.request(WaitRunDocument, {
        input: { assistantId: "append", input: { items: [9] } },
      }),
    ];
    for (const result of refusals) {
      const error = errorOf(result) as ReturnType<typeof errorOf> & {
        extensions: { retryAfter?: number; http?: unknown };
      };
      expect(error.extensions.code).toBe("OVERLOADED");
      expect(error.extensions.retryAfter).toBe(2);
      expect(error.extensions.http).toBeUndefined();
      expect(error.message).toContain("MAX_PENDING_RUNS");
    }
    expect(await counts()).toEqual(before);

    // A streamed run is refused the same way: over graphql-ws the subscription ends with the
    // error; over SSE the stream never opens: 503 with Retry-After, the error in the body.
    const ws = streamClient("ws", server);
    try {
      const stream = subscribe(ws, StreamRunDocument, {
        input: { assistantId: "append", input: { items: [9] } },
      });
      await stream.completed;
      expect(stream.events).toEqual([]);
      expect(stream.errors.map((e) => e.extensions)).toEqual([
        { code: "OVERLOADED", retryAfter: 2 },
      ]);
    } finally {
      await ws.dispose();
    }
    const sse = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({
        query: print(StreamRunDocument),
        variables: { input: { assistantId: "append", input: { items: [9] } } },
      }),
    });
    expect(sse.status).toBe(503);
    expect(sse.headers.get("retry-after")).toBe("2");
    expect(await sse.text()).toContain('"code":"OVERLOADED"');
    expect(await counts()).toEqual(before);

    // Over HTTP the refusal is a 503 with Retry-After, so proxies and clients can back off.
    const response = await fetch(server.graphqlUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({
        query: print(CreateRunDocument),
        variables: { input: { assistantId: "append", input: { items: [9] } } },
      }),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("2");
    expect(await counts()).toEqual(before);

    // Once the line moves, runs are accepted again, and everything accepted completes.
    await server.query(CancelRunDocument, { id: blocker.id, action: "INTERRUPT", wait: true });
    for (const id of queued) {
      const { runResult } = await server.query(RunResultDocument, { id, wait: true });
      expect(runResult.run.status).toBe("SUCCESS");
    }
    const { waitRun } = await server.query(WaitRunDocument, {
      input: { assistantId: "append", input: { items: [10] } },
    });
    expect(waitRun.run.status).toBe("SUCCESS");
  });
});
