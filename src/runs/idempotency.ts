import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import type { Caller } from "../auth/caller.ts";
import {
  claimIdempotencyKey,
  releaseIdempotencyKey,
  sweepIdempotencyKeys,
} from "../db/sql/idempotency.ts";
import { ConflictError, InvalidInputError } from "../errors.ts";

/** A key is remembered this long: a retry within it never creates a second run. */
const IDEMPOTENCY_RETENTION_SECONDS = 24 * 3600;
/** A key whose run has not appeared this long after its claim is free again (its creator died). */
const STALE_CLAIM_SECONDS = 30;
/** How often a request that found its key mid-creation looks again. */
const POLL_MS = 50;
const SWEEP_EVERY_MS = 3600_000;

const FIELD = "input.idempotencyKey";

/**
 * RunInput.idempotencyKey: a retried createRun, waitRun or streamRun finds the run its key made
 * (for the same caller) instead of creating another. The key is claimed in its own statement
 * before the run is created under the id it names, so two requests racing with one key (on any
 * processes) agree on one run.
 */
export function createIdempotencyKeys(deps: { pool: pg.Pool }) {
  let sweptAt = 0;

  function claimOf(caller: Caller, input: { idempotencyKey?: string | null }, runId: string) {
    const key = input.idempotencyKey;
    if (key == null) return null;
    if (key.length === 0 || key.length > 255) {
      throw new InvalidInputError("an idempotency key has 1 to 255 characters", { field: FIELD });
    }
    const { idempotencyKey: _key, ...rest } = input;
    return { caller: caller.identity ?? "", key, inputHash: hashOf(rest), runId };
  }

  return {
    /**
     * With a key: null when this request now holds it and creates run `runId`; else the id of
     * the run the key already made (waiting while another request is still creating it).
     * CONFLICT when the key came with a different input. Without a key: null.
     */
    async existingRun(
      caller: Caller,
      input: { idempotencyKey?: string | null },
      runId: string,
    ): Promise<string | null> {
      const claim = claimOf(caller, input, runId);
      if (!claim) return null;
      if (Date.now() - sweptAt > SWEEP_EVERY_MS) {
        sweptAt = Date.now();
        void sweepIdempotencyKeys(deps.pool, IDEMPOTENCY_RETENTION_SECONDS).catch(() => {});
      }
      const limits = {
        staleSeconds: STALE_CLAIM_SECONDS,
        retentionSeconds: IDEMPOTENCY_RETENTION_SECONDS,
      };
      for (;;) {
        const holder = await claimIdempotencyKey(deps.pool, claim, limits);
        if (holder.mine) return null;
        if (holder.runId && holder.inputHash !== claim.inputHash) {
          throw new ConflictError(
            `idempotency key "${claim.key}" was already used with a different input`,
            { field: FIELD },
          );
        }
        if (holder.made) return holder.runId;
        // Another request holds the key and is creating its run (or died doing so: its claim
        // goes stale, and the next look takes it over).
        await sleep(POLL_MS);
      }
    },

    /** Creates with `create`, giving the key back if the run was never created. */
    async creating<T>(
      caller: Caller,
      input: { idempotencyKey?: string | null },
      runId: string,
      create: () => Promise<T>,
    ): Promise<T> {
      try {
        return await create();
      } catch (error) {
        const key = input.idempotencyKey;
        if (key != null) {
          const held = { caller: caller.identity ?? "", key, runId };
          await releaseIdempotencyKey(deps.pool, held).catch(() => {});
        }
        throw error;
      }
    },
  };
}

/** The same input, whatever the order of its objects' keys, hashes the same. */
function hashOf(value: unknown): string {
  const sorted = JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
  return createHash("sha256")
    .update(sorted ?? "")
    .digest("hex");
}
