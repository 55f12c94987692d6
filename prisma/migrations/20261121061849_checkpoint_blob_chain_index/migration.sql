-- DropIndex
DROP INDEX "checkpoint_blob_thread_id_checkpoint_ns_channel_root_versio_idx";

-- CreateIndex
CREATE INDEX "checkpoint_blob_root_version_thread_id_checkpoint_ns_channe_idx" ON "checkpoint_blob"("root_version", "thread_id", "checkpoint_ns", "channel", "depth");
