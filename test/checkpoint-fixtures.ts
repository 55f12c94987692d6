import type { RunnableConfig } from "@langchain/core/runnables";
import type {
  BaseCheckpointSaver,
  Checkpoint,
  CheckpointMetadata,
  CheckpointTuple,
} from "@langchain/langgraph-checkpoint";
import { uuid6 } from "@langchain/langgraph-checkpoint";
import type pg from "pg";

export interface BlobRowInfo {
  channel: string;
  version: string;
  kind: "FULL" | "DELTA";
  base_version: string | null;
  root_version: string | null;
  depth: number;
  length: number | null;
  type: string;
  bytes: number;
}

export async function blobRows(
  pool: pg.Pool,
  threadId: string,
  channel: string,
  checkpointNs = "",
): Promise<BlobRowInfo[]> {
  const { rows } = await pool.query<BlobRowInfo>(
    `SELECT channel, version, kind, base_version, root_version, depth, length, type,
            coalesce(octet_length(blob), 0) AS bytes
     FROM checkpoint_blob
     WHERE thread_id = $1 AND checkpoint_ns = $2 AND channel = $3
     ORDER BY version::numeric`,
    [threadId, checkpointNs, channel],
  );
  return rows;
}

/**
 * Drives savers the way the Pregel loop does, without a graph: each step bumps the version of the
 * channels it updates (to the maximum version + 1, as LangGraph's default getNextVersion) and puts
 * a checkpoint whose newVersions name only those channels. Every saver given gets the very same
 * checkpoints, so their reads can be compared one to one.
 */
export class ThreadDriver {
  readonly versions: Record<string, number> = {};
  readonly values: Record<string, unknown> = {};
  readonly configs: RunnableConfig[] = [];
  private parents: (RunnableConfig | undefined)[];
  private step = -1;

  constructor(
    private readonly savers: BaseCheckpointSaver[],
    readonly threadId: string,
    readonly checkpointNs = "",
  ) {
    this.parents = savers.map(() => undefined);
  }

  /** A driver for other savers (other processes) that carries on from this one's last put. */
  continueWith(savers: BaseCheckpointSaver[]): ThreadDriver {
    const next = new ThreadDriver(savers, this.threadId, this.checkpointNs);
    Object.assign(next.versions, this.versions);
    Object.assign(next.values, this.values);
    next.step = this.step;
    next.parents = savers.map(() => this.configs.at(-1));
    return next;
  }

  /** `undefined` as a value: the channel gets a new version but no value (as an emptied channel). */
  async put(update: Record<string, unknown>): Promise<Checkpoint> {
    const newVersions: Record<string, number> = {};
    const max = Math.max(0, ...Object.values(this.versions));
    for (const [channel, value] of Object.entries(update)) {
      if (value === undefined) delete this.values[channel];
      else this.values[channel] = value;
      this.versions[channel] = max + 1;
      newVersions[channel] = max + 1;
    }
    this.step += 1;
    const checkpoint: Checkpoint = {
      v: 4,
      id: uuid6(this.step),
      ts: new Date().toISOString(),
      channel_values: { ...this.values },
      channel_versions: { ...this.versions },
      versions_seen: { agent: { ...this.versions } },
    };
    const metadata: CheckpointMetadata = { source: "loop", step: this.step, parents: {} };
    await Promise.all(
      this.savers.map(async (saver, i) => {
        const parent = this.parents[i];
        const config = {
          configurable: {
            thread_id: this.threadId,
            checkpoint_ns: this.checkpointNs,
            checkpoint_id: parent?.configurable?.checkpoint_id,
          },
        };
        this.parents[i] = await saver.put(config, checkpoint, metadata, { ...newVersions });
      }),
    );
    this.configs.push(this.parents[0]!);
    return checkpoint;
  }
}

/** The parts of a tuple two savers must agree on (configs may carry extra keys). */
export function comparable(tuple: CheckpointTuple | undefined) {
  if (tuple === undefined) return undefined;
  return {
    id: tuple.checkpoint.id,
    checkpoint: tuple.checkpoint,
    metadata: tuple.metadata,
    parent: tuple.parentConfig?.configurable?.checkpoint_id,
    pendingWrites: tuple.pendingWrites,
  };
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}
