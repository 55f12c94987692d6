import { resolve } from "node:path";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type ExecutionResult, print } from "graphql";
import pg from "pg";
import {
  CreateAssistantDocument,
  CreateRunDocument,
  CreateThreadDocument,
  RunDocument,
  RunEventsDocument,
  RunResultDocument,
  ThreadEventsDocument,
} from "./gql/graphql.ts";
import { type Cli, cli, startWorker } from "./helpers/cli.ts";
import { createOwnPostgres, type OwnPostgres } from "./helpers/own-postgres.ts";
import { stepsOf } from "./helpers/poll.ts";
import { repoRoot } from "./helpers/server.ts";
import { type Event, type Subscription, streamClient, subscribe } from "./stream-clients.ts";

/**
 * Losing PostgreSQL while runs execute and subscribers listen, with real processes (a `start`
 * and a `worker`) on a cluster of the test's own, which it terminates, stops and restarts: every
 * process stays up, every run completes exactly once when the database is back, and every
 * subscriber receives every event of the log.
 */

const config = resolve(repoRoot, "test", "fixtures", "outage.langgraph.json");
const STEPS = 10;
/** Short leases: a run whose attempt an outage ended is taken up again soon after. */
const processEnv = { RUN_LEASE_SECONDS: "2", RUN_MAX_ATTEMPTS: "20" };

let postgres: OwnPostgres;
let sql: pg.Client | null = null;
let api: Cli;
let worker: Cli;
let urls: { graphqlUrl: string; wsUrl: string; ok: string };

beforeAll(async () => {
  postgres = await createOwnPostgres();
  api = cli(["start", "--config", config, "--port", "0", "--host", "127.0.0.1"], {
    DATABASE_URL: postgres.url,
    ...processEnv,
    // Two runs at a time here: the others execute in the worker process.
    N_JOBS_PER_WORKER: "2",
  });
  const [, base] = await api.waitFor(/at (http:\/\/\S+)\/graphql/);
  urls = {
    graphqlUrl: `${base}/graphql`,
    wsUrl: `${base!.replace(/^http/, "ws")}/graphql`,
    ok: `${base}/ok`,
  };
  worker = await startWorker(postgres.url, processEnv, config);
}, 120_000);

afterEach((context) => {
  // What the processes said, when a test failed: their logs are the only trace of why.
  if (context.task.result?.state === "fail") {
    process.stderr.write(
      `--- start:\n${api.output().slice(-6000)}\n--- worker:\n${worker.output().slice(-6000)}\n`,
    );
  }
});

afterAll(async () => {
  for (const child of [api, worker]) {
    if (child && child.child.exitCode === null) {
      child.child.kill("SIGKILL");
      await child.exited;
    }
  }
  await sql?.end().catch(() => undefined);
  await postgres?.destroy();
});

async function request<R, V>(
  document: TypedDocumentNode<R, V>,
  variables?: V,
): Promise<ExecutionResult<R> & { status: number }> {
  const response = await fetch(urls.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: print(document), variables }),
  });
  return { ...((await response.json()) as ExecutionResult<R>), status: response.status };
}

async function query<R, V>(document: TypedDocumentNode<R, V>, variables?: V): Promise<R> {
  const result = await request(document, variables);
  if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
  return result.data!;
}

/** Polls `read` (which may fail while the database is away) until `check` holds. */
async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  what: string,
  tries = 1200,
): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const value = await read();
      if (check(value)) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last: ${String(last)}`);
}

/** A connection of the test's own to the cluster (re-opened after a restart). */
async function database(): Promise<pg.Client> {
  if (sql) return sql;
  const client = new pg.Client({ connectionString: postgres.url });
  client.on("error", () => {
    if (sql === client) sql = null;
  });
  await client.connect();
  sql = client;
  return client;
}

async function rootCheckpoints(threadId: string): Promise<number> {
  const { rows } = await (await database()).query(
    "SELECT count(*)::int AS n FROM checkpoint WHERE thread_id = $1 AND checkpoint_ns = ''",
    [threadId],
  );
  return rows[0].n;
}

interface Watched {
  threadId: string;
  runId: string;
  steps: number;
  runEvents: Subscription;
  threadEvents: Subscription;
}

/**
 * Threads each running the slow graph, each followed by a runEvents subscriber over SSE and a
 * threadEvents subscriber over graphql-ws (subscribed before its run was created). One more run
 * sleeps in its node for longer than a lease: it writes nothing while the database is away.
 */
async function startRuns(count: number): Promise<Watched[]> {
  const shapes = [
    ...Array.from({ length: count }, () => ({ steps: STEPS, delayMs: 200, progress: 3 })),
    { steps: 3, delayMs: 2500, progress: 2 },
  ];
  const watched: Watched[] = [];
  for (const { steps, delayMs } of shapes) {
    const threadId = (await query(CreateThreadDocument, {})).createThread.id;
    const threadEvents = subscribe(streamClient("ws", urls), ThreadEventsDocument, {
      threadId,
      // The whole (new) thread's log: joining "now" would race the run's creation below.
      after: "0",
    });
    const run = (
      await query(CreateRunDocument, {
        input: {
          threadId,
          assistantId: "slow",
          input: {},
          config: { configurable: { steps, delayMs } },
        },
      })
    ).createRun;
    const runEvents = subscribe(streamClient("sse", urls), RunEventsDocument, { runId: run.id });
    watched.push({ threadId, runId: run.id, steps, runEvents, threadEvents });
  }
  // Mid-run: every run has checkpointed its input and a step or more.
  for (const [i, { threadId }] of watched.entries()) {
    await eventually(
      () => rootCheckpoints(threadId),
      (n) => n >= shapes[i]!.progress,
      "the runs to make progress",
    );
  }
  return watched;
}

const ended = (events: Event[]) => events.some((e) => e.__typename === "RunEndedEvent");

/** Every run completed once, every process is up, every subscriber got every logged event. */
async function expectRecovered(watched: Watched[]) {
  for (const { runId, steps } of watched) {
    const done = await eventually(
      () => query(RunResultDocument, { id: runId, wait: false }),
      (r) => r.runResult.run.status !== "PENDING" && r.runResult.run.status !== "RUNNING",
      `run ${runId} to end`,
    );
    expect(done.runResult.run.status).toBe("SUCCESS");
    // Each step once: a step an outage interrupted ran again, but only its last run counts.
    expect(stepsOf(done.runResult.values)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  }
  for (const { runId, runEvents, threadEvents } of watched) {
    await runEvents.until(ended, "the run's end (runEvents over SSE)");
    await threadEvents.until(ended, "the run's end (threadEvents over graphql-ws)");
    expect(runEvents.errors).toEqual([]);
    expect(threadEvents.errors).toEqual([]);
    threadEvents.stop();
    // The whole log, read afresh now the run is over: the live subscribers saw all of it.
    const logged = await collectRun(runId);
    expect(ended(logged)).toBe(true);
    const seen = (events: Event[]) => new Set(events.map((e) => ("id" in e ? e.id : null)));
    const byRun = seen(runEvents.events);
    const byThread = seen(threadEvents.events);
    const missing = logged
      .filter((e) => "id" in e && !(byRun.has(e.id) && byThread.has(e.id)))
      .map((e) => ({
        id: "id" in e ? e.id : null,
        byRun: byRun.has("id" in e ? e.id : ""),
        byThread: byThread.has("id" in e ? e.id : ""),
      }));
    expect(missing).toEqual([]);
  }
  expect(api.child.exitCode).toBeNull();
  expect(worker.child.exitCode).toBeNull();
  const attempts = [];
  for (const { runId } of watched)
    attempts.push((await query(RunDocument, { id: runId })).run!.attempt);
  return attempts;
}

async function collectRun(runId: string): Promise<Event[]> {
  const subscription = subscribe(streamClient("ws", urls), RunEventsDocument, { runId });
  await subscription.completed;
  expect(subscription.errors).toEqual([]);
  return subscription.events;
}

async function ourSessions(): Promise<number[]> {
  const { rows } = await (await database()).query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = 'postgres'`,
  );
  return rows.map((r) => r.pid);
}

/** While the database is away: /ok says so, and requests get a coded error, not a crash. */
async function expectUnavailable() {
  const health = await fetch(urls.ok);
  expect(health.status).toBe(503);
  const refused = await request(CreateThreadDocument, {});
  expect(refused.status).toBe(503);
  expect(refused.errors?.[0]?.extensions?.code).toBe("UNAVAILABLE");
  // Through Prisma as well as through our own SQL.
  const viaPrisma = await request(CreateAssistantDocument, { input: { graphId: "slow" } });
  expect(viaPrisma.errors?.[0]?.extensions?.code).toBe("UNAVAILABLE");
}

it("a promise rejection nobody handles is logged, and the process carries on", async () => {
  const threadId = (await query(CreateThreadDocument, {})).createThread.id;
  const run = (
    await query(CreateRunDocument, { input: { threadId, assistantId: "stray", input: {} } })
  ).createRun;
  const done = await eventually(
    () => query(RunResultDocument, { id: run.id, wait: false }),
    (r) => !["PENDING", "RUNNING"].includes(r.runResult.run.status),
    "the stray run to end",
  );
  expect(done.runResult.run.status).toBe("SUCCESS");
  expect(done.runResult.values).toEqual({ done: true });
  await api.waitFor(/unhandled promise rejection \(the process carries on\).*a stray rejection/);
  expect(api.child.exitCode).toBeNull();
}, 120_000);

it("pg_terminate_backend of every session, while runs execute and subscribers listen", async () => {
  const watched = await startRuns(4);
  // Several times, a little apart: each finds the connections the one before made re-open.
  for (let round = 0; round < 4; round++) {
    const pids = await ourSessions();
    expect(pids.length).toBeGreaterThan(0);
    await (await database()).query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", [
      pids,
    ]);
    await new Promise((r) => setTimeout(r, 150));
  }
  await expectRecovered(watched);
}, 180_000);

for (const mode of ["fast", "immediate"] as const) {
  it(`pg_ctl stop -m ${mode}, then start, while runs execute and subscribers listen`, async () => {
    const watched = await startRuns(4);
    await sql?.end().catch(() => undefined);
    sql = null;
    await postgres.stop(mode);
    await expectUnavailable();
    // Down for longer than a lease: the runs' leases lapse meanwhile.
    await new Promise((r) => setTimeout(r, 3000));
    await expectUnavailable();
    expect(api.child.exitCode).toBeNull();
    expect(worker.child.exitCode).toBeNull();
    await postgres.start();
    await eventually(
      () => fetch(urls.ok).then((r) => r.status),
      (status) => status === 200,
      "/ok to answer 200 again",
    );
    const attempts = await expectRecovered(watched);
    // Each was mid-run when the database went, for longer than the rest of its run takes.
    expect(attempts.every((attempt) => attempt >= 2)).toBe(true);
  }, 180_000);
}
