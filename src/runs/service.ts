import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { AssistantService } from "../assistants/service.ts";
import type { AuthAction, Authorizer } from "../auth/authorizer.ts";
import type { Caller } from "../auth/caller.ts";
import { inScope, type Scope } from "../auth/filters.ts";
import { authorizedLookups } from "../auth/lookup.ts";
import type { Database } from "../db/database.ts";
import { runById, runStatus } from "../db/sql/reads.ts";
import * as sql from "../db/sql/runs.ts";
import { idsInScope, runsPage, runsPagesBy } from "../db/sql/search.ts";
import {
  ClientGoneError,
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  OverloadedError,
} from "../errors.ts";
import type { Assistant, Run, RunStatus } from "../generated/prisma/client.ts";
import type { GraphRegistry } from "../graphs/registry.ts";
import { runnableConfigInput } from "../graphs/runnable-config.ts";
import type { InterruptJson } from "../graphs/serialize.ts";
import { type Boss, inTransaction, RUN_QUEUE, type RunJob, runJobPriority } from "../queue/boss.ts";
import type { Notifier } from "../queue/notifier.ts";
import type { CheckpointArg } from "../threads/service.ts";
import { assertStorable, isUuid, jsonObject, pageArgs, uuid } from "../validation.ts";
import type { WebhookUrlPolicy } from "../webhooks/policy.ts";
import { webhookUrl } from "../webhooks/url.ts";
import { createIdempotencyKeys } from "./idempotency.ts";

export type MultitaskStrategy = "REJECT" | "INTERRUPT" | "ROLLBACK" | "ENQUEUE";
export type CancelAction = "INTERRUPT" | "ROLLBACK";

export const STREAM_MODES = [
  "VALUES",
  "UPDATES",
  "MESSAGES",
  "CUSTOM",
  "EVENTS",
  "DEBUG",
  "CHECKPOINTS",
  "TASKS",
  "TOOLS",
] as const;
export type StreamModeName = (typeof STREAM_MODES)[number];

export interface RunInput {
  threadId?: string | null;
  assistantId: string;
  input?: unknown;
  command?: { resume?: unknown; update?: unknown; goto?: unknown } | null;
  config?: unknown;
  context?: unknown;
  metadata?: unknown;
  checkpoint?: CheckpointArg | null;
  interruptBefore?: readonly string[] | null;
  interruptAfter?: readonly string[] | null;
  multitaskStrategy?: MultitaskStrategy | null;
  ifNotExists?: "CREATE" | "REJECT" | null;
  onCompletion?: "DELETE" | "KEEP" | null;
  afterSeconds?: number | null;
  webhook?: string | null;
  durability?: "SYNC" | "ASYNC" | "EXIT" | null;
  streamMode?: readonly StreamModeName[] | null;
  streamSubgraphs?: boolean | null;
  onDisconnect?: "CANCEL" | "CONTINUE" | null;
  /** Set by the cron scheduler for the runs it starts. */
  cronId?: string | null;
  /** A retry with the same key (same caller) finds this run instead of creating one. */
  idempotencyKey?: string | null;
}

export interface RunResult {
  run: Run;
  values: unknown;
  interrupts: InterruptJson[];
  error: { type: string; message: string } | null;
}

export const FINAL_STATUSES: readonly RunStatus[] = ["SUCCESS", "ERROR", "TIMEOUT", "INTERRUPTED"];

/** Run-control notifications: a run ended, or was asked to stop. */
export interface RunControl {
  runId: string;
  kind: "ended" | "cancel";
  action?: CancelAction;
}

/** Results of deleted stateless runs stay readable this long (for waiters in any process). */
const OUTCOME_SECONDS = 600;

export function createRunService(deps: {
  db: Database;
  assistants: AssistantService;
  graphs: GraphRegistry;
  boss: Boss;
  notifier: Notifier;
  /** Reads a finished run's values and interrupts (at its last checkpoint). */
  readOutcome: (run: Run) => Promise<{ values: unknown; interrupts: InterruptJson[] }>;
  /** Called in the transaction that ends a pending run without executing it (INTERRUPT). */
  onFinish?: ReadonlyArray<(client: pg.PoolClient, run: { id: string }) => Promise<void>>;
  authz: Authorizer;
  /** langgraph.json webhooks.url. */
  webhookPolicy?: WebhookUrlPolicy | null;
  /** Admission control (see config.runs.maxPendingRuns); absent: nothing refused. */
  admission?: { maxPendingRuns: number; retryAfterSeconds: number };
}) {
  const { prisma, pool } = deps.db;
  const { boss, notifier, authz } = deps;

  const transaction = deps.db.transaction;
  const keys = createIdempotencyKeys({ pool });
  /** This process's run worker, when it has one (see LocalWorker). */
  let localWorker: LocalWorker | null = null;

  /**
   * Gives the next run of a thread its job, if the thread has no running run. Called wherever a
   * thread's line may move: a run created, ended, cancelled, deleted or re-queued.
   */
  async function dispatchNext(client: pg.PoolClient, threadId: string): Promise<void> {
    const next = await sql.nextRunnable(client, threadId);
    if (next) await announce(client, next);
  }

  /** Queues a run's job and tells workers, who may claim it at once when it is due now. */
  async function announce(client: pg.PoolClient, run: sql.RunnableRun) {
    const jobId = await queue(client, run);
    await sql.notify(client, sql.RUNS_CHANNEL, sql.runAnnouncement(run.id, run.due ? jobId : null));
  }

  /** Queues a run's job (under `jobId`, if given), without telling anyone. */
  async function queue(
    client: pg.PoolClient,
    run: { id: string; available_at: Date; created_at: Date },
    jobId?: string,
  ): Promise<string> {
    const id = await boss.send(RUN_QUEUE, { runId: run.id } satisfies RunJob, {
      ...(jobId ? { id: jobId } : {}),
      startAfter: run.available_at,
      priority: runJobPriority(run.created_at),
      db: inTransaction(client),
    });
    if (!id) throw new Error(`pg-boss did not queue run ${run.id}`);
    return id;
  }

  /**
   * Outcomes of runs this process just finished, handed to waiters here without reading them
   * back (the database stays the source for every other process). Kept briefly.
   */
  const recentOutcomes = new Map<string, KeptOutcome>();

  function keepOutcome(outcome: KeptOutcome) {
    const runId = outcome.result.run.id;
    recentOutcomes.set(runId, outcome);
    setTimeout(() => recentOutcomes.delete(runId), 30_000).unref();
  }

  /** Tells this process's listeners (other processes hear the NOTIFY). */
  function announceLocally(message: RunControl) {
    notifier.emitLocal(sql.RUN_CONTROL_CHANNEL, JSON.stringify(message));
  }

  function control(message: RunControl) {
    announceLocally(message);
    return sql.notify(pool, sql.RUN_CONTROL_CHANNEL, JSON.stringify(message));
  }

  /**
   * Runs are guarded by their thread, as on LangGraph Platform: the caller may do `action` to a
   * run when the `threads:<action>` handler lets them, and the run's thread is inside the
   * filters it returns. Another user's run is indistinguishable from a missing one.
   */
  async function find(
    caller: Caller,
    id: string,
    action: AuthAction = "read",
    value: Record<string, unknown> = {},
  ): Promise<Run | null> {
    if (!isUuid(id)) return null;
    const run = await runById(pool, id.toLowerCase());
    if (!run) return null;
    const scope = await authz.authorize(caller, "threads", action, {
      thread_id: run.threadId,
      run_id: run.id,
      ...value,
    });
    return scope ? runById(pool, run.id, scope) : run;
  }

  const { get, require } = authorizedLookups("run", find);

  /**
   * `threads:create_run`: the handler sees the whole run (and may stamp its metadata); its
   * filters are what the run's thread must satisfy.
   */
  async function authorizeCreate(
    caller: Caller,
    input: RunInput,
    ids: { runId: string; threadId: string | null; assistantId: string },
    run: { config: Record<string, unknown>; context: unknown; metadata: Record<string, unknown> },
  ): Promise<Scope | null> {
    if (!authz.enabled) return null;
    const value = {
      thread_id: ids.threadId,
      assistant_id: ids.assistantId,
      run_id: ids.runId,
      status: "pending",
      metadata: run.metadata,
      prevent_insert_if_inflight: input.multitaskStrategy === "REJECT",
      multitask_strategy: (input.multitaskStrategy ?? "ENQUEUE").toLowerCase(),
      if_not_exists: (input.ifNotExists ?? "REJECT").toLowerCase(),
      after_seconds: input.afterSeconds ?? 0,
      kwargs: {
        input: input.input ?? null,
        command: input.command ?? null,
        config: run.config,
        context: run.context,
        stream_mode: (input.streamMode ?? ["VALUES"]).map((m) => m.toLowerCase()),
        interrupt_before: input.interruptBefore ?? null,
        interrupt_after: input.interruptAfter ?? null,
        webhook: input.webhook ?? null,
        temporary: ids.threadId === null,
      },
    };
    const scope = await authz.authorize(caller, "threads", "create_run", value);
    run.metadata = jsonObject(value.metadata ?? {}, "input.metadata");
    return scope;
  }

  /**
   * Starts watching for a run's end (a final status, or the run gone) and returns a promise of
   * it. The "ended" announcement is trusted as is; a "cancel" one, a reconnect and a slow
   * safety-net poll check the run's status. `checkNow` false: the caller knows the run cannot
   * have ended before the watch began (it is not committed yet).
   */
  function watchEnd(
    runId: string,
    options: { signal?: AbortSignal; checkNow?: boolean } = {},
  ): { ended: Promise<void>; stop: () => void } {
    const { signal, checkNow = true } = options;
    let stop = () => {};
    const ended = new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        offControl();
        offReconnect();
        clearInterval(poll);
        signal?.removeEventListener("abort", onAbort);
        error ? reject(error) : resolve();
      };
      const check = async () => {
        try {
          const status = await runStatus(pool, runId);
          if (status === null || FINAL_STATUSES.includes(status as RunStatus)) finish();
        } catch (error) {
          finish(error);
        }
      };
      const offControl = notifier.on(sql.RUN_CONTROL_CHANNEL, (payload) => {
        if (!payload.includes(runId)) return;
        const message = JSON.parse(payload) as RunControl;
        if (message.runId !== runId) return;
        if (message.kind === "ended") finish();
        else void check();
      });
      const offReconnect = notifier.on("reconnected", () => void check());
      // A safety net only: ends are announced; this catches one lost with a dropped connection.
      const poll = setInterval(() => void check(), 5000);
      const onAbort = () =>
        finish(new ClientGoneError("the client stopped waiting", { cause: signal?.reason }));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort);
      stop = () => finish();
      if (checkNow) void check();
    });
    return { ended, stop };
  }

  /** Resolves once the run has a final status or no longer exists. */
  function waitForEnd(runId: string, signal?: AbortSignal): Promise<void> {
    return watchEnd(runId, { signal }).ended;
  }

  function validate(input: RunInput) {
    if (input.input !== undefined && input.input !== null && input.command) {
      throw new InvalidInputError("give input or command, not both", { field: "input.command" });
    }
    if (
      input.afterSeconds != null &&
      (!Number.isInteger(input.afterSeconds) || input.afterSeconds < 0)
    ) {
      throw new InvalidInputError(`afterSeconds must be 0 or more, got ${input.afterSeconds}`, {
        field: "input.afterSeconds",
      });
    }
    if (input.checkpoint && input.threadId == null) {
      throw new InvalidInputError("checkpoint needs threadId: a stateless run has no history", {
        field: "input.checkpoint",
      });
    }
    if (input.webhook != null) webhookUrl(input.webhook, "input.webhook", deps.webhookPolicy);
    // Stored as jsonb with the run (as are config, context and metadata, which jsonObject
    // checks): refused here, by path, rather than by the database.
    assertStorable("input.input", input.input);
    assertStorable("input.command", input.command);
    assertStorable("input.checkpoint", input.checkpoint);
    return {
      config: runnableConfigInput(input.config ?? {}, "input.config"),
      context: input.context == null ? null : jsonObject(input.context, "input.context"),
      metadata: jsonObject(input.metadata ?? {}, "input.metadata"),
    };
  }

  /**
   * The nodes `command.goto` names, in LangGraph's forms: a node name, a Send `{node, args}`, or
   * a list of either. A name LangGraph does not know would be dropped without a word.
   */
  function gotoNodes(goto: unknown): string[] {
    if (goto == null) return [];
    const targets = Array.isArray(goto) ? goto : [goto];
    return targets.map((target, index) => {
      if (typeof target === "string") return target;
      const node = (target as { node?: unknown } | null)?.node;
      if (typeof node === "string") return node;
      const at = Array.isArray(goto) ? `input.command.goto[${index}]` : "input.command.goto";
      throw new InvalidInputError(
        `${at} must be a node name or a Send {node, args}, got ${JSON.stringify(target)}`,
        { field: "input.command.goto" },
      );
    });
  }

  async function checkNodes(
    graphId: string,
    field: string,
    names: readonly string[] | null | undefined,
    /** interruptBefore/After's "*": every node. */
    wildcard = true,
  ) {
    if (!names?.length) return;
    const graph = await deps.graphs.get(graphId, {});
    const known = new Set(Object.keys(graph.nodes));
    for (const name of names) {
      if (!(wildcard && name === "*") && !known.has(name)) {
        throw new InvalidInputError(
          `${field}: graph "${graphId}" has no node "${name}" (nodes: ${[...known].filter((n) => !n.startsWith("__")).join(", ")})`,
          { field },
        );
      }
    }
  }

  /**
   * Validates a run (reading outside any transaction) and returns how to insert it into a
   * transaction, and what to announce once that transaction has committed.
   */
  async function prepare(
    caller: Caller,
    input: RunInput,
    found: { assistant: Assistant; stamp: string | null },
    options: { runId?: string } = {},
  ) {
    const { assistant, stamp: assistantStamp } = found;
    const validated = validate(input);
    const { config, context } = validated;
    const gotos = gotoNodes(input.command?.goto);
    try {
      await checkNodes(assistant.graphId, "input.interruptBefore", input.interruptBefore);
      await checkNodes(assistant.graphId, "input.interruptAfter", input.interruptAfter);
      await checkNodes(assistant.graphId, "input.command.goto", gotos, false);
    } catch (error) {
      // The graph as remembered lacks a node: the assistant's graph may have changed since.
      if (assistantStamp !== null) throw new StaleAssistant();
      throw error;
    }
    const stateless = input.threadId == null;
    const threadId = stateless ? randomUUID() : uuid(input.threadId!, "input.threadId");
    const strategy = input.multitaskStrategy ?? "ENQUEUE";
    const runId = options.runId ?? randomUUID();
    const cancels: RunControl[] = [];
    const scope = await authorizeCreate(
      caller,
      input,
      { runId, threadId: stateless ? null : threadId, assistantId: assistant.id },
      validated,
    );
    // The run's own copy: its creation may add to it (superseded_interrupts), and may be retried.
    const metadata = { ...validated.metadata };
    // A thread the run creates (stateless, or ifNotExists CREATE) carries the run's metadata as
    // on LangGraph Platform, plus what the create_run filters require, so its creator can see
    // it; a thread the filters would still hide is refused (never created behind their back).
    const newThreadMetadata = {
      ...stampable(scope),
      ...metadata,
      graph_id: assistant.graphId,
      assistant_id: assistant.id,
    };
    if (!inScope(newThreadMetadata, scope) && (stateless || input.ifNotExists === "CREATE")) {
      throw new ForbiddenError("the run's thread would be outside what the auth handler allows", {
        field: "input.metadata",
      });
    }

    const newRun = (): sql.NewRun => ({
      id: runId,
      threadId,
      assistantId: assistant.id,
      multitaskStrategy: strategy,
      input: input.input ?? null,
      command: input.command ?? null,
      config,
      context,
      metadata,
      checkpoint: input.checkpoint
        ? {
            checkpoint_id: input.checkpoint.checkpointId ?? undefined,
            checkpoint_ns: input.checkpoint.checkpointNs ?? "",
            checkpoint_map: input.checkpoint.checkpointMap ?? undefined,
          }
        : null,
      interruptBefore: [...(input.interruptBefore ?? [])],
      interruptAfter: [...(input.interruptAfter ?? [])],
      streamModes: [...(input.streamMode?.length ? input.streamMode : ["VALUES"])],
      streamSubgraphs: input.streamSubgraphs ?? false,
      durability: input.durability ?? "ASYNC",
      webhook: input.webhook ?? null,
      onCompletion: stateless ? (input.onCompletion ?? "DELETE") : null,
      onDisconnect: input.onDisconnect ?? "CONTINUE",
      afterSeconds: input.afterSeconds ?? 0,
      cronId: input.cronId ?? null,
      authUser: caller.user,
      assistantStamp,
    });
    const newThread = { graphId: assistant.graphId, metadata: newThreadMetadata };
    /**
     * With `slot` (a free slot of this process's worker), a run first in its line and due now
     * is inserted claimed, and returned as such, for the slot to execute once committed.
     */
    const insert = async (
      client: pg.PoolClient,
      slot: LocalSlot | null = null,
    ): Promise<sql.InsertedRun> => {
      /** The thread had no run in flight: the new one is first in its line. */
      let first = stateless;
      if (!stateless) {
        let thread = await sql.lockThread(client, threadId);
        if (!thread && input.ifNotExists === "CREATE") {
          // Two creators of the same thread serialise on the primary key; the loser re-reads.
          await client.query(
            `INSERT INTO thread (id, metadata, graph_id, updated_at) VALUES ($1::uuid, $2::jsonb, $3, now())
             ON CONFLICT (id) DO NOTHING`,
            [threadId, JSON.stringify(newThreadMetadata), assistant.graphId],
          );
          thread = await sql.lockThread(client, threadId);
        }
        if (!thread || !inScope(thread.metadata, scope)) {
          throw new NotFoundError(`thread "${threadId}" not found`, { field: "input.threadId" });
        }
        // LangGraph would start from an empty state, dropping the thread's history from its
        // current state without a word.
        const from = input.checkpoint;
        if (
          from?.checkpointId &&
          !(await sql.checkpointExists(
            client,
            threadId,
            from.checkpointNs ?? "",
            from.checkpointId,
          ))
        ) {
          throw new NotFoundError(
            `thread "${threadId}" has no checkpoint "${from.checkpointId}"${from.checkpointNs ? ` in namespace "${from.checkpointNs}"` : ""}`,
            { field: "input.checkpoint.checkpointId" },
          );
        }
        const waiting = thread.status === "INTERRUPTED";
        const inFlight = await sql.inFlightRuns(client, threadId);
        first = inFlight.length === 0;
        if (
          strategy === "REJECT" &&
          (inFlight.length > 0 || (waiting && !input.command && input.input != null))
        ) {
          throw new ConflictError(
            inFlight.length > 0
              ? `thread "${threadId}" already has a run in flight (multitaskStrategy REJECT)`
              : `thread "${threadId}" is waiting at an interrupt: resume it with command.resume, or send the input with another multitaskStrategy to supersede the interrupt`,
            { field: "input.threadId" },
          );
        }
        for (const other of inFlight) {
          if (strategy === "INTERRUPT" || strategy === "ROLLBACK") {
            if (other.status === "PENDING") {
              if (strategy === "INTERRUPT") {
                await sql.interruptPendingRun(client, other.id);
                for (const hook of deps.onFinish ?? []) await hook(client, { id: other.id });
              } else await sql.deleteRunRow(client, other.id);
              cancels.push({ runId: other.id, kind: "ended" });
            } else {
              await sql.requestCancel(client, other.id, strategy);
              cancels.push({ runId: other.id, kind: "cancel", action: strategy });
            }
          }
        }
        if (cancels.length > 0) {
          // Other runs' waiters hear of these stops once this commits: a promise to them, so
          // this creation commits durably even when it is a waited run's (see commit()).
          await client.query("SET LOCAL synchronous_commit TO on");
        }
        if (waiting && input.input != null && !input.command) {
          // The new input supersedes the pending interrupt; say so on the run that drops it.
          metadata.superseded_interrupts = (
            await client.query("SELECT interrupts FROM thread WHERE id = $1::uuid", [threadId])
          ).rows[0]?.interrupts;
        }
      }
      const row = newRun();
      // First in its thread's line and due: claimed by this process's worker when it has a
      // slot, else queued and announced with its insert (a NOTIFY is only delivered at commit,
      // when the job exists too). Not first: its line decides.
      const claim = first && !input.afterSeconds && slot ? slot.claim : null;
      const jobId = randomUUID();
      const announcement =
        first && !claim ? sql.runAnnouncement(runId, input.afterSeconds ? null : jobId) : null;
      const inserted = stateless
        ? await sql.insertRunWithThread(client, row, newThread, announcement, claim)
        : await sql.insertRun(client, row, assistant.graphId, announcement, claim);
      if (!inserted) {
        if (assistantStamp) throw new StaleAssistant();
        throw new NotFoundError(`assistant "${input.assistantId}" not found`, {
          field: "input.assistantId",
        });
      }
      const { run } = inserted;
      if (announcement) {
        await queue(
          client,
          { id: run.id, available_at: run.availableAt, created_at: run.createdAt },
          jobId,
        );
      } else if (!first) await dispatchNext(client, threadId);
      return inserted;
    };
    const afterCommit = async () => {
      for (const message of cancels) await control(message);
    };
    /**
     * A run due now, claimed as it is created, is one statement, its own transaction, without
     * BEGIN and COMMIT round trips: stateless (nothing else to do, no lock to take), or on a
     * thread found idle under its lock (nothing to supersede or wait for). Null, with nothing
     * written, when the thread is not idle or does not exist, or the remembered assistant
     * changed: the general path then decides. Auth filters on the thread, and the checkpoint a
     * run starts from, are checked on the general path.
     */
    const unscoped = scope === null || Object.keys(scope).length === 0;
    const insertClaimedAlone =
      input.afterSeconds || input.checkpoint?.checkpointId
        ? null
        : stateless
          ? (claim: sql.CreationClaim, durable: boolean) =>
              sql.insertRunWithThread(pool, newRun(), newThread, null, claim, { durable })
          : unscoped
            ? (claim: sql.CreationClaim, durable: boolean) =>
                sql.insertRunOnIdleThread(pool, newRun(), assistant.graphId, claim, { durable })
            : null;
    return { runId, insert, insertClaimedAlone, afterCommit };
  }

  type Prepared = Awaited<ReturnType<typeof prepare>>;

  /**
   * Bounds the queue: a run that would wait behind `maxPendingRuns` others is refused before
   * anything is written, with a delay to retry after, rather than accepted into a wait that only
   * grows. The count is read outside the creating transaction, so creators racing at the limit
   * may each pass: the bound is exceeded by at most the creations in flight at that moment.
   */
  async function admit(): Promise<void> {
    const limit = deps.admission?.maxPendingRuns ?? 0;
    if (limit <= 0) return;
    const pending = await sql.pendingRunsUpTo(pool, limit);
    if (pending < limit) return;
    const retryAfterSeconds = deps.admission!.retryAfterSeconds;
    throw new OverloadedError(
      `${pending} runs already wait for a worker (MAX_PENDING_RUNS ${limit}); retry after ${retryAfterSeconds} s`,
      { retryAfterSeconds },
    );
  }

  /**
   * Inserts a prepared run, starts it here when it was claimed with its insert, and announces
   * what its creation stopped.
   */
  async function commit(prepared: Prepared, options: { durable: boolean }): Promise<Run> {
    const slot = localWorker?.reserve() ?? null;
    // A local slot is only free when no run waits for one: only a queued run adds to the wait.
    if (!slot) await admit();
    let inserted: sql.InsertedRun;
    try {
      inserted =
        (slot && (await prepared.insertClaimedAlone?.(slot.claim, options.durable))) ||
        (await transaction((client) => prepared.insert(client, slot), options));
    } catch (error) {
      slot?.release();
      throw error;
    }
    if (inserted.claimed) slot!.start(inserted.claimed);
    else slot?.release();
    await prepared.afterCommit();
    return inserted.run;
  }

  /**
   * Prepares and commits a run, with its assistant as remembered from an earlier run: one read
   * less. If the assistant changed since, nothing is written and the run is prepared again from
   * a fresh read.
   */
  async function prepareAndCommit(
    caller: Caller,
    input: RunInput,
    options: { durable: boolean; runId?: string },
  ): Promise<Run> {
    const assistant = (fresh: boolean) =>
      deps.assistants.forRun(caller, input.assistantId, "input.assistantId", fresh);
    try {
      return await commit(await prepare(caller, input, await assistant(false), options), options);
    } catch (error) {
      // Thrown before anything commits; any other error may come after the run is committed.
      if (!(error instanceof StaleAssistant)) throw error;
    }
    return commit(await prepare(caller, input, await assistant(true), options), options);
  }

  async function create(caller: Caller, input: RunInput): Promise<Run> {
    return (await createOrFind(caller, input)).run;
  }

  /** Creates a run, or finds the one its idempotency key already made (`reused`). */
  async function createOrFind(
    caller: Caller,
    input: RunInput,
  ): Promise<{ run: Run; reused: boolean }> {
    const runId = randomUUID();
    const existing = await keys.existingRun(caller, input, runId);
    if (existing) {
      // A deleted stateless run is gone but for its kept outcome, which still carries the run.
      const run = (await get(caller, existing)) ?? (await result(caller, existing)).run;
      return { run, reused: true };
    }
    const run = await keys.creating(caller, input, runId, () =>
      prepareAndCommit(caller, input, { durable: true, runId }),
    );
    return { run, reused: false };
  }

  /**
   * Creates a run inside the caller's transaction, so that what is owed with it (a cron moving
   * to its next slot) commits or rolls back with it. Call `afterCommit` once committed: it
   * announces the cancels of runs the new one supersedes (INTERRUPT / ROLLBACK).
   */
  async function createInTransaction(
    client: pg.PoolClient,
    caller: Caller,
    input: RunInput,
  ): Promise<{ runId: string; afterCommit: () => Promise<void> }> {
    const found = await deps.assistants.forRun(
      caller,
      input.assistantId,
      "input.assistantId",
      true,
    );
    const prepared = await prepare(caller, input, found);
    await prepared.insert(client);
    return { runId: prepared.runId, afterCommit: prepared.afterCommit };
  }

  async function join(caller: Caller, runId: string, wait: boolean, signal?: AbortSignal) {
    const run = await get(caller, runId);
    // A deleted stateless run has no row, but its outcome may still be kept: result() knows.
    if (run && wait) await waitForEnd(run.id, signal);
    return result(caller, runId.toLowerCase());
  }

  async function result(caller: Caller, runId: string): Promise<RunResult> {
    const recent = recentOutcomes.get(runId);
    if (recent) {
      const scope = await authz.authorize(caller, "threads", "read", {
        thread_id: recent.result.run.threadId,
        run_id: runId,
      });
      if (inScope(recent.threadMetadata, scope)) return recent.result;
      throw new NotFoundError(`run "${runId}" not found`, { field: "id" });
    }
    const run = await get(caller, runId);
    if (!run) {
      // A deleted stateless run: its kept outcome is guarded by its thread's last metadata.
      const scope = await authz.authorize(caller, "threads", "read", { run_id: runId });
      const kept = (await sql.loadOutcome(pool, runId, scope)) as RunResult | null;
      if (kept) return reviveOutcome(kept);
      throw new NotFoundError(`run "${runId}" not found`, { field: "id" });
    }
    const { values, interrupts } = await deps.readOutcome(run);
    return { run, values, interrupts, error: (run.error as RunResult["error"]) ?? null };
  }

  /** Marks in-flight runs to stop; returns their ids. The runs' workers finish them. */
  async function cancelMany(
    runs: Array<{ id: string; threadId: string }>,
    action: CancelAction,
  ): Promise<void> {
    const messages: RunControl[] = [];
    for (const { id, threadId } of runs) {
      await transaction(async (client) => {
        await sql.lockThread(client, threadId);
        const row = await sql.lockRun(client, id);
        if (!row) return;
        if (row.status === "PENDING") {
          if (action === "INTERRUPT") {
            await sql.interruptPendingRun(client, id);
            for (const hook of deps.onFinish ?? []) await hook(client, { id });
          } else await sql.deleteRunRow(client, id);
          await sql.settleThreadStatus(client, threadId);
          await dispatchNext(client, threadId);
          messages.push({ runId: id, kind: "ended" });
        } else if (row.status === "RUNNING") {
          await sql.requestCancel(client, id, action);
          messages.push({ runId: id, kind: "cancel", action });
        }
      });
    }
    for (const message of messages) await control(message);
  }

  return {
    get,
    require,
    create,
    createOrFind,
    createInTransaction,
    result,
    waitForEnd,
    dispatchNext,
    announce,
    transaction,
    control,
    keepOutcome,
    announceLocally,
    /** Lets runs created here start on this process's worker (null: no more). */
    attachLocalWorker(worker: LocalWorker | null) {
      localWorker = worker;
    },
    forgetOutcome: (runId: string) => recentOutcomes.delete(runId),
    /** What announces a run's end to every process (on RUN_CONTROL_CHANNEL), sent with it. */
    endAnnouncement: (runId: string) =>
      JSON.stringify({ runId, kind: "ended" } satisfies RunControl),

    async list(
      caller: Caller,
      options: {
        threadId?: string | null;
        cronId?: string | null;
        status?: RunStatus | null;
        first?: number | null;
        offset: number;
      },
    ) {
      const { limit } = pageArgs(options.first);
      const threadId = options.threadId != null ? uuid(options.threadId, "threadId") : undefined;
      const scope = await authz.authorize(caller, "threads", "search", {
        thread_id: threadId ?? null,
        status: options.status?.toLowerCase() ?? null,
        limit,
        offset: options.offset,
      });
      const { rows, total } = await runsPage(
        pool,
        {
          threadId,
          cronId: options.cronId ?? undefined,
          status: options.status ?? undefined,
          scope,
        },
        limit,
        options.offset,
      );
      return { items: rows, total, offset: options.offset };
    },

    /**
     * `list` for several threads or crons at once (one page each, same arguments), in two
     * queries; guarded like `list` (`threads:search`, its filters on the runs' threads).
     */
    async listFor(
      caller: Caller,
      by: "thread" | "cron",
      ids: string[],
      options: { status?: RunStatus | null; first?: number | null; offset: number },
    ) {
      const { limit } = pageArgs(options.first);
      const scope = await authz.authorize(caller, "threads", "search", {
        [by === "thread" ? "thread_ids" : "cron_ids"]: ids,
        status: options.status?.toLowerCase() ?? null,
        limit,
        offset: options.offset,
      });
      const pages = await runsPagesBy(
        pool,
        by,
        ids,
        { status: options.status ?? undefined, scope },
        limit,
        options.offset,
      );
      return new Map(
        [...pages].map(([id, page]) => [
          id,
          { items: page.rows, total: page.total, offset: options.offset },
        ]),
      );
    },

    /** Starts a run and waits for its outcome (LangGraph's runs/wait). */
    async createAndWait(caller: Caller, input: RunInput, signal?: AbortSignal): Promise<RunResult> {
      const runId = randomUUID();
      const existing = await keys.existingRun(caller, input, runId);
      if (existing) return join(caller, existing, true, signal);
      // Watching from before the run is committed: its end cannot be missed, nor need a read.
      const watch = watchEnd(runId, { signal, checkNow: false });
      // An abort while the run is prepared rejects `ended` before anything awaits it.
      watch.ended.catch(() => {});
      try {
        // Promised to no one until its end, whose commit is durable and makes this one durable
        // first: the creation need not wait for its own WAL flush.
        const run = await keys.creating(caller, input, runId, () =>
          prepareAndCommit(caller, input, { durable: false, runId }),
        );
        await watch.ended;
        return result(caller, run.id);
      } finally {
        watch.stop();
      }
    },

    join,

    async cancel(
      caller: Caller,
      runId: string,
      action: CancelAction,
      wait: boolean,
      signal?: AbortSignal,
    ): Promise<Run> {
      const run = await require(caller, runId, "id", "update", {
        action: action.toLowerCase(),
        metadata: { run_ids: [runId.toLowerCase()], status: "pending" },
      });
      await cancelMany([{ id: run.id, threadId: run.threadId }], action);
      if (wait) await waitForEnd(run.id, signal);
      const after = await get(caller, run.id);
      // A rolled-back run no longer exists; answer with what it was, stopped.
      return after ?? { ...run, status: "INTERRUPTED", endedAt: new Date(), updatedAt: new Date() };
    },

    async cancelRuns(
      caller: Caller,
      input: {
        threadId?: string | null;
        runIds?: readonly string[] | null;
        status?: RunStatus | null;
        action?: CancelAction | null;
      },
    ): Promise<Run[]> {
      if (input.status && input.status !== "PENDING" && input.status !== "RUNNING") {
        throw new InvalidInputError(`status must be PENDING or RUNNING, got ${input.status}`, {
          field: "input.status",
        });
      }
      if (input.threadId == null && !input.runIds?.length && !input.status) {
        throw new InvalidInputError("name what to cancel: threadId, runIds or status", {
          field: "input",
        });
      }
      const threadId = input.threadId != null ? uuid(input.threadId, "input.threadId") : null;
      const scope = await authz.authorize(caller, "threads", "update", {
        thread_id: threadId,
        action: (input.action ?? "INTERRUPT").toLowerCase(),
        metadata: { run_ids: input.runIds ?? null, status: input.status?.toLowerCase() ?? null },
      });
      let runs = await prisma.run.findMany({
        where: {
          ...(input.threadId != null ? { threadId: uuid(input.threadId, "input.threadId") } : {}),
          ...(input.runIds?.length
            ? { id: { in: input.runIds.map((id, i) => uuid(id, `input.runIds[${i}]`)) } }
            : {}),
          status: input.status ? input.status : { in: ["PENDING", "RUNNING"] },
        },
        orderBy: { createdAt: "asc" },
      });
      if (scope) {
        // Only runs on threads the caller may update; the others stay untouched and unseen.
        const threadIds = [...new Set(runs.map((r) => r.threadId))];
        const allowed = new Set(await idsInScope(pool, "thread", threadIds, scope));
        runs = runs.filter((r) => allowed.has(r.threadId));
      }
      if (
        scope &&
        threadId !== null &&
        runs.length === 0 &&
        (await idsInScope(pool, "thread", [threadId], scope)).length === 0
      ) {
        throw new NotFoundError(`thread "${threadId}" not found`, { field: "input.threadId" });
      }
      if (input.runIds?.length && input.threadId == null) {
        const found = new Set(runs.map((r) => r.id));
        const missing = input.runIds.find((id) => !found.has(id.toLowerCase()));
        if (missing && !(await find(caller, missing, "update"))) {
          throw new NotFoundError(`run "${missing}" not found`, { field: "input.runIds" });
        }
      }
      await cancelMany(runs, input.action ?? "INTERRUPT");
      const after = await prisma.run.findMany({ where: { id: { in: runs.map((r) => r.id) } } });
      const byId = new Map(after.map((r) => [r.id, r]));
      return runs.map((r) => byId.get(r.id) ?? { ...r, status: "INTERRUPTED" as const });
    },

    /**
     * Whether the caller could see a run that no longer exists (a stateless run, deleted with
     * its thread when it ended): its kept outcome records the thread's metadata.
     */
    async goneRunVisible(caller: Caller, runId: string): Promise<boolean> {
      if (await runById(pool, runId)) return false;
      const scope = await authz.authorize(caller, "threads", "read", { run_id: runId });
      return scope === null || (await sql.loadOutcome(pool, runId, scope)) !== null;
    },

    /** Deletes a finished run (its checkpoints stay: they are the thread's history). */
    async delete(caller: Caller, runId: string): Promise<string> {
      const run = await require(caller, runId, "id", "delete");
      if (!FINAL_STATUSES.includes(run.status)) {
        throw new ConflictError(`run "${run.id}" is ${run.status}: cancel it before deleting it`, {
          field: "id",
        });
      }
      await prisma.run.delete({ where: { id: run.id } });
      recentOutcomes.delete(run.id);
      return run.id;
    },

    /** Keeps a deleted stateless run's outcome readable for a while. */
    async saveOutcome(client: pg.PoolClient, outcome: KeptOutcome) {
      await sql.saveOutcome(
        client,
        outcome.result.run.id,
        outcome.result,
        outcome.threadMetadata,
        OUTCOME_SECONDS,
      );
    },
  };
}

/**
 * A run worker in the creating process. A run it can take now is claimed by the statement that
 * creates it: no queue job, no NOTIFY, no claim round trip between creating and executing.
 */
export interface LocalWorker {
  /** Holds a free slot for a run about to be created; null when there is none. */
  reserve(): LocalSlot | null;
}

export interface LocalSlot {
  claim: sql.CreationClaim;
  /** Executes the run claimed with its insert, once that has committed. */
  start(claimed: sql.ClaimedRun): void;
  /** The slot was not used (the run was not claimable, or its creation failed). */
  release(): void;
}

/** A finished run's outcome with what guards it once its thread may be gone. */
export interface KeptOutcome {
  result: RunResult;
  threadMetadata: unknown;
}

/** The scalar equalities of auth filters: what a thread must carry to satisfy them. */
function stampable(scope: Scope | null): Record<string, unknown> {
  if (!scope) return {};
  return Object.fromEntries(Object.entries(scope).filter(([, v]) => !Array.isArray(v)));
}

function reviveOutcome(kept: RunResult): RunResult {
  const run = kept.run as Run & Record<string, unknown>;
  for (const key of [
    "createdAt",
    "updatedAt",
    "startedAt",
    "endedAt",
    "availableAt",
    "leaseExpiresAt",
  ]) {
    if (typeof run[key] === "string") run[key] = new Date(run[key] as string);
  }
  return kept;
}

export type RunService = ReturnType<typeof createRunService>;

/** A run's remembered assistant changed before the run was inserted (see prepareAndCommit). */
class StaleAssistant extends Error {}
