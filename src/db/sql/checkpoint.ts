/**
 * Every SQL statement of the checkpointer (tables `checkpoint`, `checkpoint_blob`,
 * `checkpoint_write`; see prisma/schema.prisma). src/checkpoint/saver.ts is the only caller.
 *
 * Blob rows form delta chains: a FULL row holds a whole value; a DELTA row holds only the list
 * elements appended since `base_version`. Every row carries `root_version` (the FULL row its
 * chain starts from, itself for a FULL row) and `depth` (links back to it), so the rows needed to
 * rebuild any set of values are fetched with one index range scan per chain rather than by a
 * recursive walk.
 *
 * Large byte payloads travel as ONE binary bytea parameter sliced by offset/size arrays: node-pg
 * sends a Buffer parameter in binary, while a bytea[] parameter would be hex-escaped text.
 *
 * Every statement is named, so node-pg prepares it once per connection: parsing and planning
 * these CTEs costs more than executing them (~0.35 ms of a ~0.75 ms put, measured).
 */

export interface SqlStatement {
  /** Prepared-statement name; the same name always carries the same text. */
  name: string;
  text: string;
  values: unknown[];
}

/** `type` of a blob row whose payload is a sequence of element frames (see frames.ts). */
export const LIST_TYPE = "lgql:list";
/** `type` of a row recording that a channel has a new version but no value (as PostgresSaver). */
export const EMPTY_TYPE = "empty";

/** One blob row of a put. `offset`/`size` locate its payload in the packed buffer. */
export interface BlobInput {
  channel: string;
  version: string;
  kind: "FULL" | "DELTA";
  baseVersion: string | null;
  length: number | null;
  type: string;
  offset: number | null;
  size: number | null;
  hash: string | null;
  baseHash: string | null;
}

/**
 * A write of a run's attempt, fenced by its lease: it lands only while `owner` still holds the
 * run RUNNING. Once another worker took the run over (see lockLapsedRuns), the old attempt's
 * executor — which may not have noticed yet — writes nothing more.
 */
export interface RunLease {
  runId: string;
  owner: string;
}

/**
 * The fence of a leased write: the run's row, key-share locked, if `owner` holds it. The lock
 * orders the write against a takeover (which locks the row FOR UPDATE): a write in flight commits
 * before the run is handed on, a later one finds it taken. Only short transactions that await
 * nothing of this process's statement groups lock a run's row against it (a takeover, a cancel,
 * a rollback, a thread's deletion), so a grouped write never waits on this process itself (see
 * groupStatements).
 */
function heldRun(runParam: number): string {
  return `held AS (
  SELECT 1 FROM run WHERE id = $${runParam}::uuid AND lease_owner = $${runParam + 1}
    AND status = 'RUNNING'
  FOR KEY SHARE
)`;
}

export interface PutCheckpointInput {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId: string | null;
  /** The checkpoint without channel_values, as JSON text. */
  checkpoint: string;
  /** Serialised metadata, as JSON text (stored as jsonb for `filter`). */
  metadata: string;
  blobs: BlobInput[];
  packed: Buffer;
  /** "off" commits without waiting for the WAL flush; null keeps the server's setting. */
  synchronousCommit: "on" | "off" | null;
  /** Written only while this lease holds (see RunLease); null: unfenced. */
  lease: RunLease | null;
}

/**
 * put() in one statement, hence one commit: the blob rows and the checkpoint row.
 *
 * A DELTA row is written only on top of a base row that exists with the content hash the caller
 * computed the delta against, and its chain position (root, depth) is taken from that base row,
 * never from the caller. A DELTA whose base is missing or differs gets no depth, which the NOT
 * NULL column refuses: the statement fails as a whole, so nothing is written (no reader can see a
 * checkpoint without its values), and the caller retries with FULL rows (see isRejectedDelta).
 * Failing costs that rare case an error; checking first cost every put a fifth of its execution.
 * Existing blob rows are kept (ON CONFLICT DO NOTHING, as PostgresSaver); `inserted` tells the
 * caller which rows are really its own.
 */
export function putCheckpoint(input: PutCheckpointInput): SqlStatement {
  const values: unknown[] = [
    input.threadId,
    input.checkpointNs,
    input.checkpointId,
    input.parentCheckpointId,
    input.checkpoint,
    input.metadata,
    input.packed,
    input.synchronousCommit,
  ];
  for (const blob of input.blobs) for (const field of BLOB_FIELDS) values.push(field.of(blob));
  const rows = input.blobs.length;
  if (input.lease) {
    values.push(input.lease.runId, input.lease.owner);
    return {
      name: `lgql_checkpoint_put_held_${rows}`,
      text: putCheckpointText(rows, true),
      values,
    };
  }
  return { name: `lgql_checkpoint_put_${rows}`, text: putCheckpointText(rows, false), values };
}

/** A put's blob row as it travels: its columns in the VALUES list, with their casts. */
const BLOB_FIELDS: { column: string; type: "text" | "int"; of: (blob: BlobInput) => unknown }[] = [
  { column: "channel", type: "text", of: (b) => b.channel },
  { column: "version", type: "text", of: (b) => b.version },
  { column: "kind", type: "text", of: (b) => b.kind },
  { column: "base_version", type: "text", of: (b) => b.baseVersion },
  { column: "length", type: "int", of: (b) => b.length },
  { column: "type", type: "text", of: (b) => b.type },
  { column: "off", type: "int", of: (b) => b.offset },
  { column: "size", type: "int", of: (b) => b.size },
  { column: "hash", type: "text", of: (b) => b.hash },
  { column: "base_hash", type: "text", of: (b) => b.baseHash },
];

/**
 * The put's text for a number of blob rows. The rows travel as scalar parameters, ten per row
 * ($9 on), in a VALUES list: one text per row count, each prepared once per connection. Text
 * arrays unnested instead cost the server a parse of each array and node-pg an escaped literal
 * of each: ~6% of a put at 10 messages (measured without the WAL flush).
 */
const putTexts = new Map<string, string>();
function putCheckpointText(rows: number, leased: boolean): string {
  const key = `${rows}${leased ? "held" : ""}`;
  let text = putTexts.get(key);
  if (text !== undefined) return text;
  const row = (r: number) =>
    `(${BLOB_FIELDS.map((f, c) => `$${9 + r * BLOB_FIELDS.length + c}::${f.type}`).join(", ")})`;
  const source =
    rows === 0
      ? `(SELECT ${BLOB_FIELDS.map((f) => `NULL::${f.type}`).join(", ")} WHERE false)`
      : `(VALUES ${Array.from({ length: rows }, (_, r) => row(r)).join(", ")})`;
  // A leased put's two parameters follow the blob rows' (see heldRun).
  const fence = leased ? `${heldRun(9 + rows * BLOB_FIELDS.length)},\n` : "";
  const ifHeld = leased ? "\n  WHERE EXISTS (SELECT 1 FROM held)" : "";
  text = `
WITH commit_mode AS (
  SELECT set_config('synchronous_commit', $8::text, true) WHERE $8::text IS NOT NULL
),
${fence}blobs AS (
  INSERT INTO checkpoint_blob
    (thread_id, checkpoint_ns, channel, version, kind, base_version, depth, length, type, blob,
     root_version, hash)
  SELECT $1, $2, i.channel, i.version, i.kind, i.base_version,
         CASE WHEN i.kind = 'DELTA' THEN base.depth + 1 ELSE 0 END,
         i.length, i.type,
         CASE WHEN i.off IS NULL THEN NULL ELSE substring($7::bytea FROM i.off + 1 FOR i.size) END,
         CASE WHEN i.kind = 'DELTA' THEN coalesce(base.root_version, base.version) ELSE i.version END,
         decode(i.hash, 'hex')
  FROM ${source} AS i(${BLOB_FIELDS.map((f) => f.column).join(", ")})
  -- A primary-key probe per row. LIMIT keeps the planner from flattening the subquery into a
  -- join, which it may then run as a scan of the thread's blobs (seen while stats were stale).
  LEFT JOIN LATERAL (
    SELECT b.version, b.root_version, b.depth
    FROM checkpoint_blob b
    WHERE b.thread_id = $1 AND b.checkpoint_ns = $2
      AND b.channel = i.channel AND b.version = i.base_version
      AND b.hash = decode(i.base_hash, 'hex')
    LIMIT 1
  ) base ON i.kind = 'DELTA'${ifHeld}
  ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
  RETURNING channel, depth
),
cp AS (
  INSERT INTO checkpoint
    (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
  ${leased ? "SELECT " : "VALUES ("}$1, $2, $3, $4, $5::jsonb, $6::jsonb${leased ? ifHeld : ")"}
  ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
  DO UPDATE SET checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata
)
SELECT
  coalesce(array_agg(channel ORDER BY channel), '{}') AS inserted_channels,
  coalesce(array_agg(depth ORDER BY channel), '{}') AS inserted_depths,${leased ? "\n  EXISTS (SELECT 1 FROM held) AS held," : ""}
  -- Referenced so that it runs (a data-modifying CTE like cp runs unreferenced).
  (SELECT count(*) FROM commit_mode)::int AS commit_mode
FROM blobs`;
  putTexts.set(key, text);
  return text;
}

export interface PutCheckpointResult {
  inserted_channels: string[];
  inserted_depths: number[];
  /** A leased put's: false when the lease no longer holds and nothing was written. */
  held?: boolean;
}

/** Whether putCheckpoint failed because a DELTA's base row is missing or differs. */
export function isRejectedDelta(error: unknown): boolean {
  const e = error as { code?: unknown; table?: unknown; column?: unknown } | null;
  return e?.code === "23502" && e.table === "checkpoint_blob" && e.column === "depth";
}

/**
 * For a put whose in-process list state is unknown: the list rows the parent checkpoint points at
 * (length, content hash, chain position, and the element count of the chain's FULL row), so the
 * new value can still be stored as a delta when its prefix hashes the same.
 */
export function selectListBases(
  threadId: string,
  checkpointNs: string,
  parentCheckpointId: string,
  channels: string[],
): SqlStatement {
  return {
    name: "lgql_checkpoint_list_bases",
    text: `
SELECT b.channel, b.version, b.length, b.depth, b.hash, coalesce(r.length, b.length) AS root_length
FROM checkpoint c
CROSS JOIN unnest($4::text[]) AS t(channel)
JOIN LATERAL (
  SELECT * FROM checkpoint_blob x
  WHERE x.thread_id = c.thread_id AND x.checkpoint_ns = c.checkpoint_ns
    AND x.channel = t.channel AND x.version = c.checkpoint -> 'channel_versions' ->> t.channel
  LIMIT 1
) b ON true
LEFT JOIN LATERAL (
  SELECT x.length FROM checkpoint_blob x
  WHERE x.thread_id = b.thread_id AND x.checkpoint_ns = b.checkpoint_ns
    AND x.channel = b.channel AND x.version = b.root_version
  LIMIT 1
) r ON true
WHERE c.thread_id = $1 AND c.checkpoint_ns = $2 AND c.checkpoint_id = $3
  AND b.type = '${LIST_TYPE}' AND b.hash IS NOT NULL`,
    values: [threadId, checkpointNs, parentCheckpointId, channels],
  };
}

export interface ListBaseRow {
  channel: string;
  version: string;
  length: number;
  depth: number;
  hash: Buffer;
  root_length: number;
}

export interface WriteInput {
  idx: number;
  channel: string;
  type: string;
  offset: number;
  size: number;
}

/**
 * putWrites() in one statement. Special writes (negative idx, WRITES_IDX_MAP) replace an earlier
 * write of the same task; regular writes never overwrite (a retried task must not change what
 * was recorded), as PostgresSaver and MemorySaver do. With `lease`, written only while it holds
 * (see RunLease): the statement then returns one row saying whether it did (`held`).
 */
export function putWrites(
  threadId: string,
  checkpointNs: string,
  checkpointId: string,
  taskId: string,
  taskPath: string,
  writes: WriteInput[],
  packed: Buffer,
  synchronousCommit: "on" | "off" | null,
  lease: RunLease | null = null,
): SqlStatement {
  const values = [
    threadId,
    checkpointNs,
    checkpointId,
    taskId,
    writes.map((w) => w.idx),
    writes.map((w) => w.channel),
    writes.map((w) => w.type),
    writes.map((w) => w.offset),
    writes.map((w) => w.size),
    packed,
    synchronousCommit,
    taskPath,
  ];
  if (!lease) return { name: "lgql_checkpoint_put_writes", text: PUT_WRITES, values };
  return {
    name: "lgql_checkpoint_put_writes_held",
    text: PUT_WRITES_HELD,
    values: [...values, lease.runId, lease.owner],
  };
}

const writesInsert = (ifHeld: string) => `INSERT INTO checkpoint_write
  (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
SELECT $1, $2, $3, $4, $12, t.idx, t.channel, t.type,
       substring($10::bytea FROM t.off + 1 FOR t.size)
FROM unnest($5::int[], $6::text[], $7::text[], $8::int[], $9::int[]) AS t(idx, channel, type, off, size)
WHERE (SELECT count(*) FROM commit_mode) >= 0${ifHeld}
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
DO UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob,
              task_path = EXCLUDED.task_path
WHERE EXCLUDED.idx < 0`;

const COMMIT_MODE = `commit_mode AS (
  SELECT set_config('synchronous_commit', $11::text, true) WHERE $11::text IS NOT NULL
)`;

const PUT_WRITES = `
WITH ${COMMIT_MODE}
${writesInsert("")}`;

const PUT_WRITES_HELD = `
WITH ${COMMIT_MODE},
${heldRun(13)},
written AS (
${writesInsert(" AND EXISTS (SELECT 1 FROM held)")}
)
SELECT EXISTS (SELECT 1 FROM held) AS held`;

/**
 * The order of a checkpoint's writes: LangGraph's writesSortKey (task path, task id, idx), the
 * strings by code point, which is byte order under COLLATE "C" (see compareWrites in
 * src/checkpoint/writes.ts). Rows LangGraph gave no path have "" and sort first.
 */
const WRITES_ORDER = (w: string) =>
  `${w}.task_path COLLATE "C", ${w}.task_id COLLATE "C", ${w}.idx`;

/** The pending writes of each selected checkpoint, in WRITES_ORDER. */
const WRITES_LATERAL = `
LEFT JOIN LATERAL (
  SELECT array_agg(w.task_id ORDER BY ${WRITES_ORDER("w")}) AS task_ids,
         array_agg(w.channel ORDER BY ${WRITES_ORDER("w")}) AS channels,
         array_agg(w.type ORDER BY ${WRITES_ORDER("w")}) AS types,
         array_agg(w.blob ORDER BY ${WRITES_ORDER("w")}) AS blobs
  FROM checkpoint_write w
  WHERE w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns
    AND w.checkpoint_id = c.checkpoint_id
) w ON true`;

const CHECKPOINT_COLUMNS = `c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id,
  c.checkpoint, c.metadata::text AS metadata,
  w.task_ids AS write_task_ids, w.channels AS write_channels, w.types AS write_types,
  w.blobs AS write_blobs`;

export interface CheckpointRow {
  thread_id: string;
  checkpoint_ns: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  checkpoint: {
    v: number;
    channel_versions?: Record<string, number | string>;
    [key: string]: unknown;
  };
  metadata: string;
  write_task_ids: string[] | null;
  write_channels: string[] | null;
  write_types: string[] | null;
  write_blobs: Buffer[] | null;
}

/** One checkpoint (the newest of the namespace when `checkpointId` is undefined) and its writes. */
export function selectCheckpoint(
  threadId: string,
  checkpointNs: string,
  checkpointId: string | undefined,
): SqlStatement {
  const byId = checkpointId !== undefined;
  return {
    name: byId ? "lgql_checkpoint_get_by_id" : "lgql_checkpoint_get_latest",
    text: `
SELECT ${CHECKPOINT_COLUMNS}
FROM (
  SELECT * FROM checkpoint
  WHERE thread_id = $1 AND checkpoint_ns = $2 ${byId ? "AND checkpoint_id = $3" : ""}
  ORDER BY checkpoint_id DESC
  LIMIT 1
) c
${WRITES_LATERAL}`,
    values: byId ? [threadId, checkpointNs, checkpointId] : [threadId, checkpointNs],
  };
}

export interface ListCheckpointsFilter {
  threadId?: string;
  checkpointNs?: string;
  checkpointId?: string;
  /** jsonb containment on metadata. */
  metadata?: Record<string, unknown>;
  before?: string;
  limit?: number;
}

/** A page of checkpoints, newest first, with their writes. */
export function listCheckpoints(filter: ListCheckpointsFilter): SqlStatement {
  const wheres: string[] = [];
  const values: unknown[] = [];
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  if (filter.threadId !== undefined) wheres.push(`thread_id = ${param(filter.threadId)}`);
  if (filter.checkpointNs !== undefined)
    wheres.push(`checkpoint_ns = ${param(filter.checkpointNs)}`);
  if (filter.checkpointId !== undefined)
    wheres.push(`checkpoint_id = ${param(filter.checkpointId)}`);
  if (filter.metadata !== undefined && Object.keys(filter.metadata).length > 0) {
    wheres.push(`metadata @> ${param(JSON.stringify(filter.metadata))}::jsonb`);
  }
  if (filter.before !== undefined) wheres.push(`checkpoint_id < ${param(filter.before)}`);
  const limit = filter.limit === undefined ? "" : `LIMIT ${param(filter.limit)}`;
  // One prepared statement per combination of filters present.
  const variant = [
    filter.threadId,
    filter.checkpointNs,
    filter.checkpointId,
    filter.metadata !== undefined && Object.keys(filter.metadata).length > 0 ? true : undefined,
    filter.before,
    filter.limit,
  ]
    .map((x) => (x === undefined ? "0" : "1"))
    .join("");
  return {
    name: `lgql_checkpoint_list_${variant}`,
    text: `
SELECT ${CHECKPOINT_COLUMNS}
FROM (
  SELECT * FROM checkpoint
  ${wheres.length > 0 ? `WHERE ${wheres.join(" AND ")}` : ""}
  ORDER BY checkpoint_id DESC
  ${limit}
) c
${WRITES_LATERAL}
ORDER BY c.checkpoint_id DESC`,
    values,
  };
}

export interface BlobKey {
  threadId: string;
  checkpointNs: string;
  channel: string;
  version: string;
}

/**
 * Every blob row needed to rebuild the given channel versions: the rows themselves and, for
 * deltas, their chains back to the FULL row. Versions that share a chain (a history page) share
 * one range scan; no chain is walked row by row.
 */
export function selectBlobs(keys: BlobKey[]): SqlStatement {
  return {
    name: "lgql_checkpoint_blobs",
    text: `
WITH wanted AS (
  SELECT b.thread_id, b.checkpoint_ns, b.channel, coalesce(b.root_version, b.version) AS root,
         b.depth
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
    AS t(thread_id, checkpoint_ns, channel, version)
  -- One primary-key probe per wanted version (LIMIT keeps the subquery from being flattened
  -- into a join the planner may run as a scan, whatever it guesses for unnest).
  JOIN LATERAL (
    SELECT x.thread_id, x.checkpoint_ns, x.channel, x.version, x.root_version, x.depth
    FROM checkpoint_blob x
    WHERE x.thread_id = t.thread_id AND x.checkpoint_ns = t.checkpoint_ns
      AND x.channel = t.channel AND x.version = t.version
    LIMIT 1
  ) b ON true
),
ranges AS (
  SELECT thread_id, checkpoint_ns, channel, root, max(depth) AS depth
  FROM wanted
  GROUP BY thread_id, checkpoint_ns, channel, root
)
SELECT b.thread_id, b.checkpoint_ns, b.channel, b.version, b.kind, b.base_version, b.depth,
       b.length, b.type, b.blob, b.hash
FROM ranges r
JOIN LATERAL (
  SELECT * FROM checkpoint_blob x
  WHERE x.thread_id = r.thread_id AND x.checkpoint_ns = r.checkpoint_ns AND x.channel = r.channel
    AND x.root_version = r.root AND x.depth <= r.depth
  OFFSET 0
) b ON true`,
    values: [
      keys.map((k) => k.threadId),
      keys.map((k) => k.checkpointNs),
      keys.map((k) => k.channel),
      keys.map((k) => k.version),
    ],
  };
}

export interface BlobRow {
  thread_id: string;
  checkpoint_ns: string;
  channel: string;
  version: string;
  kind: "FULL" | "DELTA";
  base_version: string | null;
  depth: number;
  length: number | null;
  type: string;
  blob: Buffer | null;
  hash: Buffer | null;
}

export interface CheckpointRef {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
}

/**
 * Pending sends of pre-v4 checkpoints: the TASKS writes of their parents, which LangGraph >= 1.x
 * expects in the child's channel_values.
 */
export function selectPendingSends(parents: CheckpointRef[], tasksChannel: string): SqlStatement {
  return {
    name: "lgql_checkpoint_pending_sends",
    text: `
SELECT w.thread_id, w.checkpoint_ns, w.checkpoint_id,
       array_agg(w.type ORDER BY ${WRITES_ORDER("w")}) AS types,
       array_agg(w.blob ORDER BY ${WRITES_ORDER("w")}) AS blobs
FROM unnest($1::text[], $2::text[], $3::text[]) AS p(thread_id, checkpoint_ns, checkpoint_id)
JOIN LATERAL (
  SELECT * FROM checkpoint_write x
  WHERE x.thread_id = p.thread_id AND x.checkpoint_ns = p.checkpoint_ns
    AND x.checkpoint_id = p.checkpoint_id AND x.channel = $4
  OFFSET 0
) w ON true
GROUP BY w.thread_id, w.checkpoint_ns, w.checkpoint_id`,
    values: [
      parents.map((p) => p.threadId),
      parents.map((p) => p.checkpointNs),
      parents.map((p) => p.checkpointId),
      tasksChannel,
    ],
  };
}

export interface PendingSendsRow {
  thread_id: string;
  checkpoint_ns: string;
  checkpoint_id: string;
  types: string[];
  blobs: Buffer[];
}

/**
 * getDeltaChannelHistory's ancestor walk, in one statement: from the target's parent upwards,
 * each visited checkpoint with the channels still looking for a seed when it is reached, those of
 * them that have a stored value there (and those values' versions), and its writes to them. The
 * walk stops once every channel has found its seed (or at the root).
 *
 * Every step is primary-key probes (LIMIT 1 keeps each lateral from being flattened into a join
 * over the thread's checkpoints or blobs): a join lets the planner hash or rescan all of the
 * thread's rows at every step, quadratic in the walk's length, and it did while the statistics
 * of a fresh table still said one row per thread.
 */
export function selectDeltaHistory(
  threadId: string,
  checkpointNs: string,
  /** Undefined: the namespace's newest checkpoint. */
  checkpointId: string | undefined,
  channels: string[],
): SqlStatement {
  const checkpointAt = (id: string) => `
    SELECT x.checkpoint_id, x.parent_checkpoint_id, x.checkpoint -> 'channel_versions' AS versions
    FROM checkpoint x
    WHERE x.thread_id = $1 AND x.checkpoint_ns = $2 AND x.checkpoint_id = ${id}
    LIMIT 1`;
  // The channels of \`among\` whose version at that checkpoint has a stored (non-empty) value.
  const seededAt = (among: string, versions: string) => `
    SELECT ARRAY(
      SELECT c.ch FROM unnest(${among}) WITH ORDINALITY AS c(ch, i)
      WHERE coalesce((
        SELECT b.type <> '${EMPTY_TYPE}' FROM checkpoint_blob b
        WHERE b.thread_id = $1 AND b.checkpoint_ns = $2 AND b.channel = c.ch
          AND b.version = ${versions} ->> c.ch
        LIMIT 1), false)
      ORDER BY c.i) AS seeded`;
  return {
    name: "lgql_checkpoint_delta_history",
    text: `
WITH RECURSIVE walk AS (
  SELECT p.checkpoint_id, p.parent_checkpoint_id, p.versions, $4::text[] AS remaining, s.seeded,
         0 AS n
  FROM (${checkpointAt(`coalesce($3::text, (
      SELECT l.checkpoint_id FROM checkpoint l
      WHERE l.thread_id = $1 AND l.checkpoint_ns = $2
      ORDER BY l.checkpoint_id DESC LIMIT 1))`)}) t
  CROSS JOIN LATERAL (${checkpointAt("t.parent_checkpoint_id")}) p
  CROSS JOIN LATERAL (${seededAt("$4::text[]", "p.versions")}) s
  UNION ALL
  SELECT p.checkpoint_id, p.parent_checkpoint_id, p.versions, r.remaining, s.seeded, w.n + 1
  FROM walk w
  CROSS JOIN LATERAL (
    SELECT ARRAY(
      SELECT c.ch FROM unnest(w.remaining) WITH ORDINALITY AS c(ch, i)
      WHERE c.ch <> ALL (w.seeded) ORDER BY c.i) AS remaining
  ) r
  CROSS JOIN LATERAL (${checkpointAt("w.parent_checkpoint_id")}) p
  CROSS JOIN LATERAL (${seededAt("r.remaining", "p.versions")}) s
  WHERE cardinality(r.remaining) > 0
)
SELECT w.n, w.checkpoint_id, w.remaining, w.seeded AS seed_channels,
  ARRAY(SELECT w.versions ->> c.ch FROM unnest(w.seeded) WITH ORDINALITY AS c(ch, i)
        ORDER BY c.i) AS seed_versions,
  x.task_ids AS write_task_ids, x.channels AS write_channels, x.types AS write_types,
  x.blobs AS write_blobs
FROM walk w
LEFT JOIN LATERAL (
  SELECT array_agg(cw.task_id ORDER BY ${WRITES_ORDER("cw")}) AS task_ids,
         array_agg(cw.channel ORDER BY ${WRITES_ORDER("cw")}) AS channels,
         array_agg(cw.type ORDER BY ${WRITES_ORDER("cw")}) AS types,
         array_agg(cw.blob ORDER BY ${WRITES_ORDER("cw")}) AS blobs
  FROM checkpoint_write cw
  WHERE cw.thread_id = $1 AND cw.checkpoint_ns = $2 AND cw.checkpoint_id = w.checkpoint_id
    AND cw.channel = ANY (w.remaining)
) x ON true
ORDER BY w.n`,
    values: [threadId, checkpointNs, checkpointId ?? null, channels],
  };
}

export interface DeltaHistoryRow {
  n: number;
  checkpoint_id: string;
  remaining: string[];
  seed_channels: string[];
  seed_versions: string[];
  write_task_ids: string[] | null;
  write_channels: string[] | null;
  write_types: string[] | null;
  write_blobs: Buffer[] | null;
}

/** deleteThread() in one statement (one commit): every row of the thread, in every namespace. */
export function deleteThread(threadId: string): SqlStatement {
  return {
    name: "lgql_checkpoint_delete_thread",
    text: `
WITH writes AS (DELETE FROM checkpoint_write WHERE thread_id = $1),
     blobs AS (DELETE FROM checkpoint_blob WHERE thread_id = $1)
DELETE FROM checkpoint WHERE thread_id = $1`,
    values: [threadId],
  };
}
