import { createServer } from "node:net";

/**
 * Binds and releases the port the server will listen on, so that a port in use is reported
 * before the database starts and migrations run (listening is the last step of start-up).
 * Rejects with the listen error (EADDRINUSE, EACCES) untouched.
 */
export function checkPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}
