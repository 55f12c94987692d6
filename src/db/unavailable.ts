/**
 * Whether an error means PostgreSQL could not be reached or dropped our connection (a restart,
 * a crash, pg_terminate_backend, a network cut), as opposed to refusing a statement. Such an
 * error says nothing about the request or the run that met it: the same work succeeds once the
 * database is back.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let at = error, depth = 0; at && depth < 8; depth++) {
    if (typeof at !== "object") return false;
    const { code, message, cause } = at as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === "string" && (UNAVAILABLE_CODES.has(code) || code.startsWith("08"))) {
      return true;
    }
    if (typeof message === "string" && UNAVAILABLE_MESSAGES.some((m) => message.includes(m))) {
      return true;
    }
    // Prisma's driver adapter keeps the pg error's kind and code under meta.
    const adapterCause = (at as { meta?: { driverAdapterError?: { cause?: unknown } } }).meta
      ?.driverAdapterError?.cause;
    if (adapterCause && isDatabaseUnavailable(adapterCause)) return true;
    at = cause;
  }
  return false;
}

const UNAVAILABLE_CODES = new Set([
  // PostgreSQL: admin_shutdown (a fast or immediate stop, pg_terminate_backend), crash_shutdown,
  // cannot_connect_now (starting up or shutting down), too_many_connections while it restarts.
  "57P01",
  "57P02",
  "57P03",
  "53300",
  // Sockets.
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTCONN",
  // Prisma: cannot reach the server, timed out reaching it, closed the connection, no
  // connection from the pool in time.
  "P1001",
  "P1002",
  "P1017",
  "P2024",
]);

/** node-pg reports a lost connection and a client made unusable by one only in its message. */
const UNAVAILABLE_MESSAGES = [
  "Connection terminated",
  "Client has encountered a connection error and is not queryable",
  "timeout exceeded when trying to connect",
  "terminating connection due to",
  "the database system is starting up",
  "the database system is shutting down",
  "the database system is in recovery mode",
];
