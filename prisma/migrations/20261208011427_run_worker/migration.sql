-- Worker liveness from PostgreSQL itself: each worker process registers here and holds a
-- session-level advisory lock on (1818718572, lock_key) on a connection of its own. The lock is
-- free the moment that session ends (the process died, or lost its connection), so a run of that
-- worker is taken over at once; the lease remains for a worker that hangs while connected.
-- CreateTable
CREATE TABLE "run_worker" (
    "owner" TEXT NOT NULL,
    "lock_key" SERIAL NOT NULL,
    "started_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "run_worker_pkey" PRIMARY KEY ("owner")
);

-- CreateIndex
CREATE UNIQUE INDEX "run_worker_lock_key_key" ON "run_worker"("lock_key");
