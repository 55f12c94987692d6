import { WRITES_IDX_MAP } from "@langchain/langgraph-checkpoint";

/**
 * Where a task's write is kept, as every LangGraph saver keeps it: special writes (errors,
 * interrupts, resumes...) at their fixed negative index, replacing the task's earlier one; regular
 * writes at their position, never replacing what a task already recorded (a retried task must
 * not change it).
 */
export function writeIndex(channel: string, position: number): number {
  // hasOwn: a channel named like an Object.prototype member is a regular channel.
  return Object.hasOwn(WRITES_IDX_MAP, channel)
    ? (WRITES_IDX_MAP as Record<string, number>)[channel]!
    : position;
}

/** Whether a write at `idx` replaces one already kept there. */
export const replacesKept = (idx: number): boolean => idx < 0;
