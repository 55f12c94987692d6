import type { Logger } from "./log.ts";

/** What an error was part of (a run's id), for the log line if nobody handles it. */
const contexts = new WeakMap<object, Record<string, unknown>>();

/**
 * Remembers what `error` was part of, where the promise it rejects was made: if that rejection
 * goes unhandled, the log line says which run it hurt. Returns the error.
 */
export function withContext<E>(error: E, context: Record<string, unknown>): E {
  if (error !== null && typeof error === "object" && !contexts.has(error)) {
    contexts.set(error, context);
  }
  return error;
}

/**
 * Keeps the process going after a promise rejection nobody handled, logging it (with the run
 * it came from, when known). Node's default ends the process, and one rejected checkpoint write
 * a library had not yet awaited when the database went away (langchain-ai/langgraphjs#2838)
 * would take every run of the process with it; what failed is handled where it is awaited, or
 * the run it belongs to is retried. For the server's start-up path only: a library must not
 * change this for its host. Returns the uninstaller.
 */
export function keepGoingOnUnhandledRejections(log: Logger): () => void {
  const onRejection = (reason: unknown) => {
    const context =
      reason !== null && typeof reason === "object" ? contexts.get(reason) : undefined;
    log.error("unhandled promise rejection (the process carries on)", {
      ...context,
      error: reason,
    });
  };
  process.on("unhandledRejection", onRejection);
  return () => process.off("unhandledRejection", onRejection);
}
