-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "ThreadStatus" AS ENUM ('IDLE', 'BUSY', 'INTERRUPTED', 'ERROR');

-- CreateEnum
CREATE TYPE "RunStatus" AS ENUM ('PENDING', 'RUNNING', 'SUCCESS', 'ERROR', 'TIMEOUT', 'INTERRUPTED');

-- CreateEnum
CREATE TYPE "MultitaskStrategy" AS ENUM ('REJECT', 'INTERRUPT', 'ROLLBACK', 'ENQUEUE');

-- CreateEnum
CREATE TYPE "CancelAction" AS ENUM ('INTERRUPT', 'ROLLBACK');

-- CreateEnum
CREATE TYPE "OnCompletion" AS ENUM ('DELETE', 'KEEP');

-- CreateEnum
CREATE TYPE "OnDisconnect" AS ENUM ('CANCEL', 'CONTINUE');

-- CreateEnum
CREATE TYPE "Durability" AS ENUM ('SYNC', 'ASYNC', 'EXIT');

-- CreateEnum
CREATE TYPE "WebhookDeliveryStatus" AS ENUM ('PENDING', 'DELIVERED', 'FAILED');

-- CreateTable
CREATE TABLE "assistant" (
    "id" UUID NOT NULL,
    "graph_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "config" JSONB NOT NULL DEFAULT '{}',
    "context" JSONB NOT NULL DEFAULT '{}',
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "assistant_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "assistant_version" (
    "assistant_id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "graph_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "config" JSONB NOT NULL DEFAULT '{}',
    "context" JSONB NOT NULL DEFAULT '{}',
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "assistant_version_pkey" PRIMARY KEY ("assistant_id","version")
);

-- CreateTable
CREATE TABLE "thread" (
    "id" UUID NOT NULL,
    "status" "ThreadStatus" NOT NULL DEFAULT 'IDLE',
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "config" JSONB NOT NULL DEFAULT '{}',
    "graph_id" TEXT,
    "values" JSONB,
    "interrupts" JSONB NOT NULL DEFAULT '[]',
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "thread_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "checkpoint" (
    "thread_id" TEXT NOT NULL,
    "checkpoint_ns" TEXT NOT NULL DEFAULT '',
    "checkpoint_id" TEXT NOT NULL,
    "parent_checkpoint_id" TEXT,
    "checkpoint" JSONB NOT NULL,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "checkpoint_pkey" PRIMARY KEY ("thread_id","checkpoint_ns","checkpoint_id")
);

-- CreateTable
CREATE TABLE "checkpoint_blob" (
    "thread_id" TEXT NOT NULL,
    "checkpoint_ns" TEXT NOT NULL DEFAULT '',
    "channel" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'FULL',
    "base_version" TEXT,
    "depth" INTEGER NOT NULL DEFAULT 0,
    "length" INTEGER,
    "type" TEXT NOT NULL,
    "blob" BYTEA,

    CONSTRAINT "checkpoint_blob_pkey" PRIMARY KEY ("thread_id","checkpoint_ns","channel","version")
);

-- CreateTable
CREATE TABLE "checkpoint_write" (
    "thread_id" TEXT NOT NULL,
    "checkpoint_ns" TEXT NOT NULL DEFAULT '',
    "checkpoint_id" TEXT NOT NULL,
    "task_id" TEXT NOT NULL,
    "idx" INTEGER NOT NULL,
    "channel" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "blob" BYTEA NOT NULL,
    "task_path" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "checkpoint_write_pkey" PRIMARY KEY ("thread_id","checkpoint_ns","checkpoint_id","task_id","idx")
);

-- CreateTable
CREATE TABLE "run" (
    "id" UUID NOT NULL,
    "thread_id" UUID NOT NULL,
    "assistant_id" UUID NOT NULL,
    "cron_id" UUID,
    "status" "RunStatus" NOT NULL DEFAULT 'PENDING',
    "multitask_strategy" "MultitaskStrategy" NOT NULL DEFAULT 'ENQUEUE',
    "input" JSONB,
    "command" JSONB,
    "config" JSONB NOT NULL DEFAULT '{}',
    "context" JSONB,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "checkpoint" JSONB,
    "interrupt_before" TEXT[],
    "interrupt_after" TEXT[],
    "stream_modes" TEXT[] DEFAULT ARRAY['VALUES']::TEXT[],
    "stream_subgraphs" BOOLEAN NOT NULL DEFAULT false,
    "durability" "Durability" NOT NULL DEFAULT 'ASYNC',
    "webhook" TEXT,
    "on_completion" "OnCompletion",
    "on_disconnect" "OnDisconnect" NOT NULL DEFAULT 'CONTINUE',
    "available_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "error" JSONB,
    "cancel_action" "CancelAction",
    "lease_owner" TEXT,
    "lease_expires_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(6),
    "ended_at" TIMESTAMPTZ(6),

    CONSTRAINT "run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "run_event" (
    "id" BIGSERIAL NOT NULL,
    "run_id" UUID NOT NULL,
    "thread_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "namespace" TEXT[],
    "payload" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "run_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "cron" (
    "id" UUID NOT NULL,
    "assistant_id" UUID NOT NULL,
    "thread_id" UUID,
    "schedule" TEXT NOT NULL,
    "timezone" TEXT NOT NULL DEFAULT 'UTC',
    "input" JSONB,
    "config" JSONB,
    "context" JSONB,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "end_time" TIMESTAMPTZ(6),
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "on_run_completed" "OnCompletion" NOT NULL DEFAULT 'DELETE',
    "multitask_strategy" "MultitaskStrategy" NOT NULL DEFAULT 'ENQUEUE',
    "interrupt_before" TEXT[],
    "interrupt_after" TEXT[],
    "webhook" TEXT,
    "next_run_at" TIMESTAMPTZ(6),
    "last_run_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "cron_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "store_item" (
    "prefix" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "namespace" TEXT[],
    "value" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(6),
    "ttl_minutes" DOUBLE PRECISION,

    CONSTRAINT "store_item_pkey" PRIMARY KEY ("prefix","key")
);

-- CreateTable
CREATE TABLE "webhook_delivery" (
    "id" UUID NOT NULL,
    "run_id" UUID NOT NULL,
    "url" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" "WebhookDeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_status_code" INTEGER,
    "last_error" TEXT,
    "next_attempt_at" TIMESTAMPTZ(6),
    "delivered_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_delivery_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "assistant_graph_id_idx" ON "assistant"("graph_id");

-- CreateIndex
CREATE INDEX "assistant_created_at_idx" ON "assistant"("created_at");

-- CreateIndex
CREATE INDEX "assistant_updated_at_idx" ON "assistant"("updated_at");

-- CreateIndex
CREATE INDEX "assistant_metadata_idx" ON "assistant" USING GIN ("metadata" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "thread_status_updated_at_idx" ON "thread"("status", "updated_at");

-- CreateIndex
CREATE INDEX "thread_created_at_idx" ON "thread"("created_at");

-- CreateIndex
CREATE INDEX "thread_updated_at_idx" ON "thread"("updated_at");

-- CreateIndex
CREATE INDEX "thread_metadata_idx" ON "thread" USING GIN ("metadata" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "thread_values_idx" ON "thread" USING GIN ("values" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "checkpoint_metadata_idx" ON "checkpoint" USING GIN ("metadata" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "run_thread_id_status_created_at_idx" ON "run"("thread_id", "status", "created_at");

-- CreateIndex
CREATE INDEX "run_status_available_at_idx" ON "run"("status", "available_at");

-- CreateIndex
CREATE INDEX "run_lease_expires_at_idx" ON "run"("lease_expires_at");

-- CreateIndex
CREATE INDEX "run_cron_id_created_at_idx" ON "run"("cron_id", "created_at");

-- CreateIndex
CREATE INDEX "run_created_at_idx" ON "run"("created_at");

-- CreateIndex
CREATE INDEX "run_event_run_id_id_idx" ON "run_event"("run_id", "id");

-- CreateIndex
CREATE INDEX "run_event_thread_id_id_idx" ON "run_event"("thread_id", "id");

-- CreateIndex
CREATE INDEX "cron_enabled_next_run_at_idx" ON "cron"("enabled", "next_run_at");

-- CreateIndex
CREATE INDEX "cron_assistant_id_idx" ON "cron"("assistant_id");

-- CreateIndex
CREATE INDEX "cron_thread_id_idx" ON "cron"("thread_id");

-- CreateIndex
CREATE INDEX "store_item_prefix_idx" ON "store_item"("prefix" text_pattern_ops);

-- CreateIndex
CREATE INDEX "store_item_expires_at_idx" ON "store_item"("expires_at");

-- CreateIndex
CREATE INDEX "store_item_value_idx" ON "store_item" USING GIN ("value" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "webhook_delivery_run_id_idx" ON "webhook_delivery"("run_id");

-- CreateIndex
CREATE INDEX "webhook_delivery_status_next_attempt_at_idx" ON "webhook_delivery"("status", "next_attempt_at");

-- AddForeignKey
ALTER TABLE "assistant_version" ADD CONSTRAINT "assistant_version_assistant_id_fkey" FOREIGN KEY ("assistant_id") REFERENCES "assistant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run" ADD CONSTRAINT "run_thread_id_fkey" FOREIGN KEY ("thread_id") REFERENCES "thread"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run" ADD CONSTRAINT "run_assistant_id_fkey" FOREIGN KEY ("assistant_id") REFERENCES "assistant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run" ADD CONSTRAINT "run_cron_id_fkey" FOREIGN KEY ("cron_id") REFERENCES "cron"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run_event" ADD CONSTRAINT "run_event_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "run"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "cron" ADD CONSTRAINT "cron_assistant_id_fkey" FOREIGN KEY ("assistant_id") REFERENCES "assistant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "cron" ADD CONSTRAINT "cron_thread_id_fkey" FOREIGN KEY ("thread_id") REFERENCES "thread"("id") ON DELETE CASCADE ON UPDATE CASCADE;
