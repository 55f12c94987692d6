import { randomUUID } from "node:crypto";
import pg from "pg";
import { nextRunTime } from "../src/crons/schedule.ts";
import { CRONS_CHANNEL } from "../src/db/sql/crons.ts";
import {
  CreateCronDocument,
  type CreateCronInput,
  CreateThreadDocument,
  CronDocument,
  CronsDocument,
  DeleteCronDocument,
  DeleteThreadDocument,
  ThreadDocument,
  UpdateCronDocument,
} from "./gql/graphql.ts";
import { errorOf } from "./helpers/graphql.ts";
import { fixturesConfig, startTestServer, type TestServer } from "./helpers/server.ts";
import { type Receiver, startReceiver, until } from "./helpers/webhook-receiver.ts";

let server: TestServer;
let sql: pg.Client;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startTestServer({
    configFile: fixturesConfig,
    env: {
      // The scheduler wakes at each next run anyway; a short safety tick only bounds how long
      // a lost wake-up could stall a test.
      CRON_TICK_SECONDS: "0.5",
      WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
    },
  });
  sql = new pg.Client({ connectionString: server.db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await server?.stop();
  await receiver?.close();
});

const newThread = async () => (await server.query(CreateThreadDocument, {})).createThread.id;
const createCron = async (input: CreateCronInput) =>
  (await server.query(CreateCronDocument, { input })).createCron;
const cronOf = async (id: string) => (await server.query(CronDocument, { id, first: 100 })).cron;
const disable = (id: string) => server.query(UpdateCronDocument, { id, input: { enabled: false } });

interface RunRow {
  id: string;
  thread_id: string;
  cron_id: string | null;
  status: string;
  input: unknown;
  created_at: Date;
  ended_at: Date | null;
}

async function cronRuns(cronId: string): Promise<RunRow[]> {
  const { rows } = await sql.query<RunRow>(
    `SELECT id::text, thread_id::text, cron_id::text, status::text, input, created_at, ended_at
     FROM run WHERE cron_id = $1::uuid ORDER BY created_at`,
    [cronId],
  );
  return rows;
}

async function threadRunCount(threadId: string): Promise<number> {
  const { rows } = await sql.query(
    "SELECT count(*)::int AS n FROM run WHERE thread_id = $1::uuid",
    [threadId],
  );
  return rows[0].n;
}

/** A per-second cron that must keep firing: proof that time passed and the scheduler ran. */
async function fires(count: number) {
  const witness = await createCron({
    assistantId: "append",
    threadId: await newThread(),
    schedule: "* * * * * *",
    input: { items: ["witness"] },
  });
  await until(
    () => cronRuns(witness.id),
    (runs) => runs.length >= count,
    "witness fires",
  );
  await server.query(DeleteCronDocument, { id: witness.id });
}

describe("createCron", () => {
  it("stores the cron with its defaults and the next run counted from creation", async () => {
    const threadId = await newThread();
    const cron = await createCron({ assistantId: "append", threadId, schedule: "0 0 1 1 *" });
    expect(cron).toMatchObject({
      threadId,
      schedule: "0 0 1 1 *",
      timezone: "UTC",
      input: null,
      config: null,
      context: null,
      metadata: {},
      endTime: null,
      enabled: true,
      lastRunAt: null,
      onRunCompleted: "DELETE",
      multitaskStrategy: "ENQUEUE",
      interruptBefore: [],
      interruptAfter: [],
      webhook: null,
    });
    const createdAt = new Date(cron.createdAt);
    expect(cron.nextRunAt).toBe(nextRunTime("0 0 1 1 *", "UTC", createdAt)!.toISOString());
    expect(new Date(cron.nextRunAt!).getUTCMonth()).toBe(0);
    expect(await cronOf(cron.id)).toMatchObject({ id: cron.id, runs: { totalCount: 0 } });
  });

  it("reads the schedule in its time zone, stored under its canonical name", async () => {
    const cron = await createCron({
      assistantId: "append",
      schedule: "0 9 * * *",
      timezone: "america/new_york",
      input: { items: [1] },
      config: { configurable: { a: 1 } },
      context: { c: 2 },
      metadata: { team: "ops" },
      onRunCompleted: "KEEP",
      webhook: "https://example.com/hook?token=x",
    });
    expect(cron).toMatchObject({
      threadId: null,
      timezone: "America/New_York",
      input: { items: [1] },
      config: { configurable: { a: 1 } },
      context: { c: 2 },
      metadata: { team: "ops" },
      onRunCompleted: "KEEP",
      webhook: "https://example.com/hook?token=x",
    });
    const expected = nextRunTime("0 9 * * *", "America/New_York", new Date(cron.createdAt))!;
    expect(cron.nextRunAt).toBe(expected.toISOString());
    expect([13, 14]).toContain(expected.getUTCHours()); // 09:00 EDT or EST
  });

  it("a disabled cron has no next run", async () => {
    const cron = await createCron({ assistantId: "append", schedule: "* * * * *", enabled: false });
    expect(cron).toMatchObject({ enabled: false, nextRunAt: null });
  });

  it("refuses bad input with a coded error naming the field, and creates nothing", async () => {
    const before = (await server.query(CronsDocument, {})).crons.totalCount;
    const threadId = await newThread();
    const cases: Array<[Partial<CreateCronInput>, string, string]> = [
      [{ schedule: "* * *" }, "BAD_USER_INPUT", "input.schedule"],
      [{ schedule: "61 * * * *" }, "BAD_USER_INPUT", "input.schedule"],
      [{ schedule: "@often" }, "BAD_USER_INPUT", "input.schedule"],
      [{ timezone: "Mars/Olympus" }, "BAD_USER_INPUT", "input.timezone"],
      [{ endTime: new Date(Date.now() - 60_000).toISOString() }, "BAD_USER_INPUT", "input.endTime"],
      [{ assistantId: randomUUID() }, "NOT_FOUND", "input.assistantId"],
      [{ assistantId: "no-such-graph" }, "NOT_FOUND", "input.assistantId"],
      [{ threadId: randomUUID() }, "NOT_FOUND", "input.threadId"],
      [{ threadId: "not-a-uuid" }, "BAD_USER_INPUT", "input.threadId"],
      [{ webhook: "ftp://example.com/x" }, "BAD_USER_INPUT", "input.webhook"],
      [{ webhook: "https://user:pw@example.com/x" }, "BAD_USER_INPUT", "input.webhook"],
      [{ webhook: "not a url" }, "BAD_USER_INPUT", "input.webhook"],
      [{ config: [1, 2] }, "BAD_USER_INPUT", "input.config"],
      [{ interruptBefore: ["nope"] }, "BAD_USER_INPUT", "input.interruptBefore"],
      // jsonb holds neither a NUL nor a lone surrogate.
      [{ input: { items: ["a\u0000"] } }, "BAD_USER_INPUT", "input.input"],
      [{ metadata: { note: "\udc00" } }, "BAD_USER_INPUT", "input.metadata"],
    ];
    for (const [change, code, field] of cases) {
      const result = await server.request(CreateCronDocument, {
        input: { assistantId: "append", threadId, schedule: "* * * * *", ...change },
      });
      const error = errorOf(result);
      expect({ change, code: error.extensions.code, field: error.extensions.field }).toEqual({
        change,
        code,
        field,
      });
    }
    expect((await server.query(CronsDocument, {})).crons.totalCount).toBe(before);
  });
});

describe("cron and crons", () => {
  it("cron(id) is null for an unknown or malformed id", async () => {
    expect(await cronOf(randomUUID())).toBeNull();
    expect(await cronOf("nope")).toBeNull();
  });

  it("filters by thread, assistant (or graph id) and enabled, and pages with totalCount", async () => {
    const threadId = await newThread();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await createCron({ assistantId: "append", threadId, schedule: "0 0 1 1 *" })).id);
    }
    const off = await createCron({
      assistantId: "append",
      threadId,
      schedule: "0 0 1 1 *",
      enabled: false,
    });
    const onThread = await server.query(CronsDocument, { filter: { threadId }, first: 10 });
    expect(onThread.crons.totalCount).toBe(4);
    // Newest first.
    expect(onThread.crons.nodes.map((c) => c.id)).toEqual([off.id, ...ids.reverse()]);

    const page1 = await server.query(CronsDocument, { filter: { threadId }, first: 3 });
    expect(page1.crons.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const page2 = await server.query(CronsDocument, {
      filter: { threadId },
      first: 3,
      after: page1.crons.pageInfo.endCursor,
    });
    expect(page2.crons.nodes.map((c) => c.id)).toEqual([ids[ids.length - 1]]);
    expect(page2.crons.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });

    const disabled = await server.query(CronsDocument, { filter: { threadId, enabled: false } });
    expect(disabled.crons.nodes.map((c) => c.id)).toEqual([off.id]);
    const byGraph = await server.query(CronsDocument, {
      filter: { threadId, assistantId: "append" },
    });
    expect(byGraph.crons.totalCount).toBe(4);
    const otherAssistant = await server.query(CronsDocument, {
      filter: { threadId, assistantId: "slow" },
    });
    expect(otherAssistant.crons.totalCount).toBe(0);
    const unknown = await server.query(CronsDocument, { filter: { assistantId: "nope" } });
    expect(unknown.crons.totalCount).toBe(0);
  });
});

describe("updateCron and deleteCron", () => {
  it("a new schedule, time zone or endTime recounts nextRunAt; other edits keep it", async () => {
    const cron = await createCron({ assistantId: "append", schedule: "0 0 1 1 *" });
    const renamed = (
      await server.query(UpdateCronDocument, {
        id: cron.id,
        input: { metadata: { v: 2 }, input: { items: [2] }, onRunCompleted: "KEEP" },
      })
    ).updateCron;
    expect(renamed).toMatchObject({
      metadata: { v: 2 },
      input: { items: [2] },
      onRunCompleted: "KEEP",
      nextRunAt: cron.nextRunAt,
      schedule: "0 0 1 1 *",
    });
    expect(new Date(renamed.updatedAt).getTime()).toBeGreaterThanOrEqual(
      new Date(cron.updatedAt).getTime(),
    );

    const rescheduled = (
      await server.query(UpdateCronDocument, {
        id: cron.id,
        input: { schedule: "30 6 * * *", timezone: "Europe/Berlin" },
      })
    ).updateCron;
    expect(rescheduled).toMatchObject({ schedule: "30 6 * * *", timezone: "Europe/Berlin" });
    const next = new Date(rescheduled.nextRunAt!);
    expect(next.getTime()).toBeGreaterThan(Date.now() - 5_000);
    expect(next.getTime() - Date.now()).toBeLessThan(25 * 3600 * 1000);
    expect(next.getUTCMinutes()).toBe(30);
    expect([4, 5]).toContain(next.getUTCHours()); // 06:30 CEST or CET

    const ending = new Date(Date.now() + 60_000).toISOString();
    const ended = (
      await server.query(UpdateCronDocument, { id: cron.id, input: { endTime: ending } })
    ).updateCron;
    // No 06:30 within the next minute (unless the test runs at 06:29 Berlin time).
    expect(ended.endTime).toBe(ending);
    if (ended.nextRunAt) expect(new Date(ended.nextRunAt) <= new Date(ending)).toBe(true);

    // Explicit null clears the fields that may be empty.
    const cleared = (
      await server.query(UpdateCronDocument, {
        id: cron.id,
        input: { endTime: null, input: null },
      })
    ).updateCron;
    expect(cleared).toMatchObject({ endTime: null, input: null, metadata: { v: 2 } });
    expect(cleared.nextRunAt).toBe(rescheduled.nextRunAt);
  });

  it("refuses bad updates without changing anything", async () => {
    const cron = await createCron({ assistantId: "append", schedule: "0 0 1 1 *" });
    for (const [input, field] of [
      [{ schedule: "every day" }, "input.schedule"],
      [{ timezone: "Nowhere/Land" }, "input.timezone"],
      [{ endTime: "2000-01-01T00:00:00Z" }, "input.endTime"],
      [{ webhook: "gopher://x" }, "input.webhook"],
      [{ metadata: "x" }, "input.metadata"],
      [{ interruptAfter: ["nope"] }, "input.interruptAfter"],
      [{ input: { items: ["\ud800"] } }, "input.input"],
      [{ config: { configurable: { x: "\u0000" } } }, "input.config"],
    ] as const) {
      const error = errorOf(
        await server.request(UpdateCronDocument, { id: cron.id, input: input as never }),
      );
      expect([error.extensions.code, error.extensions.field]).toEqual(["BAD_USER_INPUT", field]);
    }
    expect(await cronOf(cron.id)).toMatchObject({
      schedule: cron.schedule,
      timezone: cron.timezone,
      endTime: null,
      nextRunAt: cron.nextRunAt,
      updatedAt: cron.updatedAt,
    });
    const missing = errorOf(
      await server.request(UpdateCronDocument, { id: randomUUID(), input: { enabled: false } }),
    );
    expect(missing.extensions.code).toBe("NOT_FOUND");
  });

  it("deleteCron removes it; a second delete is NOT_FOUND", async () => {
    const cron = await createCron({ assistantId: "append", schedule: "0 0 1 1 *" });
    expect((await server.query(DeleteCronDocument, { id: cron.id })).deleteCron).toBe(cron.id);
    expect(await cronOf(cron.id)).toBeNull();
    const again = errorOf(await server.request(DeleteCronDocument, { id: cron.id }));
    expect(again.extensions.code).toBe("NOT_FOUND");
  });

  it("deleting a thread deletes its crons", async () => {
    const threadId = await newThread();
    const cron = await createCron({ assistantId: "append", threadId, schedule: "0 0 1 1 *" });
    await server.query(DeleteThreadDocument, { id: threadId });
    expect(await cronOf(cron.id)).toBeNull();
  });
});

describe("firing", () => {
  it("a per-second cron starts runs on its thread with its input, one per second", async () => {
    const threadId = await newThread();
    const cron = await createCron({
      assistantId: "append",
      threadId,
      schedule: "* * * * * *",
      input: { items: ["tick"] },
      metadata: { origin: "cron" },
    });
    const runs = await until(
      () => cronRuns(cron.id),
      (r) => r.length >= 3,
      "three fires",
    );
    await disable(cron.id);
    const all = await cronRuns(cron.id);
    for (const run of all) {
      expect(run).toMatchObject({
        thread_id: threadId,
        cron_id: cron.id,
        input: { items: ["tick"] },
      });
    }
    // One run per slot: never two in the same second.
    const seconds = all.map((r) => Math.floor(r.created_at.getTime() / 1000));
    expect(new Set(seconds).size).toBe(seconds.length);

    // They run (one at a time, ENQUEUE) and each appends its input to the thread's state.
    await until(
      () => cronRuns(cron.id),
      (r) => r.every((run) => run.status === "SUCCESS"),
      "cron runs to finish",
    );
    const thread = (await server.query(ThreadDocument, { id: threadId })).thread!;
    expect((thread.values as { items: string[] }).items).toEqual(all.map(() => "tick"));

    const view = (await cronOf(cron.id))!;
    expect(view.runs.totalCount).toBe(all.length);
    expect(view.runs.nodes[0]).toMatchObject({
      cronId: cron.id,
      threadId,
      input: { items: ["tick"] },
      metadata: { origin: "cron" },
      multitaskStrategy: "ENQUEUE",
    });
    expect(view.lastRunAt).not.toBeNull();
    expect(new Date(view.lastRunAt!).getTime()).toBeGreaterThanOrEqual(
      runs[0]!.created_at.getTime(),
    );
    expect(view).toMatchObject({ enabled: false, nextRunAt: null });
  });

  it("disabled crons do not fire; disabling stops and re-enabling resumes without backfill", async () => {
    const threadId = await newThread();
    const off = await createCron({
      assistantId: "append",
      threadId,
      schedule: "* * * * * *",
      enabled: false,
    });
    const on = await createCron({ assistantId: "append", threadId, schedule: "* * * * * *" });
    await until(
      () => cronRuns(on.id),
      (r) => r.length >= 2,
      "enabled cron fires",
    );
    await disable(on.id);
    const stoppedAt = (await cronRuns(on.id)).length;
    await fires(3);
    expect(await cronRuns(off.id)).toHaveLength(0);
    expect(await cronRuns(on.id)).toHaveLength(stoppedAt);

    // Re-enabled after seconds of missed slots: the next run is in the future, and the slots
    // missed while disabled are not made up.
    const resumed = (
      await server.query(UpdateCronDocument, { id: on.id, input: { enabled: true } })
    ).updateCron;
    expect(new Date(resumed.nextRunAt!).getTime()).toBeGreaterThan(
      new Date(resumed.updatedAt).getTime(),
    );
    const after = await until(
      () => cronRuns(on.id),
      (r) => r.length > stoppedAt,
      "re-enabled cron fires",
    );
    expect(after[stoppedAt]!.created_at.getTime()).toBeGreaterThanOrEqual(
      new Date(resumed.nextRunAt!).getTime(),
    );
    await disable(on.id);
  });

  it("deleting a cron stops its fires", async () => {
    const threadId = await newThread();
    const cron = await createCron({ assistantId: "append", threadId, schedule: "* * * * * *" });
    await until(
      () => cronRuns(cron.id),
      (r) => r.length >= 1,
      "cron fires",
    );
    await server.query(DeleteCronDocument, { id: cron.id });
    const count = await threadRunCount(threadId);
    await fires(3);
    expect(await threadRunCount(threadId)).toBe(count);
  });

  it("stops at endTime: nextRunAt becomes null and no run starts after it", async () => {
    const threadId = await newThread();
    const endTime = new Date(Date.now() + 2_500);
    const cron = await createCron({
      assistantId: "append",
      threadId,
      schedule: "* * * * * *",
      endTime: endTime.toISOString(),
    });
    await until(
      () => cronOf(cron.id),
      (c) => c!.nextRunAt === null && c!.lastRunAt !== null,
      "cron to reach its endTime",
    );
    const runs = await cronRuns(cron.id);
    expect(runs.length).toBeGreaterThanOrEqual(1);
    for (const run of runs) expect(run.created_at.getTime()).toBeLessThanOrEqual(endTime.getTime());
    await fires(2);
    expect(await cronRuns(cron.id)).toHaveLength(runs.length);
    expect((await cronOf(cron.id))!.enabled).toBe(true);
  });

  it("a cron due many times while nobody ran fires once, then waits for its next slot", async () => {
    const threadId = await newThread();
    const cron = await createCron({ assistantId: "append", threadId, schedule: "0 * * * *" });
    // As if every process had been down for five hourly slots.
    await sql.query(
      "UPDATE cron SET next_run_at = now() - interval '5 hours 30 minutes' WHERE id = $1::uuid",
      [cron.id],
    );
    await sql.query("SELECT pg_notify($1, $2)", [CRONS_CHANNEL, cron.id]);
    const caughtUp = await until(
      () => cronOf(cron.id),
      (c) => c!.lastRunAt !== null,
      "the overdue cron to fire",
    );
    const nextRunAt = new Date(caughtUp!.nextRunAt!);
    expect(nextRunAt.getTime()).toBeGreaterThan(new Date(caughtUp!.lastRunAt!).getTime());
    expect(nextRunAt.getUTCMinutes()).toBe(0);
    // Every run before the next slot is the catch-up: exactly one.
    const runs = await cronRuns(cron.id);
    expect(runs.filter((r) => r.created_at < nextRunAt)).toHaveLength(1);
    await server.query(DeleteCronDocument, { id: cron.id });
  });

  it("REJECT: a slot that finds its thread busy is skipped, so runs never overlap", async () => {
    const threadId = await newThread();
    const cron = await createCron({
      assistantId: "slow",
      threadId,
      schedule: "* * * * * *",
      multitaskStrategy: "REJECT",
      input: {},
      config: { configurable: { steps: 1, delayMs: 2200 } },
    });
    await until(
      () => cronRuns(cron.id),
      (r) => r.filter((run) => run.status === "SUCCESS").length >= 2,
      "two slow runs",
    );
    await disable(cron.id);
    const runs = (await cronRuns(cron.id)).filter((r) => r.ended_at);
    for (let i = 1; i < runs.length; i++) {
      expect(runs[i]!.created_at.getTime()).toBeGreaterThanOrEqual(
        runs[i - 1]!.ended_at!.getTime(),
      );
    }
    // Slots passed while each run held the thread (it takes over two seconds).
    const span = runs.at(-1)!.created_at.getTime() - runs[0]!.created_at.getTime();
    expect(span).toBeGreaterThanOrEqual(2000);
  });
});

describe("stateless crons", () => {
  async function firstDeliveries(path: string, onRunCompleted: "DELETE" | "KEEP") {
    const cron = await createCron({
      assistantId: "append",
      schedule: "* * * * * *",
      input: { items: ["s"] },
      onRunCompleted,
      webhook: receiver.url(path),
    });
    await until(
      () => receiver.received(path),
      (r) => r.length >= 2,
      "two stateless runs",
    );
    await disable(cron.id);
    return { cron, payloads: receiver.received(path).map((r) => r.json) };
  }

  it("each fire runs on a new thread, deleted with the run when onRunCompleted is DELETE", async () => {
    const { cron, payloads } = await firstDeliveries("/stateless-delete", "DELETE");
    const threads = new Set(payloads.map((p) => p.threadId));
    expect(threads.size).toBe(payloads.length);
    for (const payload of payloads) {
      expect(payload).toMatchObject({
        cronId: cron.id,
        status: "SUCCESS",
        input: { items: ["s"] },
        values: { items: ["s"] },
      });
      expect((await server.query(ThreadDocument, { id: payload.threadId })).thread).toBeNull();
      expect(await threadRunCount(payload.threadId)).toBe(0);
    }
  });

  it("keeps each run's thread, with its state, when onRunCompleted is KEEP", async () => {
    const { cron, payloads } = await firstDeliveries("/stateless-keep", "KEEP");
    expect(new Set(payloads.map((p) => p.threadId)).size).toBe(payloads.length);
    for (const payload of payloads) {
      const thread = (await server.query(ThreadDocument, { id: payload.threadId })).thread!;
      expect(thread).toMatchObject({ status: "IDLE", values: { items: ["s"] } });
    }
    const view = (await cronOf(cron.id))!;
    expect(view.threadId).toBeNull();
    expect(view.runs.nodes.map((r) => r.id)).toEqual(
      expect.arrayContaining(payloads.map((p) => p.id)),
    );
  });
});
