import { randomBytes } from "node:crypto";
import pg from "pg";
import { sign, webhookKey } from "../src/webhooks/signature.ts";
import {
  CancelRunDocument,
  CreateCronDocument,
  CreateRunDocument,
  CreateThreadDocument,
  RunDocument,
  type RunInput,
  RunsDocument,
  RunWebhookDeliveriesDocument,
  UpdateCronDocument,
} from "./gql/graphql.ts";
import { errorOf } from "./helpers/graphql.ts";
import { fixturesConfig, startTestServer, type TestServer } from "./helpers/server.ts";
import {
  expectedSignature,
  type Receiver,
  startReceiver,
  until,
} from "./helpers/webhook-receiver.ts";

const secret = `whsec_${randomBytes(24).toString("base64")}`;
let server: TestServer;
let sql: pg.Client;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startTestServer({
    configFile: fixturesConfig,
    env: {
      WEBHOOK_SECRET: secret,
      WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
      WEBHOOK_MAX_ATTEMPTS: "3",
      WEBHOOK_RETRY_BASE_SECONDS: "0.1",
      WEBHOOK_TIMEOUT_SECONDS: "1",
      // The lease reaper looks every half lease: the abandoned-run test needs it to look soon.
      RUN_LEASE_SECONDS: "2",
      CRON_TICK_SECONDS: "0.5",
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
const createRun = async (input: RunInput) =>
  (await server.query(CreateRunDocument, { input })).createRun;

async function deliveriesOf(runId: string) {
  return (await server.query(RunWebhookDeliveriesDocument, { id: runId })).run!.webhookDeliveries;
}

/** Waits for the run's (single) delivery to settle: DELIVERED or FAILED. */
async function settled(runId: string) {
  const [delivery] = await until(
    () => deliveriesOf(runId),
    (d) => d.length === 1 && d[0]!.status !== "PENDING",
    `the webhook of run ${runId} to settle`,
  );
  return delivery!;
}

function expectSigned(request: { headers: Record<string, unknown>; body: string }) {
  const id = String(request.headers["webhook-id"]);
  const timestamp = String(request.headers["webhook-timestamp"]);
  expect(request.headers["webhook-signature"]).toBe(
    expectedSignature(secret, id, timestamp, request.body),
  );
  // Seconds since the epoch, as Standard Webhooks specifies (not milliseconds).
  expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(600);
}

describe("signing", () => {
  it("matches the Standard Webhooks reference vector", () => {
    expect(
      sign(
        webhookKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
      ),
    ).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("uses a secret without the whsec_ prefix as its UTF-8 bytes", () => {
    expect(webhookKey("plain secret")).toEqual(Buffer.from("plain secret"));
  });
});

describe("delivery", () => {
  it("POSTs the finished run, signed, once; the delivery log says DELIVERED", async () => {
    const threadId = await newThread();
    const run = await createRun({
      threadId,
      assistantId: "append",
      input: { items: ["a"] },
      metadata: { who: "test" },
      webhook: receiver.url("/ok"),
    });
    const delivery = await settled(run.id);
    expect(delivery).toMatchObject({
      runId: run.id,
      url: receiver.url("/ok"),
      status: "DELIVERED",
      attempts: 1,
      lastStatusCode: 200,
      lastError: null,
      nextAttemptAt: null,
    });
    expect(delivery.deliveredAt).not.toBeNull();

    const [request] = receiver.received("/ok");
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.headers["user-agent"]).toMatch(/^langgraph-gql\//);
    expect(request!.headers["webhook-id"]).toBe(delivery.id);
    expectSigned(request!);
    // The contract's Run fields, camelCase, plus the values the run left.
    const ended = (await server.query(RunDocument, { id: run.id })).run!;
    expect(request!.json).toEqual({
      id: run.id,
      threadId,
      assistantId: run.assistantId,
      cronId: null,
      status: "SUCCESS",
      multitaskStrategy: "ENQUEUE",
      input: { items: ["a"] },
      command: null,
      config: ended.config,
      context: null,
      metadata: { who: "test" },
      attempt: 1,
      error: null,
      createdAt: ended.createdAt,
      updatedAt: expect.any(String),
      startedAt: ended.startedAt,
      endedAt: expect.any(String),
      values: { items: ["a"], steps: [] },
    });
    expect(receiver.received("/ok")).toHaveLength(1);
  });

  it("delivers a run whose values jsonb cannot hold as they are, with U+FFFD in their place", async () => {
    const run = await createRun({
      threadId: await newThread(),
      assistantId: "unstorable",
      input: {},
      webhook: receiver.url("/unstorable"),
    });
    expect((await settled(run.id)).status).toBe("DELIVERED");
    const [request] = receiver.received("/unstorable");
    expect((request!.json as { status: string; values: unknown }).status).toBe("SUCCESS");
    expect((request!.json as { values: unknown }).values).toEqual({
      text: "nul\uFFFD lone\uFFFD pair\ud83d\ude00 typed \\u0000 \\\\ud800 \\\uFFFD",
    });
  });

  it("retries after a 500 with the same id and body, then succeeds", async () => {
    receiver.respond("/flaky", (_request, nth) => (nth === 0 ? 500 : 204));
    const run = await createRun({
      threadId: await newThread(),
      assistantId: "append",
      input: { items: ["b"] },
      webhook: receiver.url("/flaky"),
    });
    const delivery = await settled(run.id);
    expect(delivery).toMatchObject({
      status: "DELIVERED",
      attempts: 2,
      lastStatusCode: 204,
      lastError: null,
    });
    const [first, second] = receiver.received("/flaky");
    expect(receiver.received("/flaky")).toHaveLength(2);
    expect(second!.headers["webhook-id"]).toBe(first!.headers["webhook-id"]);
    expect(second!.body).toBe(first!.body);
    expectSigned(first!);
    expectSigned(second!);
  });

  it("gives up after the configured attempts: FAILED with the last status and error", async () => {
    receiver.respond("/down", () => 503);
    const run = await createRun({
      threadId: await newThread(),
      assistantId: "append",
      input: { items: ["c"] },
      webhook: receiver.url("/down"),
    });
    const delivery = await settled(run.id);
    expect(delivery).toMatchObject({
      status: "FAILED",
      attempts: 3,
      lastStatusCode: 503,
      nextAttemptAt: null,
      deliveredAt: null,
    });
    expect(delivery.lastError).toMatch(/^HTTP 503: answer 503/);
    expect(receiver.received("/down")).toHaveLength(3);
    // Nothing left queued for it: no fourth attempt will come.
    const { rows } = await sql.query(
      `SELECT count(*)::int AS n FROM pgboss.job
       WHERE name = 'webhooks' AND data->>'deliveryId' = $1 AND state < 'completed'`,
      [delivery.id],
    );
    expect(rows[0].n).toBe(0);
    // The run is untouched by its webhook's fate.
    expect((await server.query(RunDocument, { id: run.id })).run).toMatchObject({
      status: "SUCCESS",
      thread: { status: "IDLE" },
    });
  });

  it("an attempt that gets no answer times out and counts", async () => {
    receiver.respond("/slow", (_request, nth) => (nth === 0 ? "hang" : 200));
    const run = await createRun({
      threadId: await newThread(),
      assistantId: "append",
      input: {},
      webhook: receiver.url("/slow"),
    });
    expect(await settled(run.id)).toMatchObject({ status: "DELIVERED", attempts: 2 });
    expect(receiver.received("/slow")).toHaveLength(2);
  });

  it("reports failed runs too, with their error", async () => {
    const run = await createRun({
      threadId: await newThread(),
      assistantId: "fails",
      input: {},
      webhook: receiver.url("/failed"),
    });
    await settled(run.id);
    expect(receiver.received("/failed")[0]!.json).toMatchObject({
      id: run.id,
      status: "ERROR",
      error: { type: "Error", message: "boom: the node failed on purpose" },
    });
  });

  it("a stateless run's webhook survives the run's deletion and carries its values", async () => {
    const run = await createRun({
      assistantId: "append",
      input: { items: ["gone"] },
      webhook: receiver.url("/stateless"),
    });
    await until(
      () => receiver.received("/stateless"),
      (r) => r.length === 1,
      "the webhook",
    );
    expect(receiver.received("/stateless")[0]!.json).toMatchObject({
      id: run.id,
      status: "SUCCESS",
      values: { items: ["gone"] },
    });
    expect((await server.query(RunDocument, { id: run.id })).run).toBeNull();
    const { rows } = await until(
      () =>
        sql.query("SELECT status::text FROM webhook_delivery WHERE run_id = $1::uuid", [run.id]),
      (r) => r.rows[0]?.status === "DELIVERED",
      "the delivery row",
    );
    expect(rows).toHaveLength(1);
  });

  it("a run given up by the lease reaper (its worker died) still gets its webhook", async () => {
    const threadId = await newThread();
    const run = await createRun({
      threadId,
      assistantId: "append",
      input: {},
      afterSeconds: 3600,
      webhook: receiver.url("/abandoned"),
    });
    // As if a worker had taken it for its last allowed attempt and died.
    await sql.query(
      `UPDATE run SET status = 'RUNNING', attempt = 3, lease_owner = 'dead-worker',
         lease_expires_at = now() - interval '1 minute', started_at = now()
       WHERE id = $1::uuid`,
      [run.id],
    );
    const delivery = await settled(run.id);
    expect(delivery.status).toBe("DELIVERED");
    expect(receiver.received("/abandoned")[0]!.json).toMatchObject({
      id: run.id,
      status: "ERROR",
      error: { type: "WorkerLost" },
    });
  });

  it("a pending run cancelled before it started gets its webhook too (INTERRUPTED)", async () => {
    const run = await createRun({
      threadId: await newThread(),
      assistantId: "append",
      input: {},
      afterSeconds: 3600,
      webhook: receiver.url("/cancelled"),
    });
    await server.query(CancelRunDocument, { id: run.id, action: "INTERRUPT" });
    expect((await settled(run.id)).status).toBe("DELIVERED");
    expect(receiver.received("/cancelled")[0]!.json).toMatchObject({
      id: run.id,
      status: "INTERRUPTED",
      startedAt: null,
    });
  });

  it("cron runs carry the cron's webhook", async () => {
    const { createCron } = await server.query(CreateCronDocument, {
      input: {
        assistantId: "append",
        threadId: await newThread(),
        schedule: "* * * * * *",
        input: { items: ["cron"] },
        webhook: receiver.url("/cron"),
      },
    });
    await until(
      () => receiver.received("/cron"),
      (r) => r.length >= 1,
      "a cron run's webhook",
    );
    await server.query(UpdateCronDocument, { id: createCron.id, input: { enabled: false } });
    const [request] = receiver.received("/cron");
    expect(request!.json).toMatchObject({ cronId: createCron.id, input: { items: ["cron"] } });
    expectSigned(request!);
    const delivery = await settled(request!.json.id);
    expect(delivery.status).toBe("DELIVERED");
  });

  it("refuses webhook URLs that are not plain http(s) at run creation", async () => {
    const threadId = await newThread();
    for (const webhook of ["ftp://example.com/x", "https://user:pw@example.com/x", "nope"]) {
      const error = errorOf(
        await server.request(CreateRunDocument, {
          input: { threadId, assistantId: "append", input: {}, webhook },
        }),
      );
      expect(error.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.webhook" });
    }
    const { runs } = await server.query(RunsDocument, { threadId });
    expect(runs.totalCount).toBe(0);
  });
});
