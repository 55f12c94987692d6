import pg from "pg";
import { RunCheckpointView } from "../src/checkpoint/run-view.ts";
import { RunTakenOver } from "../src/checkpoint/saver.ts";
import { WORKER_LOCK_CLASS } from "../src/db/sql/workers.ts";
import {
  CreateRunDocument,
  CreateThreadDocument,
  type RunInput,
  RunResultDocument,
} from "./gql/graphql.ts";
import { type Cli, startWorker } from "./helpers/cli.ts";
import { stepsOf, until } from "./helpers/poll.ts";
import { fixturesConfig, startTestServer, type TestServer } from "./helpers/server.ts";

/**
 * A dead worker's runs are taken over because PostgreSQL says its session ended, not when its
 * lease lapses: every worker here has a lease far longer than these tests wait, so only the
 * session-based takeover can finish their runs. And never two executions of one run at once.
 */

let api: TestServer;
let sql: pg.Client;
const workers: Cli[] = [];
/** Longer than vitest's test timeout: a takeover by lease alone would fail these tests. */
const LEASE = { RUN_LEASE_SECONDS: "120" };

beforeAll(async () => {
  api = await startTestServer({ configFile: fixturesConfig, roles: { api: true, worker: false } });
  sql = new pg.Client({ connectionString: api.db.url });
  await sql.connect();
});

afterEach(async () => {
  for (const worker of workers.splice(0)) {
    worker.child.kill("SIGCONT");
    worker.child.kill("SIGKILL");
    await worker.exited;
  }
});

afterAll(async () => {
  await sql?.end();
  await api?.stop();
});

async function twoWorkers(): Promise<Cli[]> {
  const started = await Promise.all([
    startWorker(api.db.url, LEASE),
    startWorker(api.db.url, LEASE),
  ]);
  workers.push(...started);
  return started;
}

const newThread = async () => (await api.query(CreateThreadDocument, {})).createThread.id;
const createRun = async (input: RunInput) =>
  (await api.query(CreateRunDocument, { input })).createRun;
const result = async (id: string) => (await api.query(RunResultDocument, { id })).runResult;

async function runRow(runId: string): Promise<{ attempt: number; lease_owner: string | null }> {
  const { rows } = await sql.query("SELECT attempt, lease_owner FROM run WHERE id = $1", [runId]);
  return rows[0];
}

async function recordedSteps(threadId: string): Promise<number> {
  const { rows } = await sql.query(
    "SELECT count(*)::int AS n FROM checkpoint WHERE thread_id = $1 AND checkpoint_ns = ''",
    [threadId],
  );
  return rows[0].n;
}

/** The worker process executing a run (its owner id carries its pid). */
async function executing(runId: string, among: Cli[]): Promise<{ worker: Cli; owner: string }> {
  const { lease_owner: owner } = await until(
    () => runRow(runId),
    (row) => row.lease_owner !== null,
    "the run to be claimed",
  );
  const pid = Number(owner!.split(":").at(-2));
  const worker = among.find((w) => w.child.pid === pid);
  if (!worker) throw new Error(`no worker process owns ${owner}`);
  return { worker, owner: owner! };
}

/** A slow run, started and past a few steps on one of `among`. */
async function slowRunUnderway(among: Cli[], steps: number) {
  const threadId = await newThread();
  const run = await createRun({
    threadId,
    assistantId: "slow",
    input: {},
    config: { configurable: { steps, delayMs: 150 } },
  });
  await until(
    () => recordedSteps(threadId),
    (n) => n >= 4,
    "a few steps on the first worker",
  );
  return { threadId, runId: run.id, ...(await executing(run.id, among)) };
}

/**
 * What executing the run left: each step once in its state, one linear history (no two root
 * checkpoints with the same parent: a second execution of a step would fork it), and in its
 * event log, once the second attempt started, only that attempt's events, ending once.
 */
async function expectExecutedOnce(threadId: string, runId: string, steps: number) {
  const done = await result(runId);
  expect(done.run.status).toBe("SUCCESS");
  expect(done.run.attempt).toBe(2);
  expect(stepsOf(done.values)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  const forks = await sql.query(
    `SELECT parent_checkpoint_id, count(*)::int AS n FROM checkpoint
     WHERE thread_id = $1 AND checkpoint_ns = '' AND parent_checkpoint_id IS NOT NULL
     GROUP BY parent_checkpoint_id HAVING count(*) > 1`,
    [threadId],
  );
  expect(forks.rows).toEqual([]);
  const { rows: events } = await sql.query<{ kind: string; payload: Record<string, unknown> }>(
    "SELECT kind, payload FROM run_event WHERE run_id = $1 ORDER BY id",
    [runId],
  );
  const starts = events.filter((e) => e.kind === "RUN_STARTED").map((e) => e.payload.attempt);
  expect(starts).toEqual([1, 2]);
  expect(events.filter((e) => e.kind === "RUN_ENDED")).toHaveLength(1);
  const second = events.slice(events.findIndex((e) => e.payload.attempt === 2));
  const lengths = second
    .filter((e) => e.kind === "VALUES")
    .map((e) => stepsOf(e.payload.values).length);
  expect(lengths.length).toBeGreaterThan(0);
  for (let i = 1; i < lengths.length; i++) expect(lengths[i]).toBeGreaterThan(lengths[i - 1]!);
  expect(lengths.at(-1)).toBe(steps);
}

it("a run whose worker is SIGKILLed resumes on the other worker, each step once", async () => {
  const pair = await twoWorkers();
  const { threadId, runId, worker } = await slowRunUnderway(pair, 12);
  worker.child.kill("SIGKILL");
  await worker.exited;
  await expectExecutedOnce(threadId, runId, 12);
  const survivor = pair.find((w) => w !== worker)!;
  expect(survivor.output()).toMatch(/run lost its worker.*"cause":"session"/);
});

it("a run whose worker exits during its graceful shutdown resumes on the other worker", async () => {
  const pair = await twoWorkers();
  // Longer than the shutdown's grace would wait: the worker is still executing it when the
  // second signal ends the process.
  const { threadId, runId, worker } = await slowRunUnderway(pair, 20);
  worker.child.kill("SIGTERM");
  await worker.waitFor(/SIGTERM: shutting down/);
  worker.child.kill("SIGTERM");
  expect(await worker.exited).toBe(1);
  await expectExecutedOnce(threadId, runId, 20);
});

it("a worker whose database session ends while it lives stops its run; the run is executed once", async () => {
  const pair = await twoWorkers();
  const { threadId, runId, worker, owner } = await slowRunUnderway(pair, 12);
  // Frozen mid-step: it cannot notice anything until it is resumed, after the takeover.
  worker.child.kill("SIGSTOP");
  const { rows } = await sql.query(
    `SELECT pg_terminate_backend(l.pid) AS ok FROM pg_locks l
     JOIN run_worker w ON w.lock_key = l.objid::int
     WHERE l.locktype = 'advisory' AND l.classid = $1::oid AND l.objsubid = 2 AND w.owner = $2`,
    [WORKER_LOCK_CLASS, owner],
  );
  expect(rows).toEqual([{ ok: true }]);
  await until(
    () => runRow(runId),
    (row) => row.attempt === 2 && row.lease_owner !== null && row.lease_owner !== owner,
    "the other worker to take the run over",
  );
  // Resumed: its step ends and it writes what it would, after the run was taken from it.
  worker.child.kill("SIGCONT");
  await expectExecutedOnce(threadId, runId, 12);
  // It lives on, under a new identity, and takes runs again.
  await worker.waitFor(/worker has a new identity/);
  expect(worker.child.exitCode).toBeNull();
  const live = await sql.query(
    `SELECT w.owner FROM run_worker w JOIN pg_locks l ON l.locktype = 'advisory'
       AND l.classid = $1::oid AND l.objsubid = 2 AND l.objid::int = w.lock_key AND l.granted
     WHERE w.owner LIKE $2`,
    [WORKER_LOCK_CLASS, `%:${worker.child.pid}:%`],
  );
  expect(live.rows).toHaveLength(1);
  expect(live.rows[0].owner).not.toBe(owner);
});

describe("writes of an attempt whose run was taken over", () => {
  /** A run held RUNNING by `owner`, as a worker's claim leaves it. */
  async function heldRun(owner: string) {
    const threadId = await newThread();
    const run = await createRun({ threadId, assistantId: "append", input: {}, afterSeconds: 3600 });
    await sql.query(
      `UPDATE run SET status = 'RUNNING', lease_owner = $2, attempt = 1,
         lease_expires_at = now() + interval '1 hour' WHERE id = $1`,
      [run.id, owner],
    );
    return { threadId, runId: run.id };
  }

  const checkpoint = (id: string) => ({
    v: 4,
    id,
    ts: new Date().toISOString(),
    channel_values: { steps: [1] },
    channel_versions: { steps: "1" },
    versions_seen: {},
  });
  const rootConfig = (threadId: string) => ({
    configurable: { thread_id: threadId, checkpoint_ns: "" },
  });
  const checkpointIds = async (threadId: string) =>
    (
      await sql.query("SELECT checkpoint_id FROM checkpoint WHERE thread_id = $1 ORDER BY 1", [
        threadId,
      ])
    ).rows.map((r) => r.checkpoint_id);

  it("land while the lease holds, and are refused once another worker holds the run", async () => {
    const { threadId, runId } = await heldRun("old");
    const view = (owner: string) =>
      new RunCheckpointView(api.services.checkpointer, threadId, { lease: { runId, owner } });
    await view("old").put(
      rootConfig(threadId),
      checkpoint("1"),
      { source: "loop", step: 0, parents: {} },
      { steps: "1" },
    );
    await sql.query("UPDATE run SET lease_owner = 'new', attempt = 2 WHERE id = $1", [runId]);
    const stale = view("old");
    await expect(
      stale.put(
        rootConfig(threadId),
        checkpoint("2"),
        { source: "loop", step: 1, parents: {} },
        { steps: "2" },
      ),
    ).rejects.toBeInstanceOf(RunTakenOver);
    await expect(
      stale.putWrites(
        { configurable: { thread_id: threadId, checkpoint_ns: "", checkpoint_id: "1" } },
        [["steps", [2]]],
        "task",
      ),
    ).rejects.toBeInstanceOf(RunTakenOver);
    expect(await checkpointIds(threadId)).toEqual(["1"]);
    const writes = await sql.query(
      "SELECT count(*)::int AS n FROM checkpoint_write WHERE thread_id = $1",
      [threadId],
    );
    expect(writes.rows[0].n).toBe(0);
    // The new owner's writes land.
    await view("new").put(
      rootConfig(threadId),
      checkpoint("3"),
      { source: "loop", step: 1, parents: {} },
      { steps: "3" },
    );
    expect(await checkpointIds(threadId)).toEqual(["1", "3"]);
  });

  it("one in flight as the run is taken over either lands before the takeover or not at all", async () => {
    const { threadId, runId } = await heldRun("old");
    // A takeover in progress: the run's row is locked as the reaper locks it.
    const reaper = new pg.Client({ connectionString: api.db.url });
    await reaper.connect();
    try {
      await reaper.query("BEGIN");
      await reaper.query("SELECT 1 FROM run WHERE id = $1 FOR UPDATE", [runId]);
      const view = new RunCheckpointView(api.services.checkpointer, threadId, {
        lease: { runId, owner: "old" },
      });
      const write = view.put(
        rootConfig(threadId),
        checkpoint("1"),
        { source: "loop", step: 0, parents: {} },
        { steps: "1" },
      );
      const settled = write.then(
        () => "written",
        (error) => error,
      );
      await until(
        () =>
          sql.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
          ),
        (r) => r.rows[0].n > 0,
        "the write to wait for the takeover",
      );
      await reaper.query(
        "UPDATE run SET status = 'PENDING', lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
        [runId],
      );
      await reaper.query("COMMIT");
      expect(await settled).toBeInstanceOf(RunTakenOver);
      expect(await checkpointIds(threadId)).toEqual([]);
    } finally {
      await reaper.end();
    }
  });
});
