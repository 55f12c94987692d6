import { randomUUID } from "node:crypto";
import type { AuthAction, Authorizer } from "../auth/authorizer.ts";
import type { Caller } from "../auth/caller.ts";
import { inScope } from "../auth/filters.ts";
import { authorizedLookups } from "../auth/lookup.ts";
import type { Database } from "../db/database.ts";
import { assistantById, stampedAssistantById } from "../db/sql/reads.ts";
import {
  assistantVersionsPage,
  type Direction,
  idsInScope,
  searchPage,
  Where,
} from "../db/sql/search.ts";
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from "../errors.ts";
import type { Assistant, AssistantVersion } from "../generated/prisma/client.ts";
import { defaultAssistantId } from "../graphs/load.ts";
import type { GraphRegistry } from "../graphs/registry.ts";
import { runnableConfigInput } from "../graphs/runnable-config.ts";
import { WeightedLru } from "../lru.ts";
import { isUuid, type JsonObject, jsonObject, pageArgs } from "../validation.ts";

export const SYSTEM_METADATA = { created_by: "system" } as const;

export interface AssistantFilter {
  graphId?: string | null;
  name?: string | null;
  metadata?: unknown;
}

export type AssistantOrderField = "CREATED_AT" | "UPDATED_AT" | "NAME" | "GRAPH_ID";

const orderColumns: Record<AssistantOrderField, string> = {
  CREATED_AT: "created_at",
  UPDATED_AT: "updated_at",
  NAME: "name",
  GRAPH_ID: "graph_id",
};

export interface CreateAssistantInput {
  assistantId?: string | null;
  graphId: string;
  name?: string | null;
  description?: string | null;
  config?: unknown;
  context?: unknown;
  metadata?: unknown;
  ifExists?: "RAISE" | "DO_NOTHING" | null;
}

export interface UpdateAssistantInput {
  graphId?: string | null;
  name?: string | null;
  description?: string | null;
  config?: unknown;
  context?: unknown;
  metadata?: unknown;
}

/** Assistants remembered for runs (see forRun); the least recently used is forgotten first. */
const REMEMBERED_ASSISTANTS = 1000;

export function createAssistantService(deps: {
  db: Database;
  graphs: GraphRegistry;
  /** Removes a thread's checkpoints, which live outside the thread row's cascade. */
  deleteCheckpoints: (threadId: string) => Promise<void>;
  authz: Authorizer;
}) {
  const { prisma, pool } = deps.db;
  const { graphs, authz } = deps;

  function checkGraph(graphId: string, field = "graphId") {
    if (!graphs.has(graphId)) {
      throw new NotFoundError(
        `graph "${graphId}" is not in langgraph.json (known: ${graphs.ids().join(", ")})`,
        { field },
      );
    }
  }

  /** An assistant id, or a graph id standing for its default assistant; null if neither. */
  function resolveId(idOrGraphId: string): string | null {
    if (graphs.has(idOrGraphId)) return defaultAssistantId(idOrGraphId);
    return isUuid(idOrGraphId) ? idOrGraphId.toLowerCase() : null;
  }

  function isDefault(assistant: Pick<Assistant, "id" | "graphId">) {
    return assistant.id === defaultAssistantId(assistant.graphId);
  }

  /** The assistant if it exists and the caller may do `action` to it (else null, as missing). */
  async function find(
    caller: Caller,
    idOrGraphId: string,
    action: AuthAction = "read",
    value: Record<string, unknown> = {},
  ): Promise<Assistant | null> {
    const id = resolveId(idOrGraphId);
    if (!id) return null;
    // The handler gets `value` itself, so what it sets (an owner stamped on an update) is what
    // the caller stores.
    const scope = await authz.authorize(
      caller,
      "assistants",
      action,
      Object.assign(value, { assistant_id: id }),
    );
    return assistantById(pool, id, scope);
  }

  const { get, require } = authorizedLookups("assistant", find);

  /**
   * Assistants as runs last found them, with their row versions. Kept only for callers no
   * assistant filter applies to. A run's insert checks the version (see runs' `assistantStamp`),
   * so an assistant updated or re-created since costs that run a fresh lookup, never its config.
   */
  const forRuns = new WeightedLru<{ assistant: Assistant; stamp: string }>(
    REMEMBERED_ASSISTANTS,
    () => 1,
  );

  return {
    resolveId,
    get,
    require,

    /**
     * The assistant a run on `idOrGraphId` uses (NOT_FOUND as `require`). `stamp` is set when it
     * comes from memory: the run's insert must find the assistant's row at that version. With
     * `fresh`, it is read again.
     */
    async forRun(
      caller: Caller,
      idOrGraphId: string,
      field: string,
      fresh = false,
    ): Promise<{ assistant: Assistant; stamp: string | null }> {
      const id = resolveId(idOrGraphId);
      const scope = id
        ? await authz.authorize(caller, "assistants", "read", { assistant_id: id })
        : null;
      const remembered = id && scope === null && !fresh ? forRuns.get(id) : undefined;
      if (remembered) return remembered;
      const found = id ? await stampedAssistantById(pool, id, scope) : null;
      if (!found) throw new NotFoundError(`assistant "${idOrGraphId}" not found`, { field });
      if (scope === null) forRuns.set(found.assistant.id, found);
      return { assistant: found.assistant, stamp: null };
    },

    async search(
      caller: Caller,
      filter: AssistantFilter | null | undefined,
      order: { field: AssistantOrderField; direction: Direction } | null | undefined,
      page: { first?: number | null; offset: number },
    ) {
      const where = new Where();
      const scope = await authz.authorize(caller, "assistants", "search", {
        graph_id: filter?.graphId ?? null,
        metadata: filter?.metadata ?? null,
        limit: page.first ?? 10,
        offset: page.offset,
      });
      if (scope) where.contains("metadata", scope);
      if (filter?.graphId != null) where.equals("graph_id", filter.graphId);
      if (filter?.name != null) where.ilike("name", filter.name);
      if (filter?.metadata != null) {
        where.contains("metadata", jsonObject(filter.metadata, "filter.metadata"));
      }
      const { limit } = pageArgs(page.first);
      return searchPage(
        pool,
        "assistant",
        where,
        {
          column: orderColumns[order?.field ?? "CREATED_AT"],
          direction: order?.direction ?? "DESC",
        },
        limit,
        page.offset,
      );
    },

    async create(caller: Caller, input: CreateAssistantInput): Promise<Assistant> {
      checkGraph(input.graphId);
      const id = input.assistantId ?? randomUUID();
      if (!isUuid(id)) {
        throw new InvalidInputError(`assistantId must be a UUID, got "${id}"`, {
          field: "assistantId",
        });
      }
      const value = {
        assistant_id: id.toLowerCase(),
        graph_id: input.graphId,
        name: input.name ?? "Untitled",
        description: input.description ?? null,
        config: { ...jsonObject(input.config ?? {}, "config") },
        context: { ...jsonObject(input.context ?? {}, "context") },
        metadata: { ...jsonObject(input.metadata ?? {}, "metadata") },
        if_exists: input.ifExists === "DO_NOTHING" ? "do_nothing" : "raise",
      };
      // The handler may stamp the new assistant (an owner in its metadata, say).
      const scope = await authz.authorize(caller, "assistants", "create", value);
      const fields = {
        graphId: input.graphId,
        name: value.name,
        description: value.description,
        config: runnableConfigInput(value.config, "config"),
        context: jsonObject(value.context, "context"),
        metadata: jsonObject(value.metadata, "metadata"),
      };
      if (!inScope(fields.metadata, scope)) {
        throw new ForbiddenError(
          "the assistant's metadata is outside what the auth handler allows",
          { field: "metadata" },
        );
      }
      if (await prisma.assistant.count({ where: { id } })) {
        // Only an assistant the caller can read is handed back; someone else's is a clash.
        const visible = input.ifExists === "DO_NOTHING" ? await get(caller, id) : null;
        if (visible) return visible;
        throw new ConflictError(`assistant "${id}" already exists`, { field: "assistantId" });
      }
      try {
        const [assistant] = await prisma.$transaction([
          prisma.assistant.create({ data: { id, version: 1, ...fields } }),
          prisma.assistantVersion.create({ data: { assistantId: id, version: 1, ...fields } }),
        ]);
        return assistant;
      } catch (error) {
        // Lost a race with a concurrent create of the same id.
        if ((error as { code?: string }).code === "P2002") {
          const visible = input.ifExists === "DO_NOTHING" ? await get(caller, id) : null;
          if (visible) return visible;
          throw new ConflictError(`assistant "${id}" already exists`, { field: "assistantId" });
        }
        throw error;
      }
    },

    /**
     * Every update, even an empty one, is a new version that becomes the active one (as on
     * LangGraph Platform). config and context replace; metadata merges.
     */
    async update(caller: Caller, idOrGraphId: string, input: UpdateAssistantInput) {
      const value = {
        graph_id: input.graphId ?? null,
        name: input.name ?? null,
        description: input.description ?? null,
        config: input.config != null ? { ...jsonObject(input.config, "input.config") } : null,
        context: input.context != null ? { ...jsonObject(input.context, "input.context") } : null,
        metadata:
          input.metadata != null ? { ...jsonObject(input.metadata, "input.metadata") } : null,
      };
      const current = await require(caller, idOrGraphId, "id", "update", value);
      if (input.graphId != null) checkGraph(input.graphId, "input.graphId");
      const config =
        value.config != null ? runnableConfigInput(value.config, "input.config") : undefined;
      const context =
        value.context != null ? jsonObject(value.context, "input.context") : undefined;
      const metadata =
        value.metadata != null ? jsonObject(value.metadata, "input.metadata") : undefined;
      return prisma.$transaction(async (tx) => {
        // Touching the row first takes its lock, so concurrent updates number their versions
        // one after the other instead of colliding.
        const fresh = await tx.assistant.update({
          where: { id: current.id },
          data: { updatedAt: new Date() },
        });
        const last = await tx.assistantVersion.aggregate({
          where: { assistantId: current.id },
          _max: { version: true },
        });
        const version = (last._max.version ?? 0) + 1;
        const fields = {
          graphId: input.graphId ?? fresh.graphId,
          name: input.name ?? fresh.name,
          description: input.description !== undefined ? input.description : fresh.description,
          config: (config ?? fresh.config) as JsonObject,
          context: (context ?? fresh.context) as JsonObject,
          metadata: { ...(fresh.metadata as JsonObject), ...(metadata ?? {}) },
        };
        await tx.assistantVersion.create({
          data: { assistantId: current.id, version, ...fields },
        });
        return tx.assistant.update({
          where: { id: current.id },
          data: { ...fields, version },
        });
      });
    },

    /** Makes an earlier version the active one, restoring everything it recorded. */
    async setVersion(caller: Caller, idOrGraphId: string, version: number) {
      const current = await require(caller, idOrGraphId, "id", "update", { version });
      const chosen = await prisma.assistantVersion.findUnique({
        where: { assistantId_version: { assistantId: current.id, version } },
      });
      if (!chosen) {
        throw new NotFoundError(`assistant "${current.id}" has no version ${version}`, {
          field: "version",
        });
      }
      return prisma.assistant.update({
        where: { id: current.id },
        data: {
          version,
          graphId: chosen.graphId,
          name: chosen.name,
          description: chosen.description,
          config: chosen.config as object,
          context: chosen.context as object,
          metadata: chosen.metadata as object,
        },
      });
    },

    async versions(
      caller: Caller,
      assistantId: string,
      metadata: unknown,
      page: { first?: number | null; offset: number },
    ): Promise<{ rows: AssistantVersion[]; total: number }> {
      const { limit } = pageArgs(page.first);
      const filter = metadata != null ? jsonObject(metadata, "metadata") : null;
      const result = await assistantVersionsPage(pool, assistantId, filter, limit, page.offset);
      void caller;
      return {
        total: result.total,
        rows: result.rows.map((row) => ({
          assistantId: row.assistant_id,
          version: row.version,
          graphId: row.graph_id,
          name: row.name,
          description: row.description,
          config: row.config as AssistantVersion["config"],
          context: row.context as AssistantVersion["context"],
          metadata: row.metadata as AssistantVersion["metadata"],
          createdAt: row.created_at,
        })),
      };
    },

    /**
     * A graph's default assistant is refused: it stands for the graph id everywhere, and
     * LangGraph would only recreate it on the next start.
     */
    async delete(
      caller: Caller,
      idOrGraphId: string,
      options: { deleteThreads: boolean },
    ): Promise<string> {
      const assistant = await require(caller, idOrGraphId, "id", "delete");
      if (isDefault(assistant)) {
        throw new ConflictError(
          `assistant "${assistant.id}" is the default assistant of graph "${assistant.graphId}" and cannot be deleted`,
          { field: "id" },
        );
      }
      if (options.deleteThreads) {
        let threads = await prisma.thread.findMany({
          where: {
            OR: [
              { metadata: { path: ["assistant_id"], equals: assistant.id } },
              { runs: { some: { assistantId: assistant.id } } },
            ],
          },
          select: { id: true },
        });
        // Threads of other users who ran this assistant are theirs to delete, not the caller's.
        const scope = await authz.authorize(caller, "threads", "delete", {
          assistant_id: assistant.id,
        });
        if (scope) {
          const mine = new Set(
            await idsInScope(
              pool,
              "thread",
              threads.map((t) => t.id),
              scope,
            ),
          );
          threads = threads.filter((t) => mine.has(t.id));
        }
        await prisma.thread.deleteMany({ where: { id: { in: threads.map((t) => t.id) } } });
        for (const thread of threads) await deps.deleteCheckpoints(thread.id);
      }
      await prisma.assistant.delete({ where: { id: assistant.id } });
      return assistant.id;
    },

    /**
     * Each graph's default assistant, with the id LangGraph derives from the graph id, created
     * with the graph's `defaults` (LANGGRAPH_CONFIG). Like LangGraph's server, an existing one is
     * left as it is: it may have been edited since. Inserts that lose a race with another process
     * starting at the same time are skipped, so two servers on one database end up with exactly
     * one default assistant per graph.
     */
    async ensureDefaultAssistants(
      graphIds: string[],
      defaults: Record<string, { config: JsonObject; context: JsonObject }> = {},
    ): Promise<void> {
      const rows = graphIds.map((graphId) => ({
        id: defaultAssistantId(graphId),
        graphId,
        name: graphId,
        config: defaults[graphId]?.config ?? {},
        context: defaults[graphId]?.context ?? {},
        metadata: SYSTEM_METADATA,
      }));
      await prisma.$transaction([
        prisma.assistant.createMany({ data: rows, skipDuplicates: true }),
        prisma.assistantVersion.createMany({
          data: rows.map(({ id, ...row }) => ({ assistantId: id, version: 1, ...row })),
          skipDuplicates: true,
        }),
      ]);
    },
  };
}

export type AssistantService = ReturnType<typeof createAssistantService>;
