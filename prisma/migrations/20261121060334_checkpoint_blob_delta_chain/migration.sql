-- AlterTable
ALTER TABLE "checkpoint_blob" ADD COLUMN     "hash" BYTEA,
ADD COLUMN     "root_version" TEXT;

-- CreateIndex
CREATE INDEX "checkpoint_blob_thread_id_checkpoint_ns_channel_root_versio_idx" ON "checkpoint_blob"("thread_id", "checkpoint_ns", "channel", "root_version", "depth");
