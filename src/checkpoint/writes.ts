import * as checkpointModule from "@langchain/langgraph-checkpoint";
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

/** A stored write's place in its checkpoint: LangGraph's `writesSortKey`. */
export interface WriteOrder {
  /** The `taskPath` LangGraph passed to putWrites; "" when it passed none. */
  taskPath: string;
  taskId: string;
  idx: number;
}

type SortKey = [string, string, number];
const langgraph = checkpointModule as unknown as {
  compareWritesSortKeys?: (a: SortKey, b: SortKey) => number;
};

/**
 * The order a checkpoint's writes are read back in: task path, then task id (strings by code
 * point), then index; the order LangGraph >= 1.7 applies a superstep's writes in, which rebuilding
 * a DeltaChannel from stored writes must repeat. LangGraph's own comparator where the installed
 * @langchain/langgraph-checkpoint has it (>= 1.2); older LangGraph passes no task path, so every
 * path is "" and this is (task id, index), the order those versions read writes in. The saver's
 * SQL sorts the same way (COLLATE "C": UTF-8 byte order is code-point order).
 */
export function compareWrites(a: WriteOrder, b: WriteOrder): number {
  if (langgraph.compareWritesSortKeys) {
    return langgraph.compareWritesSortKeys(
      [a.taskPath, a.taskId, a.idx],
      [b.taskPath, b.taskId, b.idx],
    );
  }
  return (
    compareCodePoints(a.taskPath, b.taskPath) ||
    compareCodePoints(a.taskId, b.taskId) ||
    Math.sign(a.idx - b.idx)
  );
}

function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}
