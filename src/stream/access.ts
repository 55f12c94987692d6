import { DomainError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { StreamEvent } from "./events.ts";
import type { EventStream } from "./follow.ts";

/**
 * The last item of a stream whose subscriber may no longer see it: the subscription's resolver
 * throws `error`, so the subscriber gets the coded error a fresh subscribe would (over graphql-ws
 * and SSE alike), and the stream ends.
 */
export interface AccessLost {
  kind: "ACCESS_LOST";
  error: DomainError;
}

export type StreamItem = StreamEvent | AccessLost;

export interface GuardedStream extends AsyncIterableIterator<StreamItem> {
  readonly over: EventStream["over"];
}

/** Open streams by thread, told when who may see the thread may have changed. */
export interface AccessWatch {
  watch(threadId: string, onChange: () => void): () => void;
  /** A thread's metadata changed, or the thread went: its streams check again. */
  changed(threadId: string): void;
}

export function createAccessWatch(): AccessWatch {
  const byThread = new Map<string, Set<() => void>>();
  return {
    watch(threadId, onChange) {
      const listeners = byThread.get(threadId) ?? new Set();
      byThread.set(threadId, listeners);
      listeners.add(onChange);
      return () => {
        listeners.delete(onChange);
        if (listeners.size === 0 && byThread.get(threadId) === listeners) byThread.delete(threadId);
      };
    },
    changed(threadId) {
      for (const onChange of byThread.get(threadId) ?? []) onChange();
    },
  };
}

/**
 * A stream authorised when it was opened, kept authorised for its life: `recheck` asks again (one
 * indexed read) when the stream's thread changes — at once, so a subscriber who lost access is
 * told even while nothing streams — and before a new run's first event is delivered. It throws
 * the DomainError a fresh subscribe would get once the caller may no longer see the stream; the
 * stream then delivers that as its last item. Nothing else is read: access changes only with
 * the thread's metadata (announced on THREAD_ACCESS_CHANNEL) or with a run.
 */
export function guardStream(
  stream: EventStream,
  options: {
    threadId: string;
    watch: AccessWatch;
    recheck: () => Promise<void>;
    /** A thread's stream: each new run's RUN_STARTED is checked (a run's stream has one run). */
    checkRunStarts: boolean;
    log: Logger;
  },
): GuardedStream {
  let lost: AccessLost | null = null;
  let reported = false;
  /** Ends the wait of a next() in progress when access is lost. */
  let wake: (() => void) | null = null;
  /** The check in flight; events wait for it. */
  let checking: Promise<void> | null = null;
  /** A change came while a check was in flight: that check goes round once more. */
  let again = false;
  /** The last check had no answer (the database is away): the next event checks first. */
  let unsure = false;

  function check(): Promise<void> {
    if (checking) again = true;
    else checking = run().finally(() => (checking = null));
    return checking;
  }

  async function run() {
    do {
      again = false;
      unsure = false;
      try {
        await options.recheck();
      } catch (error) {
        if (!(error instanceof DomainError)) {
          unsure = true;
          throw error;
        }
        lost = { kind: "ACCESS_LOST", error };
        wake?.();
        void stream.return?.();
        return;
      }
    } while (again);
  }

  const unwatch = options.watch.watch(options.threadId, () => {
    check().catch((error) =>
      options.log.warn("re-checking a stream's access failed", {
        threadId: options.threadId,
        error,
      }),
    );
  });
  void stream.over.then(unwatch);

  function lastItem(): IteratorResult<StreamItem> {
    if (reported || !lost) return { value: undefined, done: true };
    reported = true;
    return { value: lost, done: false };
  }

  const guarded: GuardedStream = {
    over: stream.over,
    async next() {
      if (lost) return lastItem();
      // Not Promise.race with a long-lived promise: that would keep one reaction per event.
      const step = await new Promise<IteratorResult<StreamEvent> | null>((resolve, reject) => {
        wake = () => resolve(null);
        stream.next().then(resolve, reject);
      });
      wake = null;
      if (step === null || lost) return lastItem();
      if (step.done) return step;
      if (checking) await checking.catch(() => undefined);
      if (!lost && (unsure || (options.checkRunStarts && step.value.kind === "RUN_STARTED")))
        await check();
      if (lost) return lastItem();
      return step;
    },
    async return() {
      unwatch();
      await stream.return?.();
      return { value: undefined, done: true };
    },
    async throw(error) {
      unwatch();
      await stream.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return guarded;
    },
  };
  return guarded;
}
