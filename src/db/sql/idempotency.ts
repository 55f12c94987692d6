import type pg from "pg";

/** Idempotency keys of run creation (table run_idempotency_key, see prisma/schema.prisma). */

type Queryable = Pick<pg.Pool, "query"> | Pick<pg.ClientBase, "query">;

export interface KeyClaim {
  caller: string;
  key: string;
  inputHash: string;
  runId: string;
}

export interface KeyHolder {
  /** The claim took the key (new, or taken over): the caller creates the run. */
  mine: boolean;
  runId: string;
  inputHash: string;
  /** Whether the holder's run exists, or ended and left its outcome (a deleted stateless run). */
  made: boolean;
}

/**
 * Makes `claim.key` this caller's key for `claim.runId`, or says whose it is. A key is taken over
 * when it is older than `retentionSeconds`, or when its run never appeared `staleSeconds` after
 * it was claimed (its creator failed or died between the claim and the run's insert). One
 * statement: concurrent claims of one key serialise on its primary key.
 */
export async function claimIdempotencyKey(
  db: Queryable,
  claim: KeyClaim,
  limits: { staleSeconds: number; retentionSeconds: number },
): Promise<KeyHolder> {
  const { rows } = await db.query<{
    run_id: string;
    input_hash: string;
    mine: boolean;
    made: boolean;
  }>({
    name: "lgql_claim_idempotency_key",
    text: `WITH claimed AS (
       INSERT INTO run_idempotency_key AS k (caller, key, input_hash, run_id)
       VALUES ($1, $2, $3, $4::uuid)
       ON CONFLICT (caller, key) DO UPDATE
         SET input_hash = excluded.input_hash, run_id = excluded.run_id, created_at = now()
         WHERE k.created_at < now() - make_interval(secs => $6::double precision)
           OR (k.created_at < now() - make_interval(secs => $5::double precision)
             AND NOT EXISTS (SELECT 1 FROM run r WHERE r.id = k.run_id)
             AND NOT EXISTS (SELECT 1 FROM run_outcome o WHERE o.run_id = k.run_id))
       RETURNING run_id, input_hash)
     SELECT run_id::text, input_hash, true AS mine, false AS made FROM claimed
     UNION ALL
     SELECT k.run_id::text, k.input_hash, false,
       EXISTS (SELECT 1 FROM run r WHERE r.id = k.run_id)
         OR EXISTS (SELECT 1 FROM run_outcome o WHERE o.run_id = k.run_id)
     FROM run_idempotency_key k
     WHERE k.caller = $1 AND k.key = $2 AND NOT EXISTS (SELECT 1 FROM claimed)`,
    values: [
      claim.caller,
      claim.key,
      claim.inputHash,
      claim.runId,
      limits.staleSeconds,
      limits.retentionSeconds,
    ],
  });
  const row = rows[0];
  // Neither claimed nor found: the holder released it meanwhile; the next claim may take it.
  if (!row) return { mine: false, runId: "", inputHash: claim.inputHash, made: false };
  return { mine: row.mine, runId: row.run_id, inputHash: row.input_hash, made: row.made };
}

/** Gives a key back when its run was never created (the creation failed before committing). */
export async function releaseIdempotencyKey(
  db: Queryable,
  claim: Pick<KeyClaim, "caller" | "key" | "runId">,
): Promise<void> {
  await db.query({
    name: "lgql_release_idempotency_key",
    text: `DELETE FROM run_idempotency_key
     WHERE caller = $1 AND key = $2 AND run_id = $3::uuid
       AND NOT EXISTS (SELECT 1 FROM run WHERE id = $3::uuid)`,
    values: [claim.caller, claim.key, claim.runId],
  });
}

/** Forgets keys older than the retention. */
export async function sweepIdempotencyKeys(db: Queryable, retentionSeconds: number): Promise<void> {
  await db.query({
    name: "lgql_sweep_idempotency_keys",
    text: `DELETE FROM run_idempotency_key
     WHERE created_at < now() - make_interval(secs => $1::double precision)`,
    values: [retentionSeconds],
  });
}
