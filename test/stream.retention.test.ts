import pg from "pg";
import {
  CancelRunDocument,
  CreateRunDocument,
  RunEventsDocument,
  RunResultDocument,
} from "./gql/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { collect, streamClient, streamConfigFile, subscribe } from "./stream-clients.ts";

/** Old logs are swept once their run has been over for the retention period (1 s here). */

let server: TestServer;
let sql: pg.Client;
let client: ReturnType<typeof streamClient>;

beforeAll(async () => {
  server = await startTestServer({
    configFile: streamConfigFile(),
    env: { RUN_EVENT_RETENTION_SECONDS: "1" },
  });
  client = streamClient("ws", server);
  sql = new pg.Client({ connectionString: server.db.url });
  await sql.connect();
});

afterAll(async () => {
  await client?.dispose();
  await sql?.end();
  await server?.stop();
});

const eventsOf = async (runId: string) =>
  (await sql.query("SELECT count(*)::int AS n FROM run_event WHERE run_id = $1", [runId])).rows[0]
    .n as number;

async function until(check: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

it("keeps a running run's events, sweeps them once it has been over for the retention", async () => {
  const long = await server.query(CreateRunDocument, {
    input: {
      assistantId: "slow",
      input: {},
      // Within LangGraph's recursion limit (25 steps), well past the retention.
      config: { configurable: { steps: 20, delayMs: 200 } },
      onCompletion: "KEEP",
      streamMode: ["VALUES"],
    },
  });
  const short = await server.query(CreateRunDocument, {
    input: { assistantId: "append", input: { items: [1] }, onCompletion: "KEEP" },
  });
  const runId = short.createRun.id;
  await server.query(RunResultDocument, { id: runId });
  const events = await collect(client, RunEventsDocument, { runId });
  expect(events.length).toBeGreaterThan(2);

  // The sweeper runs every second here; the ended run's log goes after a second.
  await until(async () => (await eventsOf(runId)) === 0, "the sweep");
  const expired = subscribe(client, RunEventsDocument, { runId });
  await expired.completed;
  expect(expired.errors[0]?.extensions?.code).toBe("NOT_FOUND");
  expect(expired.errors[0]?.message).toMatch(/no longer kept/);

  // The run still going (for longer than the retention) keeps its whole log.
  const longId = long.createRun.id;
  expect(await eventsOf(longId)).toBeGreaterThan(5);
  await server.query(CancelRunDocument, { id: longId });
  const all = await collect(client, RunEventsDocument, { runId: longId });
  expect(all[0]!.__typename).toBe("RunStartedEvent");
  expect(all.at(-1)!.__typename).toBe("RunEndedEvent");
});
