import { execFile } from "node:child_process";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

/**
 * A PostgreSQL cluster of a test's own, on a temporary data folder and a fixed free port, that
 * the test can stop (fast or immediate) and start again at the same address: fault tests must
 * not take the machine's shared server down.
 */
export interface OwnPostgres {
  url: string;
  start(): Promise<void>;
  stop(mode: "fast" | "immediate"): Promise<void>;
  /** Stops it and deletes its folder. */
  destroy(): Promise<void>;
}

export async function createOwnPostgres(): Promise<OwnPostgres> {
  const dir = await mkdtemp(join(tmpdir(), "lgql-own-pg-"));
  // PostgreSQL refuses to run as root: as root it runs as `postgres`, who must own the folder.
  const owner = await postgresUser();
  if (owner) {
    await chmod(dir, 0o755);
    await chown(dir, owner.uid, owner.gid);
  }
  const pgData = join(dir, "pg");
  const port = await freePort();
  const as = owner ?? {};
  const env = { ...process.env, LC_ALL: "C" };
  await run(join(BIN, "initdb"), [`--pgdata=${pgData}`, "--auth=trust", "--username=postgres"], {
    ...as,
    env,
    cwd: dir,
  });
  const pgCtl = (args: string[]) => run(join(BIN, "pg_ctl"), args, { ...as, env, cwd: dir });
  const cluster: OwnPostgres = {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await pgCtl([
        "start",
        "-w",
        "-t",
        "60",
        "-D",
        pgData,
        "-l",
        join(pgData, "server.log"),
        "-o",
        `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200 -c fsync=off`,
      ]);
    },
    async stop(mode) {
      await pgCtl(["stop", "-w", "-t", "60", "-m", mode, "-D", pgData]);
    },
    async destroy() {
      await cluster.stop("immediate").catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return cluster;
}

async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const id = async (flag: string) => Number((await run("id", [flag, "postgres"])).stdout.trim());
  return { uid: await id("-u"), gid: await id("-g") };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === "object" && address ? address.port : 0));
    });
  });
}
