import type { Logger } from "./log.ts";

export interface Periodic {
  /** Stops the timer and waits for a task in flight. */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `everyMs` until stopped, never two at once (a slow run skips the ticks it
 * overlaps). A failure is logged and the next tick tries again. The timer does not keep the
 * process alive.
 */
export function every(
  everyMs: number,
  task: () => Promise<unknown>,
  log: Logger,
  what: string,
): Periodic {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = task()
      .then(
        () => undefined,
        (error) => log.warn(`${what} failed`, { error }),
      )
      .finally(() => {
        running = null;
      });
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
