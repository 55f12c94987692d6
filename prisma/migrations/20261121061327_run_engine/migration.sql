-- CreateTable
CREATE TABLE "run_outcome" (
    "run_id" UUID NOT NULL,
    "result" JSONB NOT NULL,
    "expires_at" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "run_outcome_pkey" PRIMARY KEY ("run_id")
);

-- CreateIndex
CREATE INDEX "run_outcome_expires_at_idx" ON "run_outcome"("expires_at");

-- Hand-written (Prisma cannot express these): at most one RUNNING run per thread, enforced by
-- the database so no race between workers can ever execute two runs of a thread at once; and
-- the lookup of a run's checkpoints (ROLLBACK deletes them, results read the last one).
CREATE UNIQUE INDEX "run_one_running_per_thread" ON "run"("thread_id") WHERE "status" = 'RUNNING';
CREATE INDEX "checkpoint_run_id_idx" ON "checkpoint"("thread_id", ((metadata ->> 'run_id')));
