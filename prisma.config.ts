// Used by the Prisma CLI only (generate; migrate where the schema engine can be downloaded).
// The server never reads this file: src/config.ts owns the database URL at run time.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost/unused" },
});
