import pg from "pg";
import { type CronScheduler, createCronScheduler } from "../src/crons/scheduler.ts";
import { createLogger } from "../src/log.ts";
import { CreateCronDocument, CreateThreadDocument, UpdateCronDocument } from "./gql/graphql.ts";
import { type Cli, startWorker } from "./helpers/cli.ts";
import { fixturesConfig, startTestServer, type TestServer } from "./helpers/server.ts";
import { until } from "./helpers/webhook-receiver.ts";

/**
 * Exactly-once firing under contention: the server's scheduler, a `langgraph-gql worker`
 * process's scheduler, and two more schedulers in this process all tick on the same database,
 * far more often than the crons are due. Every slot must produce at most one run.
 */

let server: TestServer;
let worker: Cli;
let sql: pg.Client;
const extra: CronScheduler[] = [];

beforeAll(async () => {
  const env = { CRON_TICK_SECONDS: "0.05" };
  server = await startTestServer({ configFile: fixturesConfig, env });
  worker = await startWorker(server.db.url, { ...env, LOG_LEVEL: "debug" });
  for (let i = 0; i < 2; i++) {
    const scheduler = createCronScheduler({
      db: server.services.db,
      runs: server.services.runs,
      notifier: server.services.notifier,
      log: createLogger("silent"),
      options: { tickSeconds: 0.02 },
    });
    await scheduler.start();
    extra.push(scheduler);
  }
  sql = new pg.Client({ connectionString: server.db.url });
  await sql.connect();
}, 120_000);

afterAll(async () => {
  for (const scheduler of extra) await scheduler.stop();
  await sql?.end();
  if (worker) {
    worker.child.kill("SIGTERM");
    await worker.exited;
  }
  await server?.stop();
});

it("four schedulers in two processes start exactly one run per due slot", async () => {
  const crons: string[] = [];
  for (let i = 0; i < 3; i++) {
    const threadId = (await server.query(CreateThreadDocument, {})).createThread.id;
    const { createCron } = await server.query(CreateCronDocument, {
      input: { assistantId: "append", threadId, schedule: "* * * * * *", input: { items: [i] } },
    });
    crons.push(createCron.id);
  }
  const runsOf = async (cronId: string) =>
    (
      await sql.query<{ created_at: Date }>(
        "SELECT created_at FROM run WHERE cron_id = $1::uuid ORDER BY created_at",
        [cronId],
      )
    ).rows;
  for (const id of crons)
    await until(
      () => runsOf(id),
      (r) => r.length >= 8,
      "eight fires",
      2000,
    );
  for (const id of crons) await server.query(UpdateCronDocument, { id, input: { enabled: false } });

  let total = 0;
  for (const id of crons) {
    const runs = await runsOf(id);
    total += runs.length;
    // A per-second cron's slots are whole seconds and a fire never precedes its slot, nor
    // reaches the next one's second without consuming it: two runs in one second would be one
    // slot fired twice.
    const seconds = runs.map((r) => Math.floor(r.created_at.getTime() / 1000));
    expect(new Set(seconds).size).toBe(seconds.length);
  }
  // Contention was real: schedulers other than the server's own won slots too.
  const workerFires = (worker.output().match(/cron fired .*"runId":"[0-9a-f-]{36}"/g) ?? []).length;
  const extraFires = extra.reduce((n, s) => n + s.fired(), 0);
  expect(workerFires + extraFires).toBeGreaterThan(0);
  expect(workerFires + extraFires).toBeLessThanOrEqual(total);
  console.info(
    `exactly-once: ${total} runs, each in a second of its own; worker process fired ${workerFires}, extra in-process schedulers ${extraFires}, the server's own scheduler the rest`,
  );
}, 60_000);
