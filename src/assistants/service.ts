import type { Database } from "../db/database.ts";
import { defaultAssistantId } from "../graphs/load.ts";

export const SYSTEM_METADATA = { created_by: "system" } as const;

export function createAssistantService(deps: { db: Database }) {
  const { prisma } = deps.db;
  return {
    /**
     * Each graph's default assistant, with the id LangGraph derives from the graph id. Inserts
     * that lose a race with another process starting at the same time are skipped, so two
     * servers on one database end up with exactly one default assistant per graph.
     */
    async ensureDefaultAssistants(graphIds: string[]): Promise<void> {
      const rows = graphIds.map((graphId) => ({
        id: defaultAssistantId(graphId),
        graphId,
        name: graphId,
        config: {},
        context: {},
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
