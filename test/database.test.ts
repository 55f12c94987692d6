import type { Socket } from "node:net";
import pg from "pg";
import { type Database, openDatabase } from "../src/db/database.ts";
import { groupStatements, type StatementSender } from "../src/db/statement-group.ts";
import { createEmptyDatabase, type TestDatabase } from "./helpers/db.ts";
import { until } from "./helpers/poll.ts";

/**
 * Counts the writes that reach the sockets of a pool's connections (all `connections` of them,
 * opened here) until `restore`.
 */
async function countWrites(pool: pg.Pool, connections: number) {
  const seen: string[] = [];
  const patched: Array<() => void> = [];
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  for (const client of clients) {
    const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream;
    const write = socket._write.bind(socket);
    const writev = socket._writev?.bind(socket);
    socket._write = (chunk, encoding, callback) => {
      seen.push("write");
      write(chunk, encoding, callback);
    };
    if (writev) {
      socket._writev = (chunks, callback) => {
        seen.push(`writev(${chunks.length})`);
        writev(chunks, callback);
      };
    }
    patched.push(() => {
      socket._write = write;
      if (writev) socket._writev = writev;
    });
    client.release();
  }
  return {
    seen,
    restore: () => {
      for (const restore of patched) restore();
    },
  };
}

describe("Database", () => {
  let testDb: TestDatabase;
  let db: Database;
  let other: pg.Client;

  beforeAll(async () => {
    testDb = await createEmptyDatabase();
    db = openDatabase(testDb.url, { maxConnections: 3 });
    other = new pg.Client({ connectionString: testDb.url });
    await other.connect();
    await db.pool.query("CREATE TABLE item (x int)");
  });

  afterAll(async () => {
    await other.end();
    await db.close();
    await testDb.drop();
  });

  beforeEach(async () => {
    await db.pool.query("TRUNCATE item");
  });

  const items = async () =>
    (await db.pool.query<{ x: number }>("SELECT x FROM item ORDER BY x")).rows.map((r) => r.x);

  describe("transaction", () => {
    it("sends the first statement without waiting for the opening, and runs it after it", async () => {
      // Another session holds the lock the opening takes: the opening cannot finish until it goes.
      await other.query("BEGIN; SELECT pg_advisory_xact_lock(7)");
      let started = false;
      const done = db.transaction(
        async (client) => {
          started = true;
          await client.query("INSERT INTO item VALUES (1)");
          return "ok";
        },
        { opening: "SELECT pg_advisory_xact_lock(7)" },
      );
      // fn is already running (its statement queued behind the waiting opening)...
      await until(
        async () => started,
        (value) => value,
        "the transaction's body to start while its opening waits for the lock",
      );
      // ...and nothing of it is visible while the lock is held.
      expect(await items()).toEqual([]);
      await other.query("COMMIT");
      expect(await done).toBe("ok");
      expect(await items()).toEqual([1]);
    });

    it("sends the opening and the body's first statement in one write", async () => {
      const writes = await countWrites(db.pool, 3);
      try {
        await db.transaction(
          async (client) => {
            await client.query("INSERT INTO item VALUES (1)");
          },
          { opening: "SELECT pg_advisory_xact_lock(8)" },
        );
      } finally {
        writes.restore();
      }
      // The opening with the INSERT, then COMMIT.
      expect(writes.seen).toHaveLength(2);
      expect(await items()).toEqual([1]);
    });

    it("reports the opening's own error, and commits nothing", async () => {
      await expect(
        db.transaction(
          async (client) => {
            await client.query("INSERT INTO item VALUES (1)");
          },
          { opening: "SELECT 1 / 0" },
        ),
      ).rejects.toThrow(/division by zero/);
      expect(await items()).toEqual([]);
    });

    it("rolls back everything when the body fails, and leaves the connection usable", async () => {
      await expect(
        db.transaction(async (client) => {
          await client.query("INSERT INTO item VALUES (1)");
          throw new Error("body failed");
        }),
      ).rejects.toThrow("body failed");
      await expect(
        db.transaction(async (client) => {
          await client.query("INSERT INTO item VALUES (2)");
          await client.query("INSERT INTO item VALUES ('not a number')");
        }),
      ).rejects.toThrow(/invalid input syntax/);
      expect(await items()).toEqual([]);
      // Every pooled connection is back in a clean state: three transactions in a row commit.
      for (const x of [3, 4, 5]) {
        await db.transaction((client) => client.query("INSERT INTO item VALUES ($1)", [x]));
      }
      expect(await items()).toEqual([3, 4, 5]);
    });

    it("commits without waiting for the WAL flush only when asked (durable: false)", async () => {
      const mode = (durable?: boolean) =>
        db.transaction(
          async (client) =>
            (await client.query<{ synchronous_commit: string }>("SHOW synchronous_commit")).rows[0]!
              .synchronous_commit,
          durable === undefined ? {} : { durable },
        );
      expect(await mode(false)).toBe("off");
      expect(await mode(true)).toBe("on");
      expect(await mode()).toBe("on");
    });
  });

  describe("grouped (groupStatements)", () => {
    /** A grouped statement that stays in flight until `other` commits (it waits for a lock). */
    async function holdInFlight(key: number, group: StatementSender = db.grouped.unflushed) {
      await other.query("BEGIN");
      await other.query("SELECT pg_advisory_xact_lock($1)", [key]);
      const held = group.query({ text: "SELECT pg_advisory_xact_lock($1)", values: [key] });
      return { held, release: () => other.query("COMMIT") };
    }

    const insert = (x: unknown, group: StatementSender = db.grouped.unflushed) =>
      group.query({ text: "INSERT INTO item VALUES ($1)", values: [x] });

    const transactionIds = (group: StatementSender) =>
      Promise.all(
        [1, 2, 3].map(
          async () =>
            (await group.query<{ id: string }>({ text: "SELECT txid_current()::text AS id" }))
              .rows[0]!.id,
        ),
      );

    it("runs each statement of a group in a transaction of its own", async () => {
      const { held, release } = await holdInFlight(15);
      const ids = await transactionIds(db.grouped.unflushed);
      await release();
      await held;
      expect(new Set(ids).size).toBe(3);
    });

    it("durable: commits a group's statements together", async () => {
      const group = db.grouped.durable;
      const { held, release } = await holdInFlight(16, group);
      const ids = await transactionIds(group);
      await release();
      await held;
      expect(new Set(ids).size).toBe(1);
    });

    it("durable: sends a failed group's statements again alone", async () => {
      const group = db.grouped.durable;
      const writes = await countWrites(db.pool, 3);
      const { held, release } = await holdInFlight(17, group);
      const results = await Promise.allSettled([
        insert(1, group),
        insert("not a number", group),
        insert(3, group),
      ]);
      const sent = [...writes.seen];
      writes.restore();
      await release();
      await held;
      // The held statement; the group, BEGIN and COMMIT included, in one write (rolled back); then
      // its three statements again, alone.
      const chunks = sent.map((write) => Number(/\((\d+)\)/.exec(write)?.[1] ?? 1));
      expect(chunks[1]).toBeGreaterThan(3 * chunks[0]!);
      expect(sent.length).toBeGreaterThanOrEqual(5);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/invalid input syntax/);
      expect(await items()).toEqual([1, 3]);
    });

    it("sends the statements issued while one is in flight together, in one write", async () => {
      const writes = await countWrites(db.pool, 3);
      try {
        const { held, release } = await holdInFlight(11);
        await Promise.all([1, 2, 3].map((x) => insert(x)));
        const sent = [...writes.seen];
        await release();
        await held;
        // They committed while the first statement still waited: on another connection, and the
        // three of them (five protocol messages each) in one write.
        expect(sent).toEqual([expect.any(String), "writev(15)"]);
        expect(await items()).toEqual([1, 2, 3]);
      } finally {
        writes.restore();
      }
    });

    it("sends a full group without waiting for the end of the turn", async () => {
      const writes = await countWrites(db.pool, 3);
      try {
        const { held, release } = await holdInFlight(18);
        await Promise.all([1, 2, 3, 4, 5].map((x) => insert(x)));
        const sent = [...writes.seen];
        await release();
        await held;
        // The first four (a full group) in one write; the fifth, issued in the same turn, started
        // the next group, which left alone at the end of the turn.
        expect(sent).toEqual([expect.any(String), "writev(20)", expect.any(String)]);
        expect(await items()).toEqual([1, 2, 3, 4, 5]);
      } finally {
        writes.restore();
      }
    });

    describe("the connection of a statement sent alone", () => {
      const pidOf = async (group: StatementSender) =>
        (await group.query<{ pid: number }>({ text: "SELECT pg_backend_pid() AS pid" })).rows[0]!
          .pid;
      const checkedOut = () => db.pool.totalCount - db.pool.idleCount;

      it("is kept for the next statement, then given back to the pool when idle", async () => {
        const group = groupStatements(db.pool, { keepConnectionMs: 20 });
        let checkouts = 0;
        const count = () => {
          checkouts += 1;
        };
        db.pool.on("acquire", count);
        try {
          const first = await pidOf(group);
          const second = await pidOf(group);
          expect(second).toBe(first);
          expect(checkouts).toBe(1);
          expect(checkedOut()).toBe(1);
          await until(
            async () => checkedOut(),
            (n) => n === 0,
            "the kept connection to go back",
          );
        } finally {
          db.pool.off("acquire", count);
        }
      });

      it("is given back at once to someone waiting for a connection", async () => {
        const group = groupStatements(db.pool, { keepConnectionMs: 60_000 });
        const others = await Promise.all([db.pool.connect(), db.pool.connect()]);
        try {
          // The pool's third and last connection; the next checkout waits for it.
          const { held, release } = await holdInFlight(19, group);
          const waiting = db.pool.connect();
          await until(
            async () => db.pool.waitingCount,
            (n) => n === 1,
            "a waiting checkout",
          );
          await release();
          await held;
          // Kept for a minute otherwise.
          (await waiting).release();
        } finally {
          for (const client of others) client.release();
        }
      });

      it("is dropped when it dies while kept, and the next statement gets a working one", async () => {
        const group = groupStatements(db.pool, { keepConnectionMs: 60_000 });
        const pid = await pidOf(group);
        const connections = db.pool.totalCount;
        await other.query("SELECT pg_terminate_backend($1)", [pid]);
        await until(
          async () => db.pool.totalCount,
          (n) => n === connections - 1,
          "the dead connection to leave the pool",
        );
        const next = await pidOf(group);
        expect(next).not.toBe(pid);
        // Ended the same way, so the pool can close: it waits for a kept connection.
        await other.query("SELECT pg_terminate_backend($1)", [next]);
        await until(
          async () => checkedOut(),
          (n) => n === 0,
          "the kept connection to go",
        );
      });
    });

    it("fails only the statement that fails, and leaves the connection usable", async () => {
      const writes = await countWrites(db.pool, 3);
      const { held, release } = await holdInFlight(12);
      const results = await Promise.allSettled([insert(1), insert("not a number"), insert(3)]);
      const sent = [...writes.seen];
      writes.restore();
      // The held statement, then the three together.
      expect(sent).toHaveLength(2);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/invalid input syntax/);
      await release();
      await held;
      await Promise.all([insert(4), insert(5)]);
      expect(await items()).toEqual([1, 3, 4, 5]);
    });

    it("fails a group whose connection dies, and later statements get a working one", async () => {
      const { held, release } = await holdInFlight(13);
      // The group's first statement waits for a second lock; its connection is then terminated.
      await other.query("SELECT pg_advisory_xact_lock(14)");
      const group = Promise.allSettled([
        db.grouped.unflushed.query({ text: "SELECT pg_advisory_xact_lock(14)" }),
        insert(1),
      ]);
      // Looked up on a connection of its own: `other` is in a transaction, where PostgreSQL keeps
      // showing the activity it saw first.
      const pid = await until(
        async () =>
          (
            await db.pool.query<{ pid: number }>(
              "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_advisory_xact_lock(14)' AND state = 'active'",
            )
          ).rows[0]?.pid,
        (found) => found !== undefined,
        "the group's connection to wait for the lock",
      );
      await other.query("SELECT pg_terminate_backend($1)", [pid]);
      const results = await group;
      expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
      await release();
      await held;
      await Promise.all([insert(2), insert(3)]);
      expect(await items()).toEqual([2, 3]);
    });
  });
});
