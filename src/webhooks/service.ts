import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { Database } from "../db/database.ts";
import * as sql from "../db/sql/webhooks.ts";
import type { WebhookDelivery } from "../generated/prisma/client.ts";
import type { Logger } from "../log.ts";
import { type Boss, inTransaction, WEBHOOK_QUEUE, type WebhookJob } from "../queue/boss.ts";
import type { WebhookUrlPolicy } from "./policy.ts";

export interface WebhookOptions {
  secret: string | null;
  /** langgraph.json webhooks.url; null: any URL url.ts accepts. */
  urlPolicy?: WebhookUrlPolicy | null;
  /** langgraph.json webhooks.headers, templates resolved: sent with every delivery. */
  headers?: Record<string, string>;
  allowPrivateTargets: boolean;
  maxAttempts: number;
  timeoutSeconds: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
}

/** What a run-end hook receives: the run, or (from the lease reaper) just its id. */
export interface EndedRun {
  id: string;
  /** When known: null means the run has no webhook (saves a read). */
  webhook?: string | null;
}

/**
 * The body POSTed for a finished run: the contract's Run fields (camelCase, as the GraphQL API
 * shows them), plus the state values the run left and the cron that started it.
 */
export function webhookPayload(row: sql.WebhookRunRow): Record<string, unknown> {
  return {
    id: row.id,
    threadId: row.thread_id,
    assistantId: row.assistant_id,
    cronId: row.cron_id,
    status: row.status,
    multitaskStrategy: row.multitask_strategy,
    input: row.input,
    command: row.command,
    config: row.config,
    context: row.context,
    metadata: row.metadata,
    attempt: row.attempt,
    error: row.error,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    endedAt: row.ended_at?.toISOString() ?? null,
    values: row.values ?? null,
  };
}

/**
 * Webhooks owed by finished runs. `onRunEnded` runs inside the transaction that records a run's
 * end (from the executor and from the lease reaper): the delivery row and its first job commit
 * exactly when the end does. Delivering is the deliverer's (deliverer.ts).
 */
export function createWebhookService(deps: {
  db: Database;
  boss: Boss;
  log: Logger;
  options: WebhookOptions;
}) {
  const { boss, log, options } = deps;

  async function owe(client: pg.PoolClient, runId: string) {
    const row = await sql.webhookRun(client, runId);
    if (!row) return;
    const id = randomUUID();
    await sql.insertDelivery(client, { id, runId, url: row.webhook, payload: webhookPayload(row) });
    await boss.send(WEBHOOK_QUEUE, { deliveryId: id } satisfies WebhookJob, {
      db: inTransaction(client),
      ...jobOptions(options),
    });
    await client.query("SELECT pg_notify($1, $2)", [sql.WEBHOOKS_CHANNEL, id]);
  }

  return {
    async onRunEnded(client: pg.PoolClient, run: EndedRun): Promise<void> {
      if (run.webhook === null) return;
      // A webhook must never cost a run its end: if owing it fails, the end still commits
      // (without the delivery) and the failure is logged.
      await client.query("SAVEPOINT webhook_delivery");
      try {
        await owe(client, run.id);
        await client.query("RELEASE SAVEPOINT webhook_delivery");
      } catch (error) {
        log.error("could not record a webhook delivery; the run ends without it", {
          runId: run.id,
          error,
        });
        await client.query("ROLLBACK TO SAVEPOINT webhook_delivery").catch(() => undefined);
      }
    },

    /** A run's deliveries, oldest first (one per run end; a run ends once). */
    deliveries(runId: string): Promise<WebhookDelivery[]> {
      return deps.db.prisma.webhookDelivery.findMany({
        where: { runId },
        orderBy: { createdAt: "asc" },
      });
    },
  };
}

/**
 * pg-boss options of a delivery job. Our own table drives retries; pg-boss's retryLimit only
 * brings back a job whose process died mid-attempt (the job expires after the attempt's limit
 * plus a margin), and each such revival counts as an attempt.
 */
export function jobOptions(options: WebhookOptions) {
  return {
    retryLimit: options.maxAttempts,
    retryDelay: 1,
    expireInSeconds: Math.ceil(options.timeoutSeconds) + 30,
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
