import { randomUUID } from "node:crypto";
import type { AssistantService } from "../assistants/service.ts";
import type { AuthAction, Authorizer } from "../auth/authorizer.ts";
import type { Caller } from "../auth/caller.ts";
import { inScope } from "../auth/filters.ts";
import { authorizedLookups } from "../auth/lookup.ts";
import type { Database } from "../db/database.ts";
import * as sql from "../db/sql/crons.ts";
import { idsInScope, searchPage, Where } from "../db/sql/search.ts";
import { ForbiddenError, InvalidInputError, NotFoundError } from "../errors.ts";
import type { Cron } from "../generated/prisma/client.ts";
import type { GraphRegistry } from "../graphs/registry.ts";
import { runnableConfigInput } from "../graphs/runnable-config.ts";
import type { MultitaskStrategy } from "../runs/service.ts";
import type { ThreadService } from "../threads/service.ts";
import { assertStorable, isUuid, jsonObject, pageArgs, uuid } from "../validation.ts";
import type { WebhookUrlPolicy } from "../webhooks/policy.ts";
import { webhookUrl } from "../webhooks/url.ts";
import { nextRunTime, parseSchedule, parseTimezone } from "./schedule.ts";

type OnCompletion = "DELETE" | "KEEP";

export interface CreateCronInput {
  assistantId: string;
  threadId?: string | null;
  schedule: string;
  timezone?: string | null;
  input?: unknown;
  config?: unknown;
  context?: unknown;
  metadata?: unknown;
  endTime?: Date | null;
  enabled?: boolean | null;
  onRunCompleted?: OnCompletion | null;
  multitaskStrategy?: MultitaskStrategy | null;
  interruptBefore?: readonly string[] | null;
  interruptAfter?: readonly string[] | null;
  webhook?: string | null;
}

/**
 * A partial update. An absent field keeps its value; an explicit null clears the fields that
 * may be empty (input, config, context, endTime, webhook) and is ignored for the others.
 */
export type UpdateCronInput = {
  [K in keyof Omit<CreateCronInput, "assistantId" | "threadId">]?: CreateCronInput[K] | null;
};

export interface CronFilter {
  assistantId?: string | null;
  threadId?: string | null;
  enabled?: boolean | null;
}

/**
 * Crons: a schedule that starts runs. One on a thread starts each run on that thread (under its
 * multitask strategy); one without starts each run on a new thread, deleted or kept when the run
 * ends (onRunCompleted). Firing is the scheduler's (scheduler.ts); this keeps the rows, and
 * `next_run_at` always says when the cron fires next (null: disabled, or its schedule is over).
 */
export function createCronService(deps: {
  db: Database;
  assistants: AssistantService;
  threads: ThreadService;
  graphs: GraphRegistry;
  authz: Authorizer;
  /** langgraph.json webhooks.url. */
  webhookPolicy?: WebhookUrlPolicy | null;
}) {
  const { prisma, pool } = deps.db;
  const { authz } = deps;

  const transaction = deps.db.transaction;

  /** The cron if it exists and the caller may do `action` to it (else null, as missing). */
  async function find(
    caller: Caller,
    id: string,
    action: AuthAction = "read",
    value: Record<string, unknown> = {},
  ): Promise<Cron | null> {
    if (!isUuid(id)) return null;
    const cronId = id.toLowerCase();
    // The handler gets `value` itself, so what it sets (an owner stamped on an update) is what
    // the caller stores.
    const scope = await authz.authorize(
      caller,
      "crons",
      action,
      Object.assign(value, { cron_id: cronId }),
    );
    if (scope && (await idsInScope(pool, "cron", [cronId], scope)).length === 0) return null;
    return prisma.cron.findUnique({ where: { id: cronId } });
  }

  const { get, require } = authorizedLookups("cron", find);

  async function checkNodes(graphId: string, field: string, names: readonly string[]) {
    if (names.length === 0) return;
    const graph = await deps.graphs.get(graphId, {});
    const known = Object.keys(graph.nodes).filter((n) => !n.startsWith("__"));
    const unknown = names.find((name) => name !== "*" && !known.includes(name));
    if (unknown !== undefined) {
      throw new InvalidInputError(
        `${field}: graph "${graphId}" has no node "${unknown}" (nodes: ${known.join(", ")})`,
        { field },
      );
    }
  }

  function checkEndTime(endTime: Date | null, now: Date, field: string) {
    if (endTime && endTime.getTime() <= now.getTime()) {
      throw new InvalidInputError(
        `${field} ${endTime.toISOString()} is not in the future (now: ${now.toISOString()})`,
        { field },
      );
    }
  }

  /** When a cron next fires, counted from the database's now(). */
  function nextFor(id: string, values: sql.CronValues, now: Date): Date | null {
    if (!values.enabled) return null;
    return nextRunTime(values.schedule, values.timezone, now, {
      endTime: values.end_time,
      seed: id,
    });
  }

  return {
    get,
    require,

    async create(caller: Caller, input: CreateCronInput): Promise<Cron> {
      const assistant = await deps.assistants.require(
        caller,
        input.assistantId,
        "input.assistantId",
      );
      let threadId: string | null = null;
      if (input.threadId != null) {
        threadId = uuid(input.threadId, "input.threadId");
        await deps.threads.require(caller, threadId, "input.threadId");
      }
      assertStorable("input.input", input.input);
      const values: sql.CronValues = {
        assistant_id: assistant.id,
        thread_id: threadId,
        schedule: parseSchedule(input.schedule, "input.schedule"),
        timezone: parseTimezone(input.timezone ?? "UTC", "input.timezone"),
        input: input.input ?? null,
        config: input.config == null ? null : runnableConfigInput(input.config, "input.config"),
        context: input.context == null ? null : jsonObject(input.context, "input.context"),
        metadata: jsonObject(input.metadata ?? {}, "input.metadata"),
        end_time: input.endTime ?? null,
        enabled: input.enabled ?? true,
        on_run_completed: input.onRunCompleted ?? "DELETE",
        multitask_strategy: input.multitaskStrategy ?? "ENQUEUE",
        interrupt_before: [...(input.interruptBefore ?? [])],
        interrupt_after: [...(input.interruptAfter ?? [])],
        webhook:
          input.webhook == null
            ? null
            : webhookUrl(input.webhook, "input.webhook", deps.webhookPolicy),
        next_run_at: null,
        auth_user: caller.user,
      };
      const id = randomUUID();
      if (authz.enabled) {
        const value = {
          cron_id: id,
          assistant_id: assistant.id,
          thread_id: threadId,
          schedule: values.schedule,
          end_time: values.end_time?.toISOString() ?? null,
          user_id: caller.identity,
          metadata: { ...values.metadata },
          payload: { input: values.input, config: values.config, context: values.context },
        };
        // The handler may stamp the cron (an owner in its metadata); it must stay visible to it.
        const scope = await authz.authorize(caller, "crons", "create", value);
        values.metadata = jsonObject(value.metadata ?? {}, "input.metadata");
        if (!inScope(values.metadata, scope)) {
          throw new ForbiddenError("the cron's metadata is outside what the auth handler allows", {
            field: "input.metadata",
          });
        }
      }
      await checkNodes(assistant.graphId, "input.interruptBefore", values.interrupt_before);
      await checkNodes(assistant.graphId, "input.interruptAfter", values.interrupt_after);
      await transaction(async (client) => {
        const now = await sql.transactionNow(client);
        checkEndTime(values.end_time, now, "input.endTime");
        values.next_run_at = nextFor(id, values, now);
        try {
          await sql.insertCron(client, id, values);
        } catch (error) {
          // The thread was deleted since we looked.
          if ((error as { code?: string }).code === "23503") {
            throw new NotFoundError(`thread "${threadId}" not found`, { field: "input.threadId" });
          }
          throw error;
        }
        await sql.notifyCronsChanged(client, id);
      });
      return (await get(caller, id))!;
    },

    async update(caller: Caller, id: string, input: UpdateCronInput): Promise<Cron> {
      const value = {
        schedule: input.schedule ?? null,
        metadata:
          input.metadata != null ? { ...jsonObject(input.metadata, "input.metadata") } : null,
        payload: { input: input.input, config: input.config, context: input.context },
      };
      const existing = await require(caller, id, "id", "update", value);
      if (value.metadata != null) input = { ...input, metadata: value.metadata };
      // Validated before any lock is taken; merged with the row as it is under the lock.
      const schedule =
        input.schedule == null ? null : parseSchedule(input.schedule, "input.schedule");
      const timezone =
        input.timezone == null ? null : parseTimezone(input.timezone, "input.timezone");
      const webhook =
        input.webhook == null
          ? input.webhook
          : webhookUrl(input.webhook, "input.webhook", deps.webhookPolicy);
      assertStorable("input.input", input.input);
      if (input.config != null) runnableConfigInput(input.config, "input.config");
      if (input.context != null) jsonObject(input.context, "input.context");
      if (input.metadata != null) jsonObject(input.metadata, "input.metadata");
      if (input.interruptBefore || input.interruptAfter) {
        const { graphId } = await deps.assistants.require(caller, existing.assistantId, "id");
        await checkNodes(graphId, "input.interruptBefore", input.interruptBefore ?? []);
        await checkNodes(graphId, "input.interruptAfter", input.interruptAfter ?? []);
      }
      await transaction(async (client) => {
        const row = await sql.lockCron(client, existing.id);
        if (!row) throw new NotFoundError(`cron "${id}" not found`, { field: "id" });
        const now = await sql.transactionNow(client);
        const { id: _id, last_run_at: _last, ...current } = row;
        const merged: sql.CronValues = {
          ...current,
          schedule: schedule ?? current.schedule,
          timezone: timezone ?? current.timezone,
          input: input.input === undefined ? current.input : input.input,
          config: input.config === undefined ? current.config : input.config,
          context: input.context === undefined ? current.context : input.context,
          metadata: (input.metadata as Record<string, unknown> | null) ?? current.metadata,
          end_time: input.endTime === undefined ? current.end_time : input.endTime,
          enabled: input.enabled ?? current.enabled,
          on_run_completed: input.onRunCompleted ?? current.on_run_completed,
          multitask_strategy: input.multitaskStrategy ?? current.multitask_strategy,
          interrupt_before: input.interruptBefore
            ? [...input.interruptBefore]
            : current.interrupt_before,
          interrupt_after: input.interruptAfter
            ? [...input.interruptAfter]
            : current.interrupt_after,
          webhook: webhook === undefined ? current.webhook : webhook,
        };
        if (input.endTime != null) checkEndTime(input.endTime, now, "input.endTime");
        const timing =
          merged.schedule !== current.schedule ||
          merged.timezone !== current.timezone ||
          merged.enabled !== current.enabled ||
          merged.end_time?.getTime() !== current.end_time?.getTime();
        // Only a change of timing moves the next run: recounted from now, so re-enabling (or
        // rescheduling) never fires for slots that passed meanwhile. Any other edit keeps it, so
        // an edit made just as a slot falls due cannot skip that slot.
        if (timing) merged.next_run_at = nextFor(row.id, merged, now);
        await sql.updateCron(client, row.id, merged);
        await sql.notifyCronsChanged(client, row.id);
      });
      return (await get(caller, existing.id))!;
    },

    async delete(caller: Caller, id: string): Promise<string> {
      const cron = await require(caller, id, "id", "delete");
      // Waits for a scheduler firing it: a fire either happened before the delete or not at all.
      if (!(await sql.deleteCron(pool, cron.id))) {
        throw new NotFoundError(`cron "${id}" not found`, { field: "id" });
      }
      return cron.id;
    },

    async list(
      caller: Caller,
      filter: CronFilter | null | undefined,
      page: { first?: number | null; offset: number },
    ) {
      const { limit } = pageArgs(page.first);
      const where = new Where();
      let assistantId: string | null = null;
      if (filter?.assistantId != null) {
        // A graph id stands for its default assistant here too; anything else matches nothing.
        assistantId = deps.assistants.resolveId(filter.assistantId);
        if (!assistantId) return { items: [], total: 0, offset: page.offset };
        where.equals("assistant_id", assistantId, "::uuid");
      }
      const threadId = filter?.threadId != null ? uuid(filter.threadId, "filter.threadId") : null;
      if (threadId) where.equals("thread_id", threadId, "::uuid");
      if (filter?.enabled != null) where.equals("enabled", filter.enabled);
      const scope = await authz.authorize(caller, "crons", "search", {
        assistant_id: assistantId,
        thread_id: threadId,
        limit,
        offset: page.offset,
      });
      if (scope) where.contains("metadata", scope);
      const { ids, total } = await searchPage(
        pool,
        "cron",
        where,
        { column: "created_at", direction: "DESC" },
        limit,
        page.offset,
      );
      const rows = await prisma.cron.findMany({ where: { id: { in: ids } } });
      const byId = new Map(rows.map((row) => [row.id, row]));
      const items = ids.map((id) => byId.get(id)).filter((row): row is Cron => row !== undefined);
      return { items, total, offset: page.offset };
    },
  };
}

export type CronService = ReturnType<typeof createCronService>;
