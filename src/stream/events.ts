import type { StreamModeName } from "../runs/service.ts";

/**
 * What the event log holds. A mode event's kind is its StreamMode; lifecycle events (which every
 * stream carries whatever modes it asked for) have their own kinds. `payload` is stored as the
 * GraphQL event type's fields, so resolvers read it without translating.
 */
export const LIFECYCLE_KINDS = ["RUN_STARTED", "INTERRUPTED", "RUN_ERROR", "RUN_ENDED"] as const;
export type LifecycleKind = (typeof LIFECYCLE_KINDS)[number];
export type EventKind = StreamModeName | LifecycleKind;

const lifecycle = new Set<string>(LIFECYCLE_KINDS);
export const isLifecycle = (kind: string): kind is LifecycleKind => lifecycle.has(kind);

export interface StreamEvent {
  /** The event's position in the log (the global run_event id), for ordering and cursors. */
  seq: number;
  /** `seq` as the contract's String id. */
  id: string;
  runId: string;
  threadId: string;
  namespace: string[];
  kind: EventKind;
  payload: Record<string, unknown>;
}

/**
 * Consecutive events of one run as they are published (by the process executing it, or read back
 * from the log after a NOTIFY), linked to what came before them: a follower whose cursor is the
 * link can take them as they are; one whose cursor is behind has missed something and catches up
 * from the log first. Links make the in-memory path safe without trusting delivery order.
 */
export interface EventBatch {
  runId: string;
  threadId: string;
  events: StreamEvent[];
  /** Log position of the event before the first one, in the run's stream (0: none). */
  prevRun: number;
  /** Same, in the thread's stream. */
  prevThread: number;
}

/** The kind LangGraph's stream mode (or "events", streamEvents v2) is recorded as. */
export const KIND_OF_MODE: Record<string, StreamModeName> = {
  values: "VALUES",
  updates: "UPDATES",
  messages: "MESSAGES",
  custom: "CUSTOM",
  events: "EVENTS",
  debug: "DEBUG",
  checkpoints: "CHECKPOINTS",
  tasks: "TASKS",
  tools: "TOOLS",
};

export function toStreamEvent(row: {
  id: string | number;
  run_id: string;
  thread_id: string;
  kind: string;
  namespace: string[] | null;
  payload: unknown;
}): StreamEvent {
  const seq = Number(row.id);
  return {
    seq,
    id: String(row.id),
    runId: row.run_id,
    threadId: row.thread_id,
    namespace: row.namespace ?? [],
    kind: row.kind as EventKind,
    payload: (row.payload ?? {}) as Record<string, unknown>,
  };
}
