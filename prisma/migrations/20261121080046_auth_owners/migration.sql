-- AlterTable
ALTER TABLE "run" ADD COLUMN     "auth_user" JSONB;

-- AlterTable
ALTER TABLE "cron" ADD COLUMN     "auth_user" JSONB;

-- AlterTable
ALTER TABLE "run_outcome" ADD COLUMN     "thread_metadata" JSONB;
