-- DropForeignKey
ALTER TABLE "run_event" DROP CONSTRAINT "run_event_run_id_fkey";

-- CreateIndex
CREATE INDEX "run_event_created_at_idx" ON "run_event"("created_at");
