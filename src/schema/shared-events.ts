import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";

/**
 * Fan-out without re-execution. A live event reaches every local subscriber of its run or thread
 * as one shared object, and the executor would run each subscriber's selection on it: with 1,000
 * subscribers of one thread, 1,000 identical executions per event. Subscribers that sent the
 * same document, operation and variables, as the same caller, get one execution's result.
 *
 * The executor still does every execution that happens (with the context it built once for the
 * subscription) and reports the stream's failures its own way: a subscription's resolver hands it
 * a relay instead of the event stream, and useSharedEventResults reads the stream itself, passing
 * an event through the relay only when no equal subscriber's result can be reused.
 *
 * The relay holds one event at a time, and each event fed to the executor must come back as
 * exactly one result. Both hold because the schema has no @defer/@stream (one result per event)
 * and both transports read a subscription one result at a time (graphql-ws with for-await, yoga's
 * SSE from a ReadableStream's serialised pull).
 *
 * Results are shared within one turn of the event loop only: the burst that hands one event to
 * every follower. A field that reads the present (RunStartedEvent.run shows the run "as it is
 * now") is then never older for a subscriber than the burst it arrived in; a subscriber that
 * takes the event later (it was behind, or it replays memory) executes afresh.
 */

type Step = IteratorResult<unknown>;
const DONE: Step = { value: undefined, done: true };

/** What the executor reads as the subscription's event stream. */
class Relay implements AsyncIterableIterator<unknown> {
  /** Set once useSharedEventResults reads the stream; until then the relay passes it through. */
  driven = false;
  private queued: Promise<Step> | null = null;

  constructor(readonly events: AsyncIterator<unknown>) {}

  [Symbol.asyncIterator]() {
    return this;
  }

  /** The executor's next event is this one (or this failure). */
  pass(step: Promise<Step>) {
    this.queued = step;
  }

  next(): Promise<Step> {
    if (!this.driven) return this.events.next();
    const step = this.queued ?? Promise.resolve(DONE);
    this.queued = null;
    return step;
  }

  private returned = false;

  /** Once: both the executor's stream and useSharedEventResults pass the subscriber's leaving on. */
  async return(): Promise<Step> {
    if (!this.returned) {
      this.returned = true;
      await this.events.return?.();
    }
    return DONE;
  }
}

/** Each subscription's relay, by the subscription's context. */
const relays = new WeakMap<object, Relay>();

/**
 * For subscription resolvers: the event stream to return, made shareable by
 * useSharedEventResults (without that plugin, the same events as `stream`).
 */
export function shareable<T>(
  context: object,
  stream: Promise<AsyncIterable<T>> | AsyncIterable<T>,
): Promise<AsyncIterable<T>> | AsyncIterable<T> {
  const relay = (resolved: AsyncIterable<T>) => {
    const wrapped = new Relay(resolved[Symbol.asyncIterator]());
    relays.set(context, wrapped);
    return wrapped as AsyncIterable<T>;
  };
  return stream instanceof Promise ? stream.then(relay) : relay(stream);
}

export function useSharedEventResults(): Plugin {
  const keys = createShareKeys();
  const reusable = createTurnCache();
  return {
    onSubscribe({ subscribeFn, setSubscribeFn }) {
      setSubscribeFn(async (args) => {
        const results = await subscribeFn(args);
        const context = args.contextValue as object;
        const relay = relays.get(context);
        relays.delete(context);
        if (!relay || !(Symbol.asyncIterator in Object(results))) return results;
        relay.driven = true;
        const key = keys(args.document, args.operationName, args.variableValues, context);
        return sharedResults(
          key === null ? () => undefined : (event) => reusable(event, key),
          relay,
          results as AsyncIterableIterator<ExecutionResult>,
        );
      });
    },
  };
}

interface Shared {
  result?: Promise<IteratorResult<unknown>>;
}

function sharedResults(
  slotOf: (event: unknown) => Shared | undefined,
  relay: Relay,
  executed: AsyncIterableIterator<ExecutionResult>,
): AsyncIterableIterator<unknown> {
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      const step = relay.events.next();
      let event: Step;
      try {
        event = await step;
      } catch {
        // The executor reports the stream's failure as it always does.
        relay.pass(step);
        return executed.next();
      }
      if (event.done) {
        // The executor never reads this end through the relay: it is told (its return() reaches
        // the stream's too, which is over and ignores it).
        void executed.return?.()?.catch(() => undefined);
        return DONE;
      }
      const shared = slotOf(event.value);
      if (shared?.result) {
        // A result to reuse unless its subscriber left (or failed) before its execution ended.
        const reused = await shared.result.catch(() => null);
        if (reused && !reused.done) return { value: reused.value, done: false };
      }
      relay.pass(step);
      const executing = executed.next();
      if (shared && !shared.result) {
        shared.result = executing;
        // Only equal subscribers read it; this one's failure reaches it through `executing`.
        shared.result.catch(() => undefined);
      }
      return executing;
    },
    async return() {
      await relay.return();
      await executed.return?.();
      return DONE;
    },
  };
}

/** Everything an event's result depends on besides the event, as a string; null: share with no one. */
function createShareKeys() {
  const documentIds = new WeakMap<object, number>();
  let nextDocumentId = 1;
  return (document: object, operationName: unknown, variables: unknown, context: object) => {
    let documentId = documentIds.get(document);
    if (documentId === undefined) {
      documentId = nextDocumentId++;
      documentIds.set(document, documentId);
    }
    const caller = (context as { caller?: unknown }).caller ?? null;
    try {
      return JSON.stringify(
        [documentId, operationName ?? null, variables ?? null, caller],
        exactJson,
      );
    } catch {
      // A value JSON would not write exactly (an auth module's user holding a Map, a class
      // instance, a BigInt, an undefined field): two such callers may differ where JSON shows
      // none, so they share with no one.
      return null;
    }
  };
}

/** JSON.stringify's replacer that refuses what JSON would write lossily. */
function exactJson(_key: string, value: unknown): unknown {
  if (value === undefined || typeof value === "function" || typeof value === "symbol") {
    throw new TypeError("not exact JSON");
  }
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new TypeError("not exact JSON");
  }
  return value;
}

/** The slot this turn of the event loop keeps for (event, key); emptied at the next turn. */
function createTurnCache() {
  let thisTurn = new Map<unknown, Map<string, Shared>>();
  let clearScheduled = false;
  return (event: unknown, key: string): Shared | undefined => {
    if (typeof event !== "object" || event === null) return undefined;
    let byKey = thisTurn.get(event);
    if (!byKey) {
      byKey = new Map();
      thisTurn.set(event, byKey);
      if (!clearScheduled) {
        clearScheduled = true;
        setImmediate(() => {
          thisTurn = new Map();
          clearScheduled = false;
        });
      }
    }
    let shared = byKey.get(key);
    if (!shared) {
      shared = {};
      byKey.set(key, shared);
    }
    return shared;
  };
}
