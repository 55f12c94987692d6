export {
  type CheckpointSaverOptions,
  createCheckpointSaver,
  PrismaCheckpointSaver,
} from "./saver.ts";
