import type pg from "pg";
import type { Database } from "../db/database.ts";
import * as sql from "../db/sql/webhooks.ts";
import type { Logger } from "../log.ts";
import { type Boss, inTransaction, WEBHOOK_QUEUE, type WebhookJob } from "../queue/boss.ts";
import { createFetchLoop } from "../queue/fetch-loop.ts";
import type { Notifier } from "../queue/notifier.ts";
import { policyProblem } from "./policy.ts";
import { jobOptions, type WebhookOptions } from "./service.ts";
import { webhookHeaders, webhookKey } from "./signature.ts";
import { DeliveryError, postTo, type Resolver, resolveTarget } from "./target.ts";

/**
 * Delivers webhooks: takes delivery jobs from pg-boss and POSTs them. Like the run worker, it
 * fetches when told (a NOTIFY from whoever owed or rescheduled a delivery), when the earliest
 * retry falls due (measured on the database clock), and once a second as a safety net.
 *
 * An attempt that fails is recorded (status code, error) and, unless it was the last allowed or
 * the failure is permanent (a refused target), a new job is queued for the backoff time in the
 * same transaction that completes the current one. Nothing here touches runs: a receiver that is
 * down, slow or hostile costs a delivery its attempts, never a run or a worker.
 */
export function createWebhookDeliverer(deps: {
  db: Database;
  boss: Boss;
  notifier: Notifier;
  log: Logger;
  options: WebhookOptions & { userAgent: string; concurrency?: number };
  /** Replaces DNS (tests). */
  resolver?: Resolver;
}) {
  const { db, boss, notifier, log, options } = deps;
  const key = options.secret ? webhookKey(options.secret) : null;
  const concurrency = options.concurrency ?? 10;
  const active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const unsubscribe: Array<() => void> = [];
  let safety: NodeJS.Timeout | null = null;
  let dueTimer: NodeJS.Timeout | null = null;
  const queue = createFetchLoop<WebhookJob, never>({
    boss,
    queue: WEBHOOK_QUEUE,
    log,
    free: () => concurrency - active.size,
    start: (job) => start(job.id, job.data.deliveryId),
    whenEmpty: () => armDueTimer(),
  });
  const kick = () => queue.kick();

  async function armDueTimer() {
    const ms = await sql.msUntilNextAttempt(db.pool);
    if (dueTimer) clearTimeout(dueTimer);
    dueTimer = null;
    // Due now but not fetchable: another process has it in hand; the safety tick covers it.
    if (ms !== null && ms > 0) dueTimer = setTimeout(() => void kick(), Math.min(ms, 60_000) + 5);
  }

  function start(jobId: string, deliveryId: string) {
    const controller = new AbortController();
    const done = attempt(jobId, deliveryId, controller.signal)
      .catch((error) => log.error("webhook delivery attempt failed", { deliveryId, error }))
      .finally(() => {
        active.delete(jobId);
        void kick();
      });
    active.set(jobId, { controller, done });
  }

  async function attempt(jobId: string, deliveryId: string, shutdown: AbortSignal) {
    const delivery = await sql.beginAttempt(db.pool, deliveryId);
    if (!delivery) {
      await boss.complete(WEBHOOK_QUEUE, jobId).catch(() => undefined);
      return;
    }
    const timeoutMs = options.timeoutSeconds * 1000;
    const signal = AbortSignal.any([shutdown, AbortSignal.timeout(timeoutMs)]);
    let statusCode: number | null = null;
    try {
      const url = new URL(delivery.url);
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new DeliveryError(`not an http(s) URL: ${delivery.url}`, { permanent: true });
      }
      const refused = options.urlPolicy
        ? policyProblem(url, delivery.url, options.urlPolicy)
        : null;
      if (refused) {
        throw new DeliveryError(`refused by webhooks.url: the URL ${refused}`, { permanent: true });
      }
      const target = await resolveTarget(url, {
        allowPrivate: options.allowPrivateTargets,
        resolver: deps.resolver,
        signal,
      });
      const body = JSON.stringify(delivery.payload);
      // The database's clock, like every other time here: a process with a wrong clock must not
      // send timestamps that receivers reject as replays.
      const timestamp = Number(delivery.now_seconds);
      const response = await postTo(
        url,
        target,
        body,
        {
          // The deployment's own headers, without overriding those the protocol needs.
          ...options.headers,
          "content-type": "application/json",
          "user-agent": options.userAgent,
          ...webhookHeaders(key, delivery.id, timestamp, body),
        },
        signal,
      );
      statusCode = response.statusCode;
      if (statusCode < 200 || statusCode >= 300) {
        throw new DeliveryError(
          `HTTP ${statusCode}${response.snippet ? `: ${response.snippet}` : ""}`,
          { statusCode },
        );
      }
    } catch (caught) {
      const error = describe(caught, signal, shutdown, options.timeoutSeconds);
      await settleFailure(jobId, delivery, statusCode, error);
      return;
    }
    await settle(jobId, async (client) => sql.markDelivered(client, delivery.id, statusCode!));
    log.debug("webhook delivered", {
      deliveryId: delivery.id,
      runId: delivery.run_id,
      attempt: delivery.attempts,
      statusCode,
    });
  }

  async function settleFailure(
    jobId: string,
    delivery: sql.AttemptRow,
    statusCode: number | null,
    error: DeliveryError,
  ) {
    const fields = {
      deliveryId: delivery.id,
      runId: delivery.run_id,
      url: redact(delivery.url),
      attempt: delivery.attempts,
      statusCode,
      error: error.message,
    };
    if (error.permanent || delivery.attempts >= options.maxAttempts) {
      await settle(jobId, (client) =>
        sql.markFailed(client, delivery.id, statusCode, error.message),
      );
      log.warn(
        error.permanent
          ? "webhook delivery refused; not retrying"
          : `webhook delivery failed ${delivery.attempts} time(s); giving up`,
        fields,
      );
      return;
    }
    const delay = backoffSeconds(delivery.attempts, options);
    await settle(jobId, async (client) => {
      const next = await sql.scheduleRetry(client, delivery.id, statusCode, error.message, delay);
      await boss.send(WEBHOOK_QUEUE, { deliveryId: delivery.id } satisfies WebhookJob, {
        ...jobOptions(options),
        startAfter: next,
        db: inTransaction(client),
      });
      await client.query("SELECT pg_notify($1, $2)", [sql.WEBHOOKS_CHANNEL, delivery.id]);
    });
    log.warn("webhook delivery attempt failed; retrying", { ...fields, retryInSeconds: delay });
  }

  /** Records an attempt's outcome and completes its job, atomically. */
  async function settle(
    jobId: string,
    record: (client: pg.PoolClient) => Promise<unknown>,
  ): Promise<void> {
    await db.transaction(async (client) => {
      await record(client);
      await boss.complete(WEBHOOK_QUEUE, jobId, { db: inTransaction(client) });
    });
  }

  return {
    async start() {
      if (!key) log.warn("WEBHOOK_SECRET is not set: webhooks are sent without webhook-signature");
      unsubscribe.push(
        notifier.on(sql.WEBHOOKS_CHANNEL, () => void kick()),
        notifier.on("reconnected", () => void kick()),
      );
      safety = setInterval(() => void kick(), 1000);
      await kick();
    },

    /**
     * Stops fetching and lets attempts under way finish within `graceMs`; the rest are cut
     * short and recorded as failed attempts (retried later by any process).
     */
    async stop(graceMs = 5_000) {
      queue.stop();
      if (safety) clearInterval(safety);
      if (dueTimer) clearTimeout(dueTimer);
      for (const off of unsubscribe) off();
      const all = () => Promise.all([...active.values()].map((a) => a.done));
      const finished = await Promise.race([
        all().then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
      ]);
      if (!finished) {
        for (const { controller } of active.values()) controller.abort(new Error("shutting down"));
        await all();
      }
    },
  };
}

export type WebhookDeliverer = ReturnType<typeof createWebhookDeliverer>;

/** Exponential backoff with jitter: base, 2x base, 4x base, ... (each +-25%), capped. */
export function backoffSeconds(
  attempts: number,
  options: Pick<WebhookOptions, "retryBaseSeconds" | "retryMaxSeconds">,
): number {
  const exact = options.retryBaseSeconds * 2 ** Math.min(attempts - 1, 30);
  const jittered = exact * (0.75 + Math.random() * 0.5);
  return Math.min(jittered, options.retryMaxSeconds);
}

function describe(
  caught: unknown,
  signal: AbortSignal,
  shutdown: AbortSignal,
  timeoutSeconds: number,
): DeliveryError {
  if (caught instanceof DeliveryError) return caught;
  if (shutdown.aborted) return new DeliveryError("the server shut down during the attempt");
  if (signal.aborted) return new DeliveryError(`timed out after ${timeoutSeconds} s`);
  const error = caught as NodeJS.ErrnoException;
  return new DeliveryError(error.code ? `${error.code}: ${error.message}` : String(error.message));
}

/** A URL for the log, without its query string (which may carry tokens). */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}
