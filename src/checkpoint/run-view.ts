import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type PendingWrite,
} from "@langchain/langgraph-checkpoint";
import type { RunLease } from "../db/sql/checkpoint.ts";
import { withContext } from "../unhandled.ts";
import type { CommitOptions, PrismaCheckpointSaver } from "./saver.ts";
import { compareWrites, replacesKept, type WriteOrder, writeIndex } from "./writes.ts";

/** A saver whose writes can be told not to wait for the WAL flush (see CommitOptions). */
type RunSaver = BaseCheckpointSaver & Pick<PrismaCheckpointSaver, "put" | "putWrites">;

interface Written {
  config: RunnableConfig;
  checkpoint: Checkpoint;
  metadata: CheckpointMetadata;
  parentConfig: RunnableConfig | undefined;
}

/** A checkpoint's writes by (task id, idx), kept as the saver keeps them. */
type Writes = Map<string, WriteOrder & { channel: string; value: unknown }>;

/**
 * One run's view of the server's saver: the same storage, and it remembers the newest root
 * checkpoint the run wrote, with that checkpoint's writes. While the run holds its thread nobody
 * else writes root checkpoints there, so the thread's latest checkpoint is that one and reading
 * the run's outcome needs no query and no decoding (on a long thread that decoding dominated the
 * end of every run). Anything else goes to the saver.
 */
export class RunCheckpointView extends BaseCheckpointSaver {
  #latest: Written | undefined;
  /**
   * Writes by checkpoint id, from the latest on: a checkpoint's writes may be acknowledged
   * before its put is (LangGraph does not wait for the put before writing).
   */
  #writes = new Map<string, Writes>();
  /** The thread holds no checkpoint but what this run writes (see the constructor). */
  #fresh: boolean;

  /** How this run's writes commit. */
  readonly #commit: CommitOptions;
  /** Writes accepted and not yet settled (waiting for their turn, or sent). */
  readonly #pending = new Set<Promise<unknown>>();
  /** Accepts no more writes (see close). */
  #closed = false;
  /** Carried by a failed write's error, for the log if LangGraph never handles it. */
  readonly #context: Record<string, unknown>;

  /**
   * `fresh`: the thread holds no checkpoint yet and the run has written nothing (a stateless
   * run's first attempt, or a run claimed with its creation on a thread without checkpoints), so
   * its first read needs no query. `waitForFlush: false`: the run's checkpoints and writes
   * commit without waiting for the WAL flush (LangGraph's "async" and "exit" durability: a
   * database crash may lose the newest ones, and the run resumes from an earlier one); the run's
   * end, a durable commit later in the same WAL, makes them all durable. `lease`: the run's
   * writes land only while its worker holds it (see RunLease); once another worker took it over
   * they fail with RunTakenOver.
   */
  constructor(
    private readonly saver: RunSaver,
    private readonly threadId: string,
    options: { fresh?: boolean; waitForFlush?: boolean; lease?: RunLease } = {},
  ) {
    super(saver.serde);
    this.#context = { runId: options.lease?.runId, threadId };
    this.#fresh = options.fresh ?? false;
    this.#commit = {
      ...(options.waitForFlush === false ? { synchronousCommit: false } : {}),
      ...(options.lease ? { lease: options.lease } : {}),
    };
  }

  override getNextVersion(current: number | undefined): number {
    return this.saver.getNextVersion(current);
  }

  override getDeltaChannelHistory(
    options: Parameters<BaseCheckpointSaver["getDeltaChannelHistory"]>[0],
  ) {
    return this.saver.getDeltaChannelHistory(options);
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const latest = this.#latest;
    const wanted = config.configurable?.checkpoint_id;
    if (this.#fresh && this.#isRoot(config)) return undefined;
    if (latest && this.#isRoot(config) && (!wanted || wanted === latest.checkpoint.id)) {
      return {
        config: latest.config,
        checkpoint: latest.checkpoint,
        metadata: latest.metadata,
        parentConfig: latest.parentConfig,
        pendingWrites: [...(this.#writes.get(latest.checkpoint.id)?.values() ?? [])]
          .sort(compareWrites)
          .map((w): CheckpointPendingWrite => [w.taskId, w.channel, w.value]),
      };
    }
    return this.saver.getTuple(config);
  }

  list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    return this.saver.list(config, options);
  }

  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    this.#fresh = false;
    const saved = await this.#write(() =>
      this.saver.put(config, checkpoint, metadata, newVersions, this.#commit),
    );
    // The newest by id, the order the saver reads "latest" in (not necessarily the last put).
    if (this.#isRoot(config) && !(this.#latest && this.#latest.checkpoint.id > checkpoint.id)) {
      const parentId = config.configurable?.checkpoint_id;
      this.#latest = {
        config: saved,
        checkpoint,
        metadata,
        parentConfig: parentId
          ? {
              configurable: {
                thread_id: this.threadId,
                checkpoint_ns: "",
                checkpoint_id: parentId,
              },
            }
          : undefined,
      };
      for (const id of this.#writes.keys()) if (id < checkpoint.id) this.#writes.delete(id);
    }
    return saved;
  }

  async putWrites(
    config: RunnableConfig,
    writes: PendingWrite[],
    taskId: string,
    taskPath?: string,
  ): Promise<void> {
    this.#fresh = false;
    await this.#write(() => this.saver.putWrites(config, writes, taskId, taskPath, this.#commit));
    const checkpointId: string | undefined = config.configurable?.checkpoint_id;
    if (!checkpointId || !this.#isRoot(config)) return;
    if (this.#latest && checkpointId < this.#latest.checkpoint.id) return;
    let kept = this.#writes.get(checkpointId);
    if (!kept) {
      kept = new Map();
      this.#writes.set(checkpointId, kept);
    }
    const into = kept;
    writes.forEach(([channel, value], position) => {
      const idx = writeIndex(channel, position);
      const key = `${taskId}\u0000${idx}`;
      if (replacesKept(idx) || !into.has(key)) {
        into.set(key, { taskPath: taskPath ?? "", taskId, idx, channel, value });
      }
    });
  }

  deleteThread(threadId: string): Promise<void> {
    if (threadId === this.threadId) {
      this.#fresh = false;
      this.#latest = undefined;
      this.#writes.clear();
    }
    return this.saver.deleteThread(threadId);
  }

  /**
   * Waits until every write accepted has settled (failed ones too) and a turn of the event loop
   * brought no new one (LangGraph sends a checkpoint once the one before it is written), then
   * accepts no more. An aborted graph's stream ends before LangGraph has written what it writes
   * on its way out; the run's end, rollback or hand-back comes after this, and nothing of the
   * run's lands after it.
   */
  async close(): Promise<void> {
    do {
      await Promise.allSettled([...this.#pending]);
      await new Promise((resolve) => setImmediate(resolve));
    } while (this.#pending.size > 0);
    this.#closed = true;
  }

  /**
   * Unless the run waits for each write (SYNC), a write is serialised and sent once the promise
   * callbacks already queued have run: LangGraph does not wait for it, and a graph streaming
   * from promise callbacks gets its next token out first (the pool would not send it before
   * then anyway: it hands out connections on the next tick). A SYNC write goes to the saver at
   * once.
   */
  #write<T>(send: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the run's checkpoints are closed"));
    const write =
      this.#commit.synchronousCommit === false
        ? new Promise<void>((resolve) => setImmediate(resolve)).then(send)
        : send();
    const pending: Promise<T> = write.then(
      (value) => {
        this.#pending.delete(pending);
        return value;
      },
      (error: unknown) => {
        this.#pending.delete(pending);
        throw withContext(error, this.#context);
      },
    );
    this.#pending.add(pending);
    return pending;
  }

  #isRoot(config: RunnableConfig): boolean {
    const configurable = config.configurable ?? {};
    return (
      String(configurable.thread_id) === this.threadId && (configurable.checkpoint_ns ?? "") === ""
    );
  }
}
