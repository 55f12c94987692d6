import type { ExecutionResult } from "graphql";
import { createSchema, createYoga, type Plugin } from "graphql-yoga";
import { afterEach, describe, expect, it } from "vitest";
import { shareable, useSharedEventResults } from "../src/schema/shared-events.ts";

/**
 * useSharedEventResults over a real yoga + executor: one event object handed to many
 * subscriptions, as the stream hub hands a live event to every follower.
 */

interface Tick {
  n: number;
}

/** Every subscription gets its own queue; emit() puts the same object in each. */
function createBroadcaster() {
  const queues = new Set<{ items: Tick[]; wake: (() => void) | null; ended: boolean }>();
  let failure: Error | null = null;
  return {
    returned: 0,
    follow(): AsyncIterableIterator<Tick> {
      const queue = { items: [] as Tick[], wake: null as (() => void) | null, ended: false };
      queues.add(queue);
      const self = this;
      return {
        [Symbol.asyncIterator]() {
          return this;
        },
        async next() {
          while (queue.items.length === 0 && !queue.ended && !failure) {
            await new Promise<void>((resolve) => {
              queue.wake = resolve;
            });
          }
          if (failure) throw failure;
          if (queue.items.length === 0) return { value: undefined, done: true };
          return { value: queue.items.shift()!, done: false };
        },
        async return() {
          self.returned += 1;
          queue.ended = true;
          queues.delete(queue);
          queue.wake?.();
          return { value: undefined, done: true };
        },
      };
    },
    emit(tick: Tick) {
      for (const queue of queues) {
        queue.items.push(tick);
        queue.wake?.();
      }
    },
    fail(error: Error) {
      failure = error;
      for (const queue of queues) queue.wake?.();
    },
  };
}

function createGate() {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

let executions = 0;
/** What the async field `slow` waits for. */
let gate = createGate();
let broadcaster = createBroadcaster();
afterEach(() => {
  executions = 0;
  gate = createGate();
  broadcaster = createBroadcaster();
});

const makeYoga = (plugins: Plugin[]) =>
  createYoga({
    schema: createSchema({
      typeDefs: /* GraphQL */ `
      type Query { ok: Boolean }
      type Tick { n: Int!, label(prefix: String!): String!, slow: Int! }
      type Subscription { ticks: Tick! }
    `,
      resolvers: {
        Subscription: {
          ticks: {
            subscribe: (_root: unknown, _args: unknown, ctx: object) =>
              shareable(ctx, broadcaster.follow()),
            resolve: (tick: Tick) => tick,
          },
        },
        Tick: {
          slow: async (tick: Tick) => {
            await gate.promise;
            return tick.n;
          },
          label: (tick: Tick, args: { prefix: string }) => {
            executions += 1;
            return `${args.prefix}${tick.n}`;
          },
        },
      },
    }),
    plugins,
  });
const yoga = makeYoga([useSharedEventResults()]);
/** The same server without sharing: what subscribers got before. */
const plainYoga = makeYoga([]);

const QUERY = "subscription ($prefix: String!) { ticks { n label(prefix: $prefix) } }";

async function subscribe(prefix: string, caller: unknown = null, server = yoga, query = QUERY) {
  const { parse, subscribe, contextFactory, schema } = server.getEnveloped({ caller });
  const result = await subscribe({
    schema,
    document: parse(query),
    variableValues: { prefix },
    contextValue: await contextFactory(),
  });
  if (!(Symbol.asyncIterator in Object(result))) {
    throw new Error(`no stream: ${JSON.stringify(result)}`);
  }
  return result as AsyncIterableIterator<ExecutionResult>;
}

/** The next result of every stream (started together, as a fan-out burst takes them). */
async function nextOfAll(streams: AsyncIterableIterator<ExecutionResult>[]) {
  const pending = streams.map((s) => s.next());
  return (await Promise.all(pending)).map((step) => step.value as ExecutionResult);
}

describe("useSharedEventResults", () => {
  it("executes an event once for subscribers with the same document, variables and caller", async () => {
    const streams = await Promise.all([subscribe("t"), subscribe("t"), subscribe("t")]);
    const pending = nextOfAll(streams);
    broadcaster.emit({ n: 1 });
    const results = await pending;
    expect(results.map((r) => r.data)).toEqual(Array(3).fill({ ticks: { n: 1, label: "t1" } }));
    expect(executions).toBe(1);
    for (const s of streams) await s.return?.();
  });

  it("executes separately for other variables and for another caller", async () => {
    const streams = await Promise.all([
      subscribe("a"),
      subscribe("a"),
      subscribe("b"),
      subscribe("a", { kind: "user", identity: "someone-else" }),
    ]);
    const pending = nextOfAll(streams);
    broadcaster.emit({ n: 7 });
    const labels = (await pending).map((r) => (r.data as { ticks: { label: string } }).ticks.label);
    expect(labels).toEqual(["a7", "a7", "b7", "a7"]);
    expect(executions).toBe(3);
    for (const s of streams) await s.return?.();
  });

  it("shares nothing between callers JSON would not write exactly (Map, BigInt, undefined)", async () => {
    // Two such callers may differ where their JSON shows nothing (a Map writes as {}).
    const users = [{ roles: new Map([["admin", true]]) }, { quota: 1n }, { team: undefined }];
    for (const user of users) {
      executions = 0;
      const caller = { kind: "user", identity: "u", user };
      const streams = await Promise.all([subscribe("q", caller), subscribe("q", caller)]);
      const pending = nextOfAll(streams);
      broadcaster.emit({ n: 3 });
      expect((await pending).map((r) => r.data)).toEqual(
        Array(2).fill({ ticks: { n: 3, label: "q3" } }),
      );
      expect(executions).toBe(2);
      for (const s of streams) await s.return?.();
    }
  });

  it("a subscriber whose shared execution was cut short by its owner leaving executes itself", async () => {
    const slowQuery = "subscription ($prefix: String!) { ticks { slow label(prefix: $prefix) } }";
    const [owner, other] = await Promise.all([
      subscribe("s", null, yoga, slowQuery),
      subscribe("s", null, yoga, slowQuery),
    ]);
    const ownerStep = owner!.next();
    const otherStep = other!.next();
    broadcaster.emit({ n: 5 });
    // The owner's execution waits in `slow`; the other waits for that execution's result.
    while (executions === 0) await new Promise((resolve) => setImmediate(resolve));
    // As graphql-ws does on `complete`: return() is not awaited (it settles once `slow` does).
    const leaving = owner!.return?.();
    gate.resolve();
    await leaving;
    expect((await ownerStep).done).toBe(true);
    expect((await otherStep).value).toEqual({ data: { ticks: { slow: 5, label: "s5" } } });
    await other!.return?.();
  });

  it("executes afresh for a subscriber that takes the event in a later turn", async () => {
    const [first, late] = await Promise.all([subscribe("x"), subscribe("x")]);
    const tick = { n: 2 };
    const pending = first!.next();
    broadcaster.emit(tick);
    await pending;
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const step = await late!.next();
    expect((step.value as ExecutionResult).data).toEqual({ ticks: { n: 2, label: "x2" } });
    expect(executions).toBe(2);
    await first!.return?.();
    await late!.return?.();
  });

  it("passes return() on to the event stream (the subscriber left)", async () => {
    const stream = await subscribe("r");
    await stream.return?.();
    expect(broadcaster.returned).toBe(1);
  });

  it("fails as the executor fails when the event stream itself fails", async () => {
    const outcomes: unknown[] = [];
    for (const server of [yoga, plainYoga]) {
      const stream = await subscribe("e", null, server);
      const pending = stream.next();
      broadcaster.fail(new Error("the log is gone"));
      outcomes.push(
        await pending.then(
          (step) => ({ step }),
          (e: { name: string; message: string }) => ({ error: [e.name, e.message] }),
        ),
      );
      broadcaster = createBroadcaster();
    }
    expect(outcomes[0]).toHaveProperty("error");
    expect(outcomes[0]).toEqual(outcomes[1]);
  });
});
