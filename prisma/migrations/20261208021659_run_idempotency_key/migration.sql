-- CreateTable
CREATE TABLE "run_idempotency_key" (
    "caller" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "input_hash" TEXT NOT NULL,
    "run_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "run_idempotency_key_pkey" PRIMARY KEY ("caller","key")
);

-- CreateIndex
CREATE INDEX "run_idempotency_key_created_at_idx" ON "run_idempotency_key"("created_at");
