import {
  CreateAssistantDocument,
  CreateCronDocument,
  CreateRunDocument,
  CreateThreadDocument,
  CronDocument,
  DeleteCronDocument,
  GraphsDocument,
  RunDocument,
  RunEventsDocument,
  type RunInput,
  RunResultDocument,
  RunsDocument,
  ThreadDocument,
  ThreadStateDocument,
  UpdateAssistantDocument,
  UpdateCronDocument,
  UpdateThreadStateDocument,
  WaitRunDocument,
} from "./gql/graphql.ts";
import { errorOf } from "./helpers/graphql.ts";
import { until } from "./helpers/poll.ts";
import { fixturesConfig, startTestServer, type TestServer } from "./helpers/server.ts";
import { collect, ofType, streamClient } from "./stream-clients.ts";

/**
 * Deviations from LangGraph Platform found by scenarios ported from LangGraph's own server tests:
 * the platform's spelling of a run's config, the thread's status after a state edit, and the
 * config/context schemas of Annotation.Root graphs. Graphs: test/fixtures/graphs/config.ts.
 */

let server: TestServer;

beforeAll(async () => {
  // The scheduler wakes at each cron's next run; the short tick only bounds a lost wake-up.
  server = await startTestServer({
    configFile: fixturesConfig,
    env: { CRON_TICK_SECONDS: "0.5" },
  });
});

afterAll(async () => {
  await server?.stop();
});

const newThread = async () => (await server.query(CreateThreadDocument, {})).createThread.id;
const waitRun = async (input: RunInput) => (await server.query(WaitRunDocument, { input })).waitRun;
const threadOf = async (id: string) => (await server.query(ThreadDocument, { id })).thread!;
const stateOf = async (id: string) =>
  (await server.query(ThreadStateDocument, { id })).thread!.state;

/** Creates the run with createRun, then joins it: the same outcome waitRun gives. */
async function createThenJoin(input: RunInput) {
  const { createRun } = await server.query(CreateRunDocument, { input });
  return (await server.query(RunResultDocument, { id: createRun.id, wait: true })).runResult!;
}

const bothWays = [
  ["waitRun", waitRun],
  ["createRun", createThenJoin],
] as const;

/** `slow` with two steps: two supersteps after the input's. */
const twoSteps = { steps: 2, delayMs: 1 };

describe("the platform's run config", () => {
  it.each(bothWays)(
    "recursion_limit (and recursionLimit) ends a run needing more steps ERROR with GraphRecursionError (%s)",
    async (_name, run) => {
      for (const limit of [{ recursion_limit: 1 }, { recursionLimit: 1 }]) {
        const threadId = await newThread();
        const outcome = await run({
          threadId,
          assistantId: "slow",
          input: {},
          config: { ...limit, configurable: twoSteps },
        });
        expect(outcome.run.status).toBe("ERROR");
        expect(outcome.error).toMatchObject({
          type: "GraphRecursionError",
          message: expect.stringContaining("Recursion limit of 1 reached"),
        });
        // Stored as given: the platform's clients read back what they sent.
        expect(outcome.run.config).toEqual({ ...limit, configurable: twoSteps });
        expect((await threadOf(threadId)).status).toBe("ERROR");
      }
      const enough = await run({
        threadId: await newThread(),
        assistantId: "slow",
        input: {},
        config: { recursion_limit: 5, configurable: twoSteps },
      });
      expect(enough.run.status).toBe("SUCCESS");
      expect(enough.values).toMatchObject({ steps: [1, 2] });
    },
  );

  it.each(bothWays)(
    "tags, max_concurrency, recursion_limit, configurable and metadata reach the nodes (%s)",
    async (_name, run) => {
      const outcome = await run({
        assistantId: "inspect",
        input: {},
        config: {
          tags: ["nightly", "eu"],
          max_concurrency: 3,
          recursion_limit: 9,
          configurable: { model: "small" },
          metadata: { label: "from-config" },
        },
      });
      expect(outcome.run.status).toBe("SUCCESS");
      expect(outcome.values).toEqual({
        seen: {
          tags: ["nightly", "eu"],
          maxConcurrency: 3,
          recursionLimit: 9,
          model: "small",
          label: "from-config",
        },
      });
    },
  );

  it.each(bothWays)("max_concurrency bounds the tasks running at once (%s)", async (_name, run) => {
    const overlaps = async (config: object) => {
      const outcome = await run({ assistantId: "fanout", input: { width: 4 }, config });
      expect(outcome.run.status).toBe("SUCCESS");
      const seen = (outcome.values as { overlaps: number[] }).overlaps;
      expect(seen).toHaveLength(4);
      return Math.max(...seen);
    };
    expect(await overlaps({})).toBe(4);
    expect(await overlaps({ max_concurrency: 2 })).toBe(2);
    expect(await overlaps({ maxConcurrency: 2 })).toBe(2);
  });

  it.each(bothWays)("run_name names the run in its LangChain events (%s)", async (_name, run) => {
    const outcome = await run({
      assistantId: "inspect",
      input: {},
      streamMode: ["EVENTS"],
      config: { run_name: "nightly-inspection" },
    });
    expect(outcome.run.status).toBe("SUCCESS");
    const client = streamClient("ws", server);
    try {
      const events = await collect(client, RunEventsDocument, { runId: outcome.run.id });
      const [start] = ofType(events, "LangChainEvent");
      expect(start).toMatchObject({ event: "on_chain_start", lcName: "nightly-inspection" });
    } finally {
      await client.dispose();
    }
  });

  it("an assistant's config applies to its runs; a run's keys replace it, configurable merges", async () => {
    const { createAssistant } = await server.query(CreateAssistantDocument, {
      input: {
        graphId: "inspect",
        config: { tags: ["assistant"], recursionLimit: 7, configurable: { model: "large" } },
      },
    });
    const assistantId = createAssistant.id;
    const fromAssistant = await waitRun({ assistantId, input: {} });
    expect(fromAssistant.values).toMatchObject({
      seen: { tags: ["assistant"], recursionLimit: 7, model: "large" },
    });
    const overridden = await createThenJoin({
      assistantId,
      input: {},
      config: { tags: ["run"], recursion_limit: 8, configurable: { other: 1 } },
    });
    expect(overridden.values).toMatchObject({
      seen: { tags: ["run"], recursionLimit: 8, model: "large" },
    });

    const { createAssistant: strict } = await server.query(CreateAssistantDocument, {
      input: { graphId: "slow", config: { recursion_limit: 1, configurable: twoSteps } },
    });
    for (const run of [waitRun, createThenJoin]) {
      const outcome = await run({ threadId: await newThread(), assistantId: strict.id, input: {} });
      expect(outcome.error?.type).toBe("GraphRecursionError");
    }
    // A version without the limit lets the same graph finish.
    await server.query(UpdateAssistantDocument, {
      id: strict.id,
      input: { config: { configurable: twoSteps } },
    });
    const relaxed = await waitRun({
      threadId: await newThread(),
      assistantId: strict.id,
      input: {},
    });
    expect(relaxed.run.status).toBe("SUCCESS");
  });

  it("a cron's config reaches the runs it starts", async () => {
    const cronRun = async (input: { assistantId: string; config: object }) => {
      const threadId = await newThread();
      const { createCron } = await server.query(CreateCronDocument, {
        input: { ...input, threadId, input: {}, schedule: "* * * * * *" },
      });
      const ended = await until(
        async () => (await server.query(CronDocument, { id: createCron.id, first: 10 })).cron!,
        (cron) => cron.runs.nodes.some((r) => !["PENDING", "RUNNING"].includes(r.status)),
        "the cron's first run ends",
      );
      await server.query(DeleteCronDocument, { id: createCron.id });
      const runId = ended.runs.nodes.find((r) => !["PENDING", "RUNNING"].includes(r.status))!.id;
      return { run: (await server.query(RunDocument, { id: runId })).run!, threadId };
    };

    const failing = await cronRun({
      assistantId: "slow",
      config: { recursion_limit: 1, configurable: twoSteps },
    });
    expect(failing.run).toMatchObject({ status: "ERROR", error: { type: "GraphRecursionError" } });

    const tagged = await cronRun({
      assistantId: "inspect",
      config: { tags: ["cron"], max_concurrency: 2 },
    });
    expect(tagged.run.status).toBe("SUCCESS");
    expect((await threadOf(tagged.threadId)).values).toMatchObject({
      seen: { tags: ["cron"], maxConcurrency: 2 },
    });
  });

  it("refuses ill-typed RunnableConfig keys with BAD_USER_INPUT, creating nothing", async () => {
    const threadId = await newThread();
    const bad: Array<[object, string]> = [
      [{ recursion_limit: 0 }, "input.config.recursion_limit must be an integer of 1 or more"],
      [{ recursionLimit: "10" }, "input.config.recursionLimit must be an integer of 1 or more"],
      [{ max_concurrency: 1.5 }, "input.config.max_concurrency must be an integer of 1 or more"],
      [{ tags: "nightly" }, "input.config.tags must be a list of strings"],
      [{ run_name: 5 }, "input.config.run_name must be a string"],
      [{ configurable: [] }, "input.config.configurable must be a JSON object"],
      [{ recursion_limit: 3, recursionLimit: 4 }, "give recursion_limit or recursionLimit"],
    ];
    for (const [config, message] of bad) {
      const result = await server.request(CreateRunDocument, {
        input: { threadId, assistantId: "slow", config },
      });
      expect(errorOf(result).extensions).toMatchObject({
        code: "BAD_USER_INPUT",
        field: "input.config",
      });
      expect(errorOf(result).message).toContain(message);
    }
    expect((await threadOf(threadId)).status).toBe("IDLE");
    expect((await server.query(RunsDocument, { threadId })).runs.totalCount).toBe(0);

    const assistant = await server.request(CreateAssistantDocument, {
      input: { graphId: "slow", name: "never made", config: { max_concurrency: -1 } },
    });
    expect(errorOf(assistant).extensions).toMatchObject({ code: "BAD_USER_INPUT" });
    expect(errorOf(assistant).message).toContain("config.max_concurrency");
    const { createAssistant } = await server.query(CreateAssistantDocument, {
      input: { graphId: "slow" },
    });
    const update = await server.request(UpdateAssistantDocument, {
      id: createAssistant.id,
      input: { config: { tags: [1] } },
    });
    expect(errorOf(update).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.config",
    });

    const cron = await server.request(CreateCronDocument, {
      input: { assistantId: "slow", schedule: "0 0 1 1 *", config: { recursion_limit: -2 } },
    });
    expect(errorOf(cron).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.config",
    });
    const { createCron } = await server.query(CreateCronDocument, {
      input: { assistantId: "slow", schedule: "0 0 1 1 *" },
    });
    const cronUpdate = await server.request(UpdateCronDocument, {
      id: createCron.id,
      input: { config: { run_name: ["x"] } },
    });
    expect(errorOf(cronUpdate).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "input.config",
    });
    await server.query(DeleteCronDocument, { id: createCron.id });
  });
});

describe("thread status after a state edit", () => {
  it.each(bothWays)(
    "an edit at an interrupt() that leaves nodes to run keeps the thread INTERRUPTED (%s)",
    async (_name, run) => {
      const threadId = await newThread();
      const stopped = await run({ threadId, assistantId: "review", input: {} });
      expect(stopped.interrupts).toHaveLength(1);
      expect((await threadOf(threadId)).status).toBe("INTERRUPTED");

      // Rewrites the draft as `write`: `approve` (which asks again) is next.
      await server.query(UpdateThreadStateDocument, {
        input: { threadId, values: { text: "a better draft" }, asNode: "write" },
      });
      expect(await stateOf(threadId)).toMatchObject({ next: ["approve"], interrupts: [] });
      const edited = await threadOf(threadId);
      expect(edited.status).toBe("INTERRUPTED");
      expect(edited.values).toMatchObject({ text: "a better draft" });

      // Answers as `approve`: `publish` is still to run.
      await server.query(UpdateThreadStateDocument, {
        input: { threadId, values: { verdict: "yes" }, asNode: "approve" },
      });
      expect((await stateOf(threadId)).next).toEqual(["publish"]);
      expect((await threadOf(threadId)).status).toBe("INTERRUPTED");

      // Continuing runs what is left.
      const finished = await run({ threadId, assistantId: "review" });
      expect(finished.values).toMatchObject({ verdict: "yes", published: true });
      expect((await threadOf(threadId)).status).toBe("IDLE");
    },
  );

  it.each(bothWays)("an edit that finishes the graph leaves it IDLE (%s)", async (_name, run) => {
    const threadId = await newThread();
    await run({ threadId, assistantId: "review", input: {} });
    expect((await threadOf(threadId)).status).toBe("INTERRUPTED");
    await server.query(UpdateThreadStateDocument, {
      input: { threadId, values: { published: false }, asNode: "publish" },
    });
    expect(await stateOf(threadId)).toMatchObject({ next: [], interrupts: [] });
    expect((await threadOf(threadId)).status).toBe("IDLE");
  });

  it.each(bothWays)(
    "an edit at an interruptBefore breakpoint keeps the thread INTERRUPTED (%s)",
    async (_name, run) => {
      const threadId = await newThread();
      const stopped = await run({
        threadId,
        assistantId: "review",
        input: {},
        interruptBefore: ["approve"],
      });
      expect(stopped.run.status).toBe("SUCCESS");
      expect(stopped.interrupts).toEqual([]);
      expect((await threadOf(threadId)).status).toBe("INTERRUPTED");

      await server.query(UpdateThreadStateDocument, {
        input: { threadId, values: { text: "edited at the breakpoint" } },
      });
      expect(await stateOf(threadId)).toMatchObject({
        next: ["approve"],
        values: { text: "edited at the breakpoint" },
      });
      expect((await threadOf(threadId)).status).toBe("INTERRUPTED");
    },
  );
});

describe("schemas of Annotation.Root graphs", () => {
  it("reports configSchema and contextSchema from the context annotation, else an open object", async () => {
    const { graphs } = await server.query(GraphsDocument, {});
    const byId = Object.fromEntries(graphs.map((graph) => [graph.id, graph]));
    // new StateGraph(State, ConfigAnnotation)
    expect(byId.inspect!.configSchema).toEqual({
      type: "object",
      properties: { model: {}, temperature: {} },
    });
    // new StateGraph(State, { context: ContextAnnotation })
    expect(byId.contextual!.configSchema).toEqual({
      type: "object",
      properties: { persona: {} },
    });
    // new StateGraph(State): no context, keys unknown
    expect(byId.fanout!.configSchema).toEqual({ type: "object", properties: {} });
    for (const graph of graphs.filter((g) => ["inspect", "contextual", "fanout"].includes(g.id))) {
      expect(graph.contextSchema).toEqual(graph.configSchema);
      expect(graph.stateSchema).not.toBeNull();
    }
    // A graph with a zod context keeps its typed schema.
    expect(byId.agent!.configSchema).toMatchObject({
      type: "object",
      properties: { model: { type: "string" } },
    });
  });

  it("the context annotation's graph gets the run's context", async () => {
    const outcome = await waitRun({
      assistantId: "contextual",
      input: {},
      context: { persona: "a pirate" },
    });
    expect(outcome.values).toEqual({ reply: "as a pirate" });
  });
});
