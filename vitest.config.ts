import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The checkpoint validation suite registers its hooks through globals.
    globals: true,
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: one fork per core keeps database-heavy files from starving each other.
    pool: "forks",
    maxWorkers: 2,
  },
});
