import { type Config, ConfigError } from "../config.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import { GraphLoadError } from "../graphs/load.ts";

/**
 * The lines `langgraph-gql` prints when it cannot start: one per problem, naming the file, key,
 * port or database at fault. Null for an error nobody anticipated: its stack is the best report.
 */
export function describeStartupError(error: unknown, config: Config | null): string[] | null {
  if (error instanceof ConfigError || error instanceof GraphLoadError) return [error.message];
  if (error instanceof AggregateError && error.errors.every(isExpected)) {
    return error.errors.flatMap((inner) => describeStartupError(inner, config) ?? []);
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === "EADDRINUSE" && config) {
    return [
      `port ${config.http.port} on ${config.http.host} is already in use: stop what listens there or choose another with --port or PORT`,
    ];
  }
  if (code === "EACCES" && config && (error as { syscall?: string }).syscall === "listen") {
    return [
      `port ${config.http.port} on ${config.http.host} needs privileges this process lacks: choose a port above 1023 with --port or PORT`,
    ];
  }
  const refused = typeof code === "string" && DATABASE_REFUSALS.has(code);
  if ((refused || isDatabaseUnavailable(error)) && config) {
    const where =
      config.database.kind === "external"
        ? `DATABASE_URL (${redact(config.database.url)})`
        : `the embedded database in ${config.database.dataDir}`;
    return [`cannot use ${where}: ${message}`];
  }
  return null;
}

function isExpected(error: unknown): boolean {
  return error instanceof ConfigError || error instanceof GraphLoadError;
}

/**
 * What a wrong DATABASE_URL gets besides an unreachable server (see isDatabaseUnavailable): a
 * host name that does not resolve, and PostgreSQL's refusals of the login.
 */
const DATABASE_REFUSALS = new Set([
  "ENOTFOUND",
  "EAI_AGAIN",
  "28P01", // invalid_password
  "28000", // invalid_authorization_specification
  "3D000", // invalid_catalog_name: the database does not exist
]);

/** The URL without its password, so the line can be pasted into an issue. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return "unparsable URL";
  }
}
