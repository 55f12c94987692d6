import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type DeltaChannelHistory,
  getCheckpointId,
  maxChannelVersion,
  type PendingWrite,
  type SerializerProtocol,
  TASKS,
} from "@langchain/langgraph-checkpoint";
import type pg from "pg";
import * as sql from "../db/sql/checkpoint.ts";
import { groupStatements, type StatementSender } from "../db/statement-group.ts";
import { WeightedLru } from "../lru.ts";
import {
  chainHash,
  concatFrames,
  EMPTY_LIST_HASH,
  encodeFrame,
  prefixHashes,
  serializeElements,
  splitFrames,
} from "./frames.ts";
import { type ListState, ListStateCache } from "./list-cache.ts";
import { FastSerializer } from "./serde.ts";
import { replacesKept, writeIndex } from "./writes.ts";

export interface CheckpointSaverOptions {
  /**
   * Open it on a URL with GENERIC_PLANS (src/db/session.ts), as the server does: otherwise
   * PostgreSQL plans each put's statement again at every execution, which costs more than
   * running it. And with `pipeline: true`, as the server does: then writes issued while others
   * are in flight leave together (see groupStatements), those waiting for the WAL flush in one
   * transaction, so concurrent threads share one flush; without it each goes alone.
   */
  pool: pg.Pool;
  serde?: SerializerProtocol;
  /**
   * Minimum number of DELTA links a list channel may accumulate before a FULL snapshot. Past
   * that, a chain may grow as long as its FULL row has elements, so snapshots double in size:
   * storage stays within a small constant of the data (a fixed interval N would store the list
   * T/N times, quadratic in turns) and a read fetches at most max(N, length) rows. Default 50.
   */
  snapshotEvery?: number;
  /** Budget, in list elements referenced, of the in-process list state hints. Default 100k. */
  cacheItems?: number;
  /**
   * Keep decoded list values (message lists), up to this many elements, and hand the same
   * elements (in a fresh array) to every later read of those versions: reading a cached version
   * costs no decoding, and a new version only decodes what it added to a cached one. Only for a
   * saver whose callers never change the elements they read (the thread service's state and
   * history reads); graphs may. A stored version never changes and its id carries a random part
   * (getNextVersion), so a cached value cannot go stale. Default 0: off.
   */
  sharedReadItems?: number;
  /**
   * false: put() and putWrites() commit with synchronous_commit = off, without waiting for the
   * WAL flush (the flush is most of a small put's latency). A PostgreSQL or OS crash, not a
   * crash of this process, can then lose the last few hundred ms of checkpoints, never corrupt
   * them; a run resumes from an earlier one. Default: the server's setting (normally on).
   */
  synchronousCommit?: boolean;
  /**
   * Where put() and putWrites() are sent, by whether they wait for the WAL flush. The server
   * passes its database's statement groups, so they leave together with its other statements.
   * Default: groups of the saver's own over `pool` (see groupStatements).
   */
  grouped?: { unflushed: StatementSender; durable: StatementSender };
}

/**
 * For one put() or putWrites(): `synchronousCommit` overrides the saver's setting (see
 * CheckpointSaverOptions) for that statement alone; with `lease`, the write lands only while the
 * run's worker still holds it, and is refused with RunTakenOver otherwise.
 */
export type CommitOptions = Pick<CheckpointSaverOptions, "synchronousCommit"> & {
  lease?: sql.RunLease;
};

/** A run's write refused: another worker took the run over (see RunLease). Nothing was written. */
export class RunTakenOver extends Error {
  override name = "RunTakenOver";
  constructor(lease: sql.RunLease) {
    super(`run ${lease.runId} is no longer held by ${lease.owner}: another worker took it over`);
  }
}

const DEFAULT_SNAPSHOT_EVERY = 50;
const DEFAULT_CACHE_ITEMS = 100_000;
/** Threads whose last checkpoint written here is remembered (a few hundred bytes each). */
const WRITTEN_THREADS = 10_000;

/** What a put writes for one channel. */
interface BlobPlan {
  channel: string;
  version: string;
  kind: "FULL" | "DELTA";
  type: string;
  payload: Buffer | null;
  length: number | null;
  hash: Buffer | null;
  base?: ListBase;
  /** Set for list values: what the cache learns once the row is committed. */
  list?: { value: readonly unknown[]; lastFrame: Buffer | undefined };
}

/** A stored list version a new value may extend. */
interface ListBase {
  version: string;
  length: number;
  hash: Buffer;
  depth: number;
  rootLength: number;
}

interface DecodedRow {
  /** List rows: the elements this row adds (all of them for FULL). */
  items?: unknown[];
  /** Other rows: the value, unless the row is EMPTY_TYPE. */
  value?: unknown;
  present: boolean;
}

interface LoadedValue {
  value: unknown;
  /** For list values: what a later put needs to store the next version as a delta. */
  list?: Omit<ListState, "items" | "version" | "lastFrame">;
}

type TupleRow = sql.CheckpointRow;

const keyOf = (threadId: string, ns: string, channel: string, version: string) =>
  `${threadId}\u0000${ns}\u0000${channel}\u0000${version}`;

/**
 * LangGraph checkpointer over the Prisma-modelled tables `checkpoint`, `checkpoint_blob` and
 * `checkpoint_write`, with raw SQL on the pg pool (src/db/sql/checkpoint.ts).
 *
 * - put() is one statement, hence one round trip and one commit; puts issued while others are in
 *   flight share both (see CheckpointSaverOptions.pool).
 * - Channel values are stored per version, as PostgresSaver does, except that a list which
 *   extends the previous stored version of its channel (the `messages` channel appending) is
 *   stored as a DELTA holding only the new elements; see frames.ts for the format and hash.
 * - Reads fetch a page of checkpoints and then every blob row it needs in one query; rows shared
 *   by several checkpoints of the page are decoded once, and the decoded elements are shared by
 *   the returned values (they are the same messages; copy before mutating them in place).
 */
export class PrismaCheckpointSaver extends BaseCheckpointSaver {
  private readonly pool: pg.Pool;
  private readonly snapshotEvery: number;
  private readonly lists: ListStateCache;
  private readonly shared: WeightedLru<LoadedValue> | null;
  private readonly synchronousCommit: boolean | undefined;
  /** Writes that do not wait for the WAL flush leave together under load (see groupStatements). */
  private readonly unflushedWrites: StatementSender;
  /** Writes that wait for it leave together too, in one transaction: one flush for them all. */
  private readonly flushedWrites: StatementSender;
  /**
   * Per thread and namespace, the last checkpoint this saver wrote and the channels it versions:
   * a list channel its child brings in for the first time has no base to look up.
   */
  private readonly lastWritten = new WeightedLru<{ id: string; channels: ReadonlySet<string> }>(
    WRITTEN_THREADS,
    () => 1,
  );

  constructor(options: CheckpointSaverOptions) {
    super(options.serde);
    // Only LangGraph's own serializer may be read and written faster: a custom one decides for
    // itself.
    if (!options.serde) this.serde = new FastSerializer(this.serde);
    this.pool = options.pool;
    this.unflushedWrites = options.grouped?.unflushed ?? groupStatements(this.pool);
    this.flushedWrites =
      options.grouped?.durable ?? groupStatements(this.pool, { inOneTransaction: true });
    this.synchronousCommit = options.synchronousCommit;
    this.snapshotEvery = options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    if (!Number.isInteger(this.snapshotEvery) || this.snapshotEvery < 1) {
      throw new Error(`snapshotEvery must be a positive integer, got ${this.snapshotEvery}`);
    }
    this.lists = new ListStateCache(options.cacheItems ?? DEFAULT_CACHE_ITEMS);
    const sharedItems = options.sharedReadItems ?? 0;
    this.shared =
      sharedItems > 0
        ? new WeightedLru(sharedItems, (loaded) => (loaded.list?.length ?? 0) + 1)
        : null;
  }

  /**
   * Versions unique across branches: a fork (a run or state edit from a past checkpoint) gives
   * a channel the same next number as the branch it left, and blobs are keyed by version, so
   * a bare counter would make the fork read the other branch's value. The counter keeps
   * versions ordered; the random part keeps branches apart (as PostgresSaver does).
   */
  override getNextVersion(current: number | undefined): number {
    const text = current as number | string | undefined;
    const counter =
      text === undefined
        ? 0
        : typeof text === "number"
          ? text
          : Number.parseInt(text.split(".")[0]!, 10);
    const random = Math.random().toString().slice(2, 18).padEnd(16, "0");
    // The saver stores versions as text; LangGraph only compares and passes them back.
    return `${String(counter + 1).padStart(32, "0")}.${random}` as unknown as number;
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined || threadId === null) return undefined;
    const checkpointNs: string = config.configurable?.checkpoint_ns ?? "";
    const checkpointId = getCheckpointId(config) || undefined;
    const { rows } = await this.pool.query<TupleRow>(
      sql.selectCheckpoint(String(threadId), checkpointNs, checkpointId),
    );
    if (rows.length === 0) return undefined;
    const [tuple] = await this.buildTuples(rows, true);
    return tuple;
  }

  async *list(
    config: RunnableConfig,
    options?: CheckpointListOptions,
  ): AsyncGenerator<CheckpointTuple> {
    const { filter, before, limit } = options ?? {};
    const configurable = config.configurable ?? {};
    const statement = sql.listCheckpoints({
      threadId: configurable.thread_id ? String(configurable.thread_id) : undefined,
      checkpointNs: configurable.checkpoint_ns ?? undefined,
      checkpointId: configurable.checkpoint_id || undefined,
      metadata: filter,
      before: before?.configurable?.checkpoint_id,
      limit: limit === undefined ? undefined : Math.max(0, Math.trunc(Number(limit))),
    });
    const { rows } = await this.pool.query<TupleRow>(statement);
    if (rows.length === 0) return;
    yield* await this.buildTuples(rows, false);
  }

  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
    options: CommitOptions = {},
  ): Promise<RunnableConfig> {
    const configurable = config.configurable;
    if (configurable === undefined)
      throw new Error(`Missing "configurable" field in "config" param`);
    const rawThreadId = configurable.thread_id;
    if (rawThreadId === undefined || rawThreadId === null || rawThreadId === "") {
      throw new Error(`Missing "thread_id" field in "config.configurable" param`);
    }
    const threadId = String(rawThreadId);
    const checkpointNs: string = configurable.checkpoint_ns ?? "";
    const parentId: string | null = configurable.checkpoint_id || null;

    const { channel_values, ...rest } = checkpoint;
    const values = channel_values ?? {};
    const [plans, metadataText] = await Promise.all([
      this.planBlobs(threadId, checkpointNs, parentId, values, newVersions),
      this.dumpMetadata(metadata),
    ]);
    const base = {
      threadId,
      checkpointNs,
      checkpointId: checkpoint.id,
      parentCheckpointId: parentId,
      checkpoint: JSON.stringify(rest),
      metadata: metadataText,
      synchronousCommit: this.commitMode(options),
      lease: options.lease ?? null,
    };
    let result: sql.PutCheckpointResult;
    try {
      result = await this.runPut(base, plans);
    } catch (error) {
      if (!sql.isRejectedDelta(error)) throw error;
      // A base row is gone or differs from what this process believed (another writer, a deleted
      // and recreated thread): nothing was written, so write the values whole. What this process
      // believed is forgotten first, in case that write fails too.
      for (const plan of plans) {
        this.lists.delete(ListStateCache.key(threadId, checkpointNs, plan.channel));
      }
      const full = await Promise.all(plans.map((plan) => this.toFull(plan)));
      result = await this.runPut(base, full);
      plans.splice(0, plans.length, ...full);
    }
    if (options.lease && result.held === false) throw new RunTakenOver(options.lease);

    this.lastWritten.set(ListStateCache.key(threadId, checkpointNs, ""), {
      id: checkpoint.id,
      channels: new Set(Object.keys(checkpoint.channel_versions)),
    });
    const inserted = new Map<string, number>();
    result.inserted_channels.forEach((channel, i) => {
      inserted.set(channel, result.inserted_depths[i] ?? 0);
    });
    for (const plan of plans) {
      const key = ListStateCache.key(threadId, checkpointNs, plan.channel);
      const depth = inserted.get(plan.channel);
      if (
        plan.list === undefined ||
        plan.hash === null ||
        plan.length === null ||
        depth === undefined
      ) {
        // Not a list, or a row that already existed: whatever this process thought is unproven.
        this.lists.delete(key);
        continue;
      }
      this.lists.set(key, {
        version: plan.version,
        length: plan.length,
        hash: plan.hash,
        depth,
        rootLength: plan.kind === "FULL" ? plan.length : (plan.base?.rootLength ?? plan.length),
        items: plan.list.value.slice(),
        lastFrame: plan.list.lastFrame,
      });
    }

    return {
      configurable: {
        thread_id: rawThreadId,
        checkpoint_ns: checkpointNs,
        checkpoint_id: checkpoint.id,
      },
    };
  }

  /**
   * `taskPath`: where the task sits in its superstep, which LangGraph >= 1.7 passes (older
   * versions pass none: ""); reads return a checkpoint's writes ordered by it (see compareWrites).
   */
  async putWrites(
    config: RunnableConfig,
    writes: PendingWrite[],
    taskId: string,
    taskPath?: string,
    options: CommitOptions = {},
  ): Promise<void> {
    const threadId = config.configurable?.thread_id;
    const checkpointId = config.configurable?.checkpoint_id;
    if (threadId === undefined || threadId === null || threadId === "") {
      throw new Error(`Missing "thread_id" field in "config.configurable" param`);
    }
    if (checkpointId === undefined || checkpointId === null || checkpointId === "") {
      throw new Error(`Missing "checkpoint_id" field in "config.configurable" param`);
    }
    if (writes.length === 0) return;
    const checkpointNs: string = config.configurable?.checkpoint_ns ?? "";
    const dumped = await Promise.all(
      writes.map(async ([channel, value], position) => {
        const [type, data] = await this.serde.dumpsTyped(value);
        return { idx: writeIndex(channel, position), channel, type, data };
      }),
    );
    // One INSERT cannot touch a key twice: the last special write of a kind wins (it would
    // overwrite the earlier one), the first regular write of an index stays.
    const byIdx = new Map<number, (typeof dumped)[number]>();
    for (const write of dumped) {
      if (replacesKept(write.idx) || !byIdx.has(write.idx)) byIdx.set(write.idx, write);
    }
    const rows: sql.WriteInput[] = [];
    const payloads: Uint8Array[] = [];
    let offset = 0;
    for (const write of byIdx.values()) {
      rows.push({
        idx: write.idx,
        channel: write.channel,
        type: write.type,
        offset,
        size: write.data.byteLength,
      });
      payloads.push(write.data);
      offset += write.data.byteLength;
    }
    const commitMode = this.commitMode(options);
    const { rows: written } = await this.writer(commitMode).query<{ held?: boolean }>(
      sql.putWrites(
        String(threadId),
        checkpointNs,
        String(checkpointId),
        taskId,
        taskPath ?? "",
        rows,
        Buffer.concat(payloads),
        commitMode,
        options.lease ?? null,
      ),
    );
    if (options.lease && written[0]?.held === false) throw new RunTakenOver(options.lease);
  }

  /** With `db`, inside the caller's transaction (a run's end deletes its temporary thread). */
  async deleteThread(
    threadId: string,
    db: Pick<pg.ClientBase, "query"> = this.pool,
  ): Promise<void> {
    await db.query(sql.deleteThread(String(threadId)));
    this.lists.deleteThread(String(threadId));
    this.lastWritten.deleteThread(String(threadId));
    this.shared?.deleteThread(String(threadId));
  }

  /**
   * The ancestor walk of BaseCheckpointSaver.getDeltaChannelHistory (same result, same order:
   * ancestors oldest first, writes of one checkpoint as getTuple orders them, see
   * compareWrites), done by one recursive query
   * for the walk and writes plus one query for the seed values, instead of a getTuple per
   * ancestor that would decode every channel of every ancestor.
   */
  override async getDeltaChannelHistory(options: {
    config: RunnableConfig;
    channels: string[];
  }): Promise<Record<string, DeltaChannelHistory>> {
    const { config, channels } = options;
    if (channels.length === 0) return {};
    const result: Record<string, DeltaChannelHistory> = {};
    for (const channel of channels) result[channel] = { writes: [] };
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined || threadId === null) return result;
    const checkpointNs: string = config.configurable?.checkpoint_ns ?? "";
    const { rows } = await this.pool.query<sql.DeltaHistoryRow>(
      sql.selectDeltaHistory(String(threadId), checkpointNs, getCheckpointId(config) || undefined, [
        ...new Set(channels),
      ]),
    );
    const seedKeys: sql.BlobKey[] = [];
    for (const row of rows) {
      row.seed_channels.forEach((channel, i) => {
        seedKeys.push({
          threadId: String(threadId),
          checkpointNs,
          channel,
          version: row.seed_versions[i]!,
        });
      });
    }
    const [seeds, writesPerRow] = await Promise.all([
      this.loadValues(seedKeys),
      Promise.all(rows.map((row) => this.decodeWrites(row))),
    ]);
    // rows come nearest ancestor first; the result wants the oldest first.
    for (let i = rows.length - 1; i >= 0; i -= 1) {
      const writes = writesPerRow[i]!;
      const byChannel = new Map<string, CheckpointPendingWrite[]>();
      for (const write of writes) {
        const list = byChannel.get(write[1]);
        if (list === undefined) byChannel.set(write[1], [write]);
        else list.push(write);
      }
      for (const [channel, block] of byChannel) {
        const target = result[channel]?.writes;
        if (target !== undefined) for (const write of block) target.push(write);
      }
    }
    for (const key of seedKeys) {
      const loaded = seeds.get(keyOf(key.threadId, key.checkpointNs, key.channel, key.version));
      const entry = result[key.channel];
      if (loaded !== undefined && entry !== undefined) {
        // A shared list is every reader's: the channel gets its own array.
        entry.seed =
          this.shared && Array.isArray(loaded.value) ? loaded.value.slice() : loaded.value;
      }
    }
    return result;
  }

  // ---------------------------------------------------------------------------------------------
  // put

  private async planBlobs(
    threadId: string,
    checkpointNs: string,
    parentId: string | null,
    values: Record<string, unknown>,
    newVersions: ChannelVersions,
  ): Promise<BlobPlan[]> {
    const plans: BlobPlan[] = [];
    const slow: { channel: string; version: string; value: unknown[]; state?: ListState }[] = [];
    await Promise.all(
      Object.entries(newVersions).map(async ([channel, rawVersion]) => {
        const version = String(rawVersion);
        if (!Object.hasOwn(values, channel)) {
          plans.push(emptyPlan(channel, version));
          return;
        }
        const value = values[channel];
        if (!Array.isArray(value)) {
          const [type, data] = await this.serde.dumpsTyped(value);
          plans.push({
            channel,
            version,
            kind: "FULL",
            type,
            payload: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
            length: null,
            hash: null,
          });
          return;
        }
        const state = this.lists.get(ListStateCache.key(threadId, checkpointNs, channel));
        const fast = state && (await this.planFromState(channel, version, value, state));
        if (fast) plans.push(fast);
        else slow.push({ channel, version, value, state });
      }),
    );
    if (slow.length === 0) return plans;

    const dbBases = new Map<string, ListBase>();
    const parent = this.lastWritten.get(ListStateCache.key(threadId, checkpointNs, ""));
    const unknown = slow
      .filter((s) => s.state === undefined)
      .map((s) => s.channel)
      .filter((channel) => parent?.id !== parentId || parent.channels.has(channel));
    if (unknown.length > 0 && parentId !== null) {
      const { rows } = await this.pool.query<sql.ListBaseRow>(
        sql.selectListBases(threadId, checkpointNs, parentId, unknown),
      );
      for (const row of rows) {
        dbBases.set(row.channel, {
          version: row.version,
          length: row.length,
          hash: row.hash,
          depth: row.depth,
          rootLength: row.root_length,
        });
      }
    }
    await Promise.all(
      slow.map(async ({ channel, version, value, state }) => {
        const frames = await serializeElements(this.serde, value);
        const hashes = prefixHashes(frames);
        const base = state ?? dbBases.get(channel);
        const extendsBase =
          base !== undefined &&
          base.version !== version &&
          base.length <= value.length &&
          this.chainHasRoom(base) &&
          hashes[base.length]!.equals(base.hash);
        const lastFrame = frames.at(-1);
        plans.push(
          extendsBase
            ? {
                channel,
                version,
                kind: "DELTA",
                type: sql.LIST_TYPE,
                payload: concatFrames(frames.slice(base.length)),
                length: value.length,
                hash: hashes[value.length]!,
                base,
                list: { value, lastFrame },
              }
            : {
                channel,
                version,
                kind: "FULL",
                type: sql.LIST_TYPE,
                payload: concatFrames(frames),
                length: value.length,
                hash: hashes[value.length]!,
                list: { value, lastFrame },
              },
        );
      }),
    );
    return plans;
  }

  /**
   * The cheap path: the new list starts with exactly the element objects this process last
   * stored or read for the channel, so only the tail is serialised. The last known element is
   * serialised again and compared, to catch the one in-place edit that happens in practice (a
   * node appending to the latest message); LangGraph's reducers never modify stored elements.
   */
  private async planFromState(
    channel: string,
    version: string,
    value: unknown[],
    state: ListState,
  ): Promise<BlobPlan | undefined> {
    if (state.version === version || value.length < state.length || !this.chainHasRoom(state)) {
      return undefined;
    }
    for (let i = 0; i < state.length; i += 1) if (value[i] !== state.items[i]) return undefined;
    if (state.length > 0 && state.lastFrame !== undefined) {
      const [type, data] = await this.serde.dumpsTyped(value[state.length - 1]);
      if (!encodeFrame(type, data).equals(state.lastFrame)) return undefined;
    }
    const tail = await serializeElements(this.serde, value.slice(state.length));
    return {
      channel,
      version,
      kind: "DELTA",
      type: sql.LIST_TYPE,
      payload: concatFrames(tail),
      length: value.length,
      hash: chainHash(state.hash, tail),
      base: state,
      list: { value, lastFrame: tail.at(-1) ?? state.lastFrame },
    };
  }

  /** Whether one more DELTA may go on top of `base` (see CheckpointSaverOptions.snapshotEvery). */
  private chainHasRoom(base: ListBase): boolean {
    return base.depth + 1 <= Math.max(this.snapshotEvery, base.rootLength);
  }

  private async toFull(plan: BlobPlan): Promise<BlobPlan> {
    if (plan.kind === "FULL" || plan.list === undefined) return plan;
    const frames = await serializeElements(this.serde, plan.list.value);
    const hashes = prefixHashes(frames);
    return {
      channel: plan.channel,
      version: plan.version,
      kind: "FULL",
      type: sql.LIST_TYPE,
      payload: concatFrames(frames),
      length: plan.list.value.length,
      hash: hashes[plan.list.value.length]!,
      list: { value: plan.list.value, lastFrame: frames.at(-1) },
    };
  }

  private commitMode(options: CommitOptions): "on" | "off" | null {
    const synchronous = options.synchronousCommit ?? this.synchronousCommit;
    return synchronous === undefined ? null : synchronous ? "on" : "off";
  }

  private writer(commitMode: "on" | "off" | null): StatementSender {
    return commitMode === "off" ? this.unflushedWrites : this.flushedWrites;
  }

  private async runPut(
    base: Omit<sql.PutCheckpointInput, "blobs" | "packed">,
    plans: BlobPlan[],
  ): Promise<sql.PutCheckpointResult> {
    const blobs: sql.BlobInput[] = [];
    const payloads: Buffer[] = [];
    let offset = 0;
    for (const plan of plans) {
      const size = plan.payload?.length ?? null;
      blobs.push({
        channel: plan.channel,
        version: plan.version,
        kind: plan.kind,
        baseVersion: plan.base?.version ?? null,
        length: plan.length,
        type: plan.type,
        offset: plan.payload === null ? null : offset,
        size,
        hash: plan.hash?.toString("hex") ?? null,
        baseHash: plan.base?.hash.toString("hex") ?? null,
      });
      if (plan.payload !== null) {
        payloads.push(plan.payload);
        offset += plan.payload.length;
      }
    }
    const { rows } = await this.writer(base.synchronousCommit).query<sql.PutCheckpointResult>(
      sql.putCheckpoint({
        ...base,
        blobs,
        packed: Buffer.concat(payloads),
      }),
    );
    return rows[0]!;
  }

  /**
   * The frame the last element serialises to now. A revived element need not serialise to the
   * bytes it was read from (constructors fill in defaults), and the in-place-edit check compares
   * against this, so it is taken from the revived object.
   */
  private async frameOf(items: readonly unknown[]): Promise<Buffer | undefined> {
    if (items.length === 0) return undefined;
    const [type, data] = await this.serde.dumpsTyped(items[items.length - 1]);
    return encodeFrame(type, data);
  }

  private async dumpMetadata(metadata: CheckpointMetadata): Promise<string> {
    const [type, data] = await this.serde.dumpsTyped(metadata);
    // Metadata lives in jsonb (list() filters on it), so it must be JSON whatever the serde.
    return type === "json" ? Buffer.from(data).toString("utf8") : JSON.stringify(metadata);
  }

  // ---------------------------------------------------------------------------------------------
  // reads

  private async buildTuples(rows: TupleRow[], remember: boolean): Promise<CheckpointTuple[]> {
    const keys: sql.BlobKey[] = [];
    for (const row of rows) {
      for (const [channel, version] of Object.entries(row.checkpoint.channel_versions ?? {})) {
        keys.push({
          threadId: row.thread_id,
          checkpointNs: row.checkpoint_ns,
          channel,
          version: String(version),
        });
      }
    }
    const [values, sends] = await Promise.all([this.loadValues(keys), this.loadPendingSends(rows)]);

    return Promise.all(
      rows.map(async (row) => {
        const channelVersions = { ...(row.checkpoint.channel_versions ?? {}) };
        const channelValues: Record<string, unknown> = {};
        for (const [channel, version] of Object.entries(channelVersions)) {
          const loaded = values.get(
            keyOf(row.thread_id, row.checkpoint_ns, channel, String(version)),
          );
          if (loaded === undefined) continue;
          channelValues[channel] = Array.isArray(loaded.value)
            ? loaded.value.slice()
            : loaded.value;
          // A sharing reader never writes: it has no use for the hints a put builds on.
          if (remember && this.shared === null && loaded.list !== undefined) {
            const items = (loaded.value as unknown[]).slice();
            this.lists.set(ListStateCache.key(row.thread_id, row.checkpoint_ns, channel), {
              ...loaded.list,
              version: String(version),
              items,
              lastFrame: await this.frameOf(items),
            });
          }
        }
        const pendingSends =
          row.parent_checkpoint_id === null
            ? undefined
            : sends.get(keyOf(row.thread_id, row.checkpoint_ns, row.parent_checkpoint_id, ""));
        if (row.checkpoint.v < 4 && pendingSends !== undefined) {
          channelValues[TASKS] = pendingSends;
          const versions = Object.values(channelVersions);
          channelVersions[TASKS] =
            versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
        }
        const checkpoint = {
          ...row.checkpoint,
          channel_versions: channelVersions,
          versions_seen: (row.checkpoint.versions_seen ?? {}) as Checkpoint["versions_seen"],
          channel_values: channelValues,
        } as Checkpoint;
        const [metadata, pendingWrites] = await Promise.all([
          this.serde.loadsTyped("json", row.metadata) as Promise<CheckpointMetadata>,
          this.decodeWrites(row),
        ]);
        const ids = { thread_id: row.thread_id, checkpoint_ns: row.checkpoint_ns };
        const tuple: CheckpointTuple = {
          config: { configurable: { ...ids, checkpoint_id: row.checkpoint_id } },
          checkpoint,
          metadata,
          pendingWrites,
        };
        if (row.parent_checkpoint_id !== null) {
          tuple.parentConfig = {
            configurable: { ...ids, checkpoint_id: row.parent_checkpoint_id },
          };
        }
        return tuple;
      }),
    );
  }

  private async decodeWrites(row: {
    write_task_ids: string[] | null;
    write_channels: string[] | null;
    write_types: string[] | null;
    write_blobs: Buffer[] | null;
  }): Promise<CheckpointPendingWrite[]> {
    const taskIds = row.write_task_ids ?? [];
    return Promise.all(
      taskIds.map(
        async (taskId, i): Promise<CheckpointPendingWrite> => [
          taskId,
          row.write_channels![i]!,
          await this.serde.loadsTyped(
            row.write_types![i]!,
            serdeInput(row.write_types![i]!, row.write_blobs![i]!),
          ),
        ],
      ),
    );
  }

  /** Pre-v4 checkpoints carry their parent's TASKS writes as channel_values[TASKS]. */
  private async loadPendingSends(rows: TupleRow[]): Promise<Map<string, unknown[]>> {
    const parents: sql.CheckpointRef[] = [];
    for (const row of rows) {
      if (row.checkpoint.v < 4 && row.parent_checkpoint_id !== null) {
        parents.push({
          threadId: row.thread_id,
          checkpointNs: row.checkpoint_ns,
          checkpointId: row.parent_checkpoint_id,
        });
      }
    }
    const sends = new Map<string, unknown[]>();
    if (parents.length === 0) return sends;
    const { rows: found } = await this.pool.query<sql.PendingSendsRow>(
      sql.selectPendingSends(parents, TASKS),
    );
    await Promise.all(
      found.map(async (row) => {
        const values = await Promise.all(
          row.types.map((type, i) => this.serde.loadsTyped(type, serdeInput(type, row.blobs[i]!))),
        );
        sends.set(keyOf(row.thread_id, row.checkpoint_ns, row.checkpoint_id, ""), values);
      }),
    );
    return sends;
  }

  /**
   * The values of the given channel versions, in two steps: one query for every row they need
   * (delta chains included), then each distinct row decoded once, however many versions share
   * it. Missing and EMPTY rows are absent from the result. With `shared`, cached versions skip
   * both steps and a chain stops at its first cached version.
   */
  private async loadValues(keys: sql.BlobKey[]): Promise<Map<string, LoadedValue>> {
    const result = new Map<string, LoadedValue>();
    const wanted = new Map<string, sql.BlobKey>();
    for (const key of keys) {
      const k = keyOf(key.threadId, key.checkpointNs, key.channel, key.version);
      const cached = this.shared?.get(k);
      if (cached !== undefined) result.set(k, cached);
      else wanted.set(k, key);
    }
    if (wanted.size === 0) return result;
    const { rows } = await this.pool.query<sql.BlobRow>(sql.selectBlobs([...wanted.values()]));
    const byKey = new Map<string, sql.BlobRow>();
    for (const row of rows)
      byKey.set(keyOf(row.thread_id, row.checkpoint_ns, row.channel, row.version), row);

    const decoded = new Map<string, Promise<DecodedRow>>();
    const decode = (key: string, row: sql.BlobRow) => {
      let pending = decoded.get(key);
      if (pending === undefined) {
        pending = this.decodeRow(row);
        decoded.set(key, pending);
      }
      return pending;
    };
    const loaded = (key: string, value: LoadedValue) => {
      result.set(key, value);
      // Only lists are shared, and every tuple gets its own copy of the array: a graph's reducers
      // run on state reads too (pending and null writes), and one that changes its input in
      // place may do so to an object value, never to another tuple's array.
      if (value.list !== undefined) this.shared?.set(key, value);
    };

    await Promise.all(
      [...wanted].map(async ([key, want]) => {
        const row = byKey.get(key);
        if (row === undefined) return;
        if (row.type !== sql.LIST_TYPE) {
          const own = await decode(key, row);
          if (own.present) loaded(key, { value: own.value });
          return;
        }
        // Target first, then its bases back to the FULL row (or to a version already decoded).
        const chain: [string, sql.BlobRow][] = [[key, row]];
        let current = row;
        let prefix: readonly unknown[] = [];
        let rootLength: number | null = null;
        while (current.kind === "DELTA") {
          const baseKey = keyOf(
            want.threadId,
            want.checkpointNs,
            want.channel,
            current.base_version ?? "",
          );
          const cachedBase = this.shared?.get(baseKey);
          if (Array.isArray(cachedBase?.value) && cachedBase.list !== undefined) {
            prefix = cachedBase.value;
            rootLength = cachedBase.list.rootLength;
            break;
          }
          const base = byKey.get(baseKey);
          if (base === undefined) {
            throw new Error(
              `checkpoint_blob chain broken: ${want.channel}@${current.version} needs missing base ${current.base_version}`,
            );
          }
          chain.push([baseKey, base]);
          current = base;
        }
        const parts = await Promise.all(chain.map(([k, r]) => decode(k, r)));
        const items: unknown[] = prefix.slice();
        for (let i = parts.length - 1; i >= 0; i -= 1) {
          for (const item of parts[i]!.items ?? []) items.push(item);
        }
        loaded(key, {
          value: items,
          list: {
            length: items.length,
            hash: row.hash ?? EMPTY_LIST_HASH,
            depth: row.depth,
            rootLength: rootLength ?? current.length ?? 0,
          },
        });
      }),
    );
    return result;
  }

  private async decodeRow(row: sql.BlobRow): Promise<DecodedRow> {
    if (row.type === sql.EMPTY_TYPE) return { present: false };
    const blob = row.blob ?? Buffer.alloc(0);
    if (row.type !== sql.LIST_TYPE) {
      return {
        present: true,
        value: await this.serde.loadsTyped(row.type, serdeInput(row.type, blob)),
      };
    }
    const frames = splitFrames(blob);
    const items = await Promise.all(frames.map((f) => this.serde.loadsTyped(f.type, f.data)));
    return { present: true, items };
  }
}

/**
 * What the serde gets to decode: JSON straight from pg's Buffer; anything else as a plain
 * Uint8Array of its own, because the "bytes" type hands the input back as the value, which must
 * be what was stored (a Uint8Array), not a Buffer sharing pg's memory.
 */
function serdeInput(type: string, data: Buffer): Uint8Array {
  return type === "json" ? data : new Uint8Array(data);
}

function emptyPlan(channel: string, version: string): BlobPlan {
  return {
    channel,
    version,
    kind: "FULL",
    type: sql.EMPTY_TYPE,
    payload: null,
    length: null,
    hash: null,
  };
}

export function createCheckpointSaver(options: CheckpointSaverOptions): PrismaCheckpointSaver {
  return new PrismaCheckpointSaver(options);
}
