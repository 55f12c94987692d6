// `prisma generate` without network access. Every Prisma CLI command first tries to download the
// native schema engine, which generate never calls; pointing PRISMA_SCHEMA_ENGINE_BINARY at any
// executable skips the download. Runs on `npm ci` (postinstall) and before tests.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin");
const result = spawnSync(join(bin, "prisma"), ["generate"], {
  cwd: root,
  stdio: ["ignore", "pipe", "inherit"],
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
    PRISMA_HIDE_UPDATE_MESSAGE: "1",
    CHECKPOINT_DISABLE: "1",
    PATH: `${bin}:${process.env.PATH ?? ""}`,
  },
});
if (result.status !== 0) {
  process.stdout.write(result.stdout ?? "");
  process.exit(result.status ?? 1);
}
