import type { RunnableConfig } from "@langchain/core/runnables";
import type {
  ChannelVersions,
  Checkpoint,
  CheckpointMetadata,
} from "@langchain/langgraph-checkpoint";
import type pg from "pg";
import { copyThreadCheckpoints, deleteThreadWritesSince } from "../db/sql/thread-checkpoints.ts";
import { type CheckpointSaverOptions, type CommitOptions, PrismaCheckpointSaver } from "./saver.ts";

/**
 * The saver the server gives graphs. Like LangGraph Platform's, it records in each checkpoint's
 * metadata the run's metadata (run_id, thread_id, assistant_id, graph_id and the user's) and
 * the run's configurable values, so history can be filtered by them and a retried run
 * recognises its own checkpoints.
 */
export class ServerCheckpointSaver extends PrismaCheckpointSaver {
  readonly #pool: pg.Pool;

  constructor(options: CheckpointSaverOptions) {
    super(options);
    this.#pool = options.pool;
  }

  override async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
    options: CommitOptions = {},
  ): Promise<RunnableConfig> {
    const withRun = { ...runMetadata(config), ...metadata };
    return super.put(config, checkpoint, withRun, newVersions, options);
  }

  copyThread(fromThreadId: string, toThreadId: string): Promise<void> {
    return copyThreadCheckpoints(this.#pool, fromThreadId, toThreadId);
  }

  /** Undoes what a run wrote (ROLLBACK): see deleteThreadWritesSince. */
  deleteWritesSince(threadId: string, since: Date): Promise<void> {
    return deleteThreadWritesSince(this.#pool, threadId, since);
  }
}

const INTERNAL_CONFIGURABLE = new Set([
  "checkpoint_id",
  "checkpoint_ns",
  "checkpoint_map",
  "thread_id",
  "run_id",
]);

function runMetadata(config: RunnableConfig): Record<string, unknown> {
  const fromConfigurable: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config.configurable ?? {})) {
    if (key.startsWith("__") || INTERNAL_CONFIGURABLE.has(key)) continue;
    if (value === null || ["string", "number", "boolean"].includes(typeof value)) {
      fromConfigurable[key] = value;
    }
  }
  return { ...fromConfigurable, ...(config.metadata ?? {}) };
}

export function createServerCheckpointer(options: CheckpointSaverOptions): ServerCheckpointSaver {
  return new ServerCheckpointSaver(options);
}
