import pg from "pg";
import {
  CancelRunDocument,
  CreateRunDocument,
  CreateThreadDocument,
  type RunInput,
  RunResultDocument,
  ThreadDocument,
} from "./gql/graphql.ts";
import { type Cli, startWorker } from "./helpers/cli.ts";
import { stepsOf, until } from "./helpers/poll.ts";
import { fixturesConfig, startTestServer, type TestServer } from "./helpers/server.ts";

/**
 * The run engine across processes: the API runs here without workers, and runs execute in
 * `langgraph-gql worker` child processes on the same database.
 */

let api: TestServer;
let sql: pg.Client;
const workers: Cli[] = [];

beforeAll(async () => {
  api = await startTestServer({ configFile: fixturesConfig, roles: { api: true, worker: false } });
  sql = new pg.Client({ connectionString: api.db.url });
  await sql.connect();
});

afterEach(async () => {
  for (const worker of workers.splice(0)) {
    worker.child.kill("SIGKILL");
    await worker.exited;
  }
});

afterAll(async () => {
  await sql?.end();
  await api?.stop();
});

async function worker(env: Record<string, string> = {}) {
  const started = await startWorker(api.db.url, env);
  workers.push(started);
  return started;
}

const newThread = async () => (await api.query(CreateThreadDocument, {})).createThread.id;
const createRun = async (input: RunInput) =>
  (await api.query(CreateRunDocument, { input })).createRun;
const result = async (id: string) => (await api.query(RunResultDocument, { id })).runResult;

async function recordedSteps(threadId: string): Promise<number> {
  const { rows } = await sql.query(
    "SELECT count(*)::int AS n FROM checkpoint WHERE thread_id = $1 AND checkpoint_ns = ''",
    [threadId],
  );
  return rows[0].n;
}

it("a worker process executes runs created through the API", async () => {
  await worker();
  const threadId = await newThread();
  const run = await createRun({ threadId, assistantId: "append", input: { items: ["w"] } });
  const done = await result(run.id);
  expect(done.run.status).toBe("SUCCESS");
  expect(done.values).toMatchObject({ items: ["w"] });
});

it("cancels a run executing in another process, mid-node", async () => {
  await worker();
  const threadId = await newThread();
  const run = await createRun({
    threadId,
    assistantId: "slow",
    input: {},
    config: { configurable: { steps: 100, delayMs: 200 } },
  });
  await until(
    () => recordedSteps(threadId),
    (n) => n >= 3,
    "the run to make progress",
  );
  const cancelled = (await api.query(CancelRunDocument, { id: run.id, wait: true })).cancelRun;
  expect(cancelled.status).toBe("INTERRUPTED");
  const thread = (await api.query(ThreadDocument, { id: threadId })).thread!;
  expect(thread.status).toBe("IDLE");
  expect(stepsOf(thread.values).length).toBeLessThan(100);
});

it("ends a run that exceeds the time limit TIMEOUT", async () => {
  await worker({ RUN_TIMEOUT_SECONDS: "1" });
  const threadId = await newThread();
  const run = await createRun({
    threadId,
    assistantId: "slow",
    input: {},
    config: { configurable: { steps: 100, delayMs: 100 } },
  });
  const done = await result(run.id);
  expect(done.run.status).toBe("TIMEOUT");
  expect(done.error?.type).toBe("TimeoutError");
  expect((await api.query(ThreadDocument, { id: threadId })).thread!.status).toBe("ERROR");
});

it("resumes a run whose worker was killed from its last checkpoint, completing it exactly once", async () => {
  const first = await worker({ RUN_LEASE_SECONDS: "1" });
  const threadId = await newThread();
  const run = await createRun({
    threadId,
    assistantId: "slow",
    input: {},
    config: { configurable: { steps: 8, delayMs: 150 } },
  });
  await until(
    () => recordedSteps(threadId),
    (n) => n >= 4,
    "a few steps on the first worker",
  );
  first.child.kill("SIGKILL");
  await first.exited;
  await worker({ RUN_LEASE_SECONDS: "1" });
  const done = await result(run.id);
  expect(done.run.status).toBe("SUCCESS");
  expect(done.run.attempt).toBe(2);
  // Every step once: finished steps were not run again, the interrupted one was redone.
  expect(stepsOf(done.values)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  const { rows } = await sql.query("SELECT count(*)::int AS n FROM run WHERE thread_id = $1", [
    threadId,
  ]);
  expect(rows[0].n).toBe(1);
});

it("two worker processes never run two runs of one thread at once (50 runs on 10 threads)", async () => {
  await Promise.all([worker(), worker()]);
  await sql.query("CREATE TABLE test_exclusive (thread_id text PRIMARY KEY, run_id text)");
  const threads = await Promise.all(Array.from({ length: 10 }, () => newThread()));
  const runs = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      createRun({
        threadId: threads[i % 10]!,
        assistantId: "exclusive",
        input: {},
        config: { configurable: { dsn: api.db.url, delayMs: 10 } },
      }),
    ),
  );
  const outcomes = await Promise.all(runs.map((run) => result(run.id)));
  const failures = outcomes
    .filter((o) => o.run.status !== "SUCCESS")
    .map((o) => [o.run.status, o.error]);
  expect(failures).toEqual([]);
  // And by the clock of the database: per thread, each run starts after the previous ended.
  const { rows } = await sql.query(
    `SELECT thread_id, started_at, ended_at, lease_owner FROM run
     WHERE thread_id = ANY($1::uuid[]) ORDER BY thread_id, started_at`,
    [threads],
  );
  for (let i = 1; i < rows.length; i++) {
    if (rows[i].thread_id !== rows[i - 1].thread_id) continue;
    expect(rows[i].started_at.getTime()).toBeGreaterThanOrEqual(rows[i - 1].ended_at.getTime());
  }
  const owners = await sql.query(
    "SELECT count(DISTINCT attempt)::int AS attempts FROM run WHERE thread_id = ANY($1::uuid[])",
    [threads],
  );
  expect(owners.rows[0].attempts).toBe(1);
});
