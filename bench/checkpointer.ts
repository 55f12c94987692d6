/**
 * M7/M8: our checkpointer (src/checkpoint) against the official PostgresSaver, on the same
 * PostgreSQL server in one run (each in its own scratch database, dropped at the end).
 *
 *   npm run bench:checkpointer            # DATABASE_URL, or postgresql://postgres@127.0.0.1:5432/postgres
 *
 * 1. put throughput with 10, 100 and 1000 messages in the state (~500-byte messages), after
 *    1,000 warm-up puts per saver: each measured put is one superstep appending one message to a
 *    thread already holding that many (10 appends per thread, then a fresh thread). Sequential,
 *    and 8 threads concurrently, each in paired rounds (5 at 10 messages, 3 above), the savers
 *    taking turns going first; the ratio is the median of the rounds' ratios, and the ratios of
 *    every round are printed. "ours, cold" is a new saver instance per put: no in-process
 *    list state, the worst case (another process wrote the previous checkpoint). "sync commit
 *    off" is ours with synchronousCommit: false (no wait for the WAL flush; see
 *    CheckpointSaverOptions).
 * 2. statements and commits per put, counted by wrapping the clients' `query` (the local server
 *    has no pg_stat_statements): BEGIN/COMMIT count as statements; a statement outside a
 *    transaction block counts as one commit.
 * 3. one thread driven to 500 turns. A turn is what the Pregel loop of START -> agent -> END writes
 *    for one human message (~500 B) and one AI answer (~500 B): the input checkpoint, the __start__
 *    task's writes, the step-0 checkpoint, the agent task's writes, the step-1 checkpoint. Each
 *    saver drives its own thread, one saver after the other. At turns 10/100/250/500: the turn's
 *    latency (median of the last 20 turns), the latest state (getTuple), a 10-checkpoint history
 *    page at the head and one in the middle (list with limit/before), and pg_total_relation_size
 *    of the saver's tables. Turn 500 is 1,500 checkpoints.
 * 4. the same through a real compiled StateGraph (MessagesAnnotation), which also loads the state
 *    at the start of every invoke: that read is O(messages) for any saver (LangGraph needs the
 *    messages in memory), so this table shows the whole loop, not the saver's write path.
 */
import { AIMessage, type BaseMessage, HumanMessage } from "@langchain/core/messages";
import type { RunnableConfig } from "@langchain/core/runnables";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import {
  type BaseCheckpointSaver,
  type Checkpoint,
  type CheckpointMetadata,
  uuid6,
} from "@langchain/langgraph-checkpoint";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import pg from "pg";
import { createCheckpointSaver } from "../src/checkpoint/saver.ts";
import { migrate } from "../src/db/database.ts";
import { GENERIC_PLANS, withSessionSettings } from "../src/db/session.ts";
import {
  countStatements,
  createScratchDatabase,
  DEFAULT_DATABASE_URL,
  relationBytes,
  type ScratchDatabase,
  type StatementCounter,
} from "./lib/pg.ts";
import {
  formatBytes,
  formatMs,
  formatRate,
  formatRatio,
  median,
  printTable,
  type Row,
} from "./lib/stats.ts";

interface Subject {
  name: string;
  saver: BaseCheckpointSaver;
  /** A saver with no in-process state, for the "cold" rows (undefined: same as `saver`). */
  coldSaver?: () => BaseCheckpointSaver;
  pool: pg.Pool;
  counter: StatementCounter;
  tables: string[];
}

const MESSAGE_TEXT = "The quick brown fox jumps over the lazy dog. ".repeat(11); // ~500 B

function message(threadId: string, i: number): BaseMessage {
  const fields = { id: `${threadId}-${i}`, content: `${i}: ${MESSAGE_TEXT}` };
  return i % 2 === 0 ? new HumanMessage(fields) : new AIMessage(fields);
}

/**
 * One thread, written the way the Pregel loop writes it: versions are max + 1 (LangGraph's
 * default getNextVersion) and `newVersions` names only the channels a step changed.
 */
class LoopThread {
  messages: BaseMessage[] = [];
  private readonly versions: Record<string, number> = {};
  private readonly seen: Record<string, Record<string, number>> = { __input__: {} };
  private step = -2;
  private parent: RunnableConfig;
  last: RunnableConfig | undefined;
  readonly configs: RunnableConfig[] = [];

  constructor(
    readonly threadId: string,
    private readonly savers: () => BaseCheckpointSaver,
  ) {
    this.parent = { configurable: { thread_id: threadId, checkpoint_ns: "" } };
  }

  private async put(
    values: Record<string, unknown>,
    changed: string[],
    source: CheckpointMetadata["source"],
  ): Promise<void> {
    const next = Math.max(0, ...Object.values(this.versions)) + 1;
    const newVersions: Record<string, number> = {};
    for (const channel of changed) {
      this.versions[channel] = next;
      newVersions[channel] = next;
    }
    this.step += 1;
    const checkpoint: Checkpoint = {
      v: 4,
      id: uuid6(this.step),
      ts: new Date().toISOString(),
      channel_values: { messages: this.messages, __pregel_tasks: [], ...values },
      channel_versions: { ...this.versions },
      versions_seen: structuredClone(this.seen),
    };
    this.last = await this.savers().put(
      this.parent,
      checkpoint,
      { source, step: this.step, parents: {} },
      newVersions,
    );
    this.parent = this.last;
    this.configs.push(this.last);
  }

  /** The first checkpoint of a thread that already holds `count` messages. */
  async prime(count: number): Promise<void> {
    this.messages = Array.from({ length: count }, (_, i) => message(this.threadId, i));
    await this.put({}, ["messages"], "loop");
  }

  /** One superstep that appends one message. */
  async append(): Promise<void> {
    this.messages = [...this.messages, message(this.threadId, this.messages.length)];
    await this.put({ "branch:to:agent": null }, ["messages", "branch:to:agent"], "loop");
  }

  /** A whole turn: human in, AI out (3 checkpoints, 2 putWrites). */
  async turn(): Promise<void> {
    const human = message(this.threadId, this.messages.length);
    const ai = message(this.threadId, this.messages.length + 1);
    await this.put({ __start__: { messages: [human] } }, ["__start__"], "input");
    await this.savers().putWrites(
      this.last!,
      [
        ["messages", [human]],
        ["branch:to:agent", null],
      ],
      uuid6(-1),
    );
    this.seen.__start__ = { __start__: this.versions.__start__! };
    this.messages = [...this.messages, human];
    await this.put(
      { "branch:to:agent": null },
      ["__start__", "messages", "branch:to:agent"],
      "loop",
    );
    await this.savers().putWrites(this.last!, [["messages", [ai]]], uuid6(-1));
    this.seen.agent = { "branch:to:agent": this.versions["branch:to:agent"]! };
    this.messages = [...this.messages, ai];
    await this.put({}, ["messages", "branch:to:agent"], "loop");
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function medianOf(times: number, fn: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < times; i += 1) samples.push(await timed(fn));
  return median(samples);
}

async function drain(iterable: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of iterable) n += 1;
  return n;
}

// ---------------------------------------------------------------------------------------------
// 1-2: puts

interface PutResult {
  putsPerSecond: number;
  p50: number;
  statementsPerPut: number;
  commitsPerPut: number;
  bytesPerPut: number;
}

async function putRun(
  subject: Subject,
  messages: number,
  totalPuts: number,
  concurrency: number,
  cold: boolean,
): Promise<PutResult> {
  const perThread = 10;
  const threads = Array.from({ length: Math.ceil(totalPuts / perThread) }, () => {
    const saver = cold && subject.coldSaver ? subject.coldSaver : () => subject.saver;
    return new LoopThread(uuid6(-1), saver);
  });
  for (const thread of threads) await thread.prime(messages);
  const bytesBefore = await relationBytes(subject.pool, subject.tables);
  subject.counter.reset();
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let t = next++; t < threads.length; t = next++) {
        for (let i = 0; i < perThread; i += 1)
          latencies.push(await timed(() => threads[t]!.append()));
      }
    }),
  );
  const elapsed = performance.now() - start;
  const counts = subject.counter.read();
  const bytesAfter = await relationBytes(subject.pool, subject.tables);
  const puts = latencies.length;
  return {
    putsPerSecond: (puts / elapsed) * 1000,
    p50: median(latencies),
    statementsPerPut: counts.statements / puts,
    commitsPerPut: counts.commits / puts,
    bytesPerPut: (bytesAfter - bytesBefore) / puts,
  };
}

/** Each figure the median of the rounds' (statements and commits per put do not vary). */
function medianResult(rounds: PutResult[]): PutResult {
  const of = (pick: (r: PutResult) => number) => median(rounds.map(pick));
  return {
    putsPerSecond: of((r) => r.putsPerSecond),
    p50: of((r) => r.p50),
    statementsPerPut: of((r) => r.statementsPerPut),
    commitsPerPut: of((r) => r.commitsPerPut),
    bytesPerPut: of((r) => r.bytesPerPut),
  };
}

// ---------------------------------------------------------------------------------------------
// 3-4: growing threads

const MARKS = [10, 100, 250, 500];
/** A mark's turn latency is the median of the turns just before it (all of them for turn 10). */
const TURN_WINDOW = 20;

interface MarkResult {
  turn: number;
  checkpoints: number;
  turnMs: number;
  latestMs: number;
  pageMs: number;
  middlePageMs: number;
  bytes: number;
}

async function growThread(subjects: Subject[]): Promise<Map<string, MarkResult[]>> {
  const threads = subjects.map((s) => new LoopThread(uuid6(-1), () => s.saver));
  const turnTimes = subjects.map(() => [] as number[]);
  const results = new Map(subjects.map((s) => [s.name, [] as MarkResult[]]));
  for (let turn = 1; turn <= MARKS.at(-1)!; turn += 1) {
    for (const [i, thread] of threads.entries())
      turnTimes[i]!.push(await timed(() => thread.turn()));
    if (!MARKS.includes(turn)) continue;
    for (const [i, subject] of subjects.entries()) {
      const thread = threads[i]!;
      const scope = { configurable: { thread_id: thread.threadId, checkpoint_ns: "" } };
      const all = thread.configs;
      const middle = all[Math.floor(all.length / 2)]!;
      results.get(subject.name)!.push({
        turn,
        checkpoints: all.length,
        turnMs: median(turnTimes[i]!.slice(-TURN_WINDOW)),
        latestMs: await medianOf(7, () => subject.saver.getTuple(scope)),
        pageMs: await medianOf(7, () => drain(subject.saver.list(scope, { limit: 10 }))),
        middlePageMs: await medianOf(7, () =>
          drain(subject.saver.list(scope, { limit: 10, before: middle })),
        ),
        bytes: await relationBytes(subject.pool, subject.tables),
      });
    }
  }
  return results;
}

interface GraphMark {
  turn: number;
  turnMs: number;
  getStateMs: number;
  historyMs: number;
}

async function graphLoop(subjects: Subject[], turns: number): Promise<Map<string, GraphMark[]>> {
  const graphs = subjects.map((s) =>
    new StateGraph(MessagesAnnotation)
      .addNode("agent", (state) => ({
        messages: [new AIMessage({ id: `ai-${state.messages.length}`, content: MESSAGE_TEXT })],
      }))
      .addEdge(START, "agent")
      .addEdge("agent", END)
      .compile({ checkpointer: s.saver }),
  );
  const configs = subjects.map(() => ({ configurable: { thread_id: uuid6(-1) } }));
  const turnTimes = subjects.map(() => [] as number[]);
  const results = new Map(subjects.map((s) => [s.name, [] as GraphMark[]]));
  for (let turn = 1; turn <= turns; turn += 1) {
    for (const [i, graph] of graphs.entries()) {
      const input = { messages: [new HumanMessage({ id: `h-${turn}`, content: MESSAGE_TEXT })] };
      turnTimes[i]!.push(await timed(() => graph.invoke(input, configs[i])));
    }
    if (!MARKS.includes(turn)) continue;
    for (const [i, subject] of subjects.entries()) {
      const graph = graphs[i]!;
      results.get(subject.name)!.push({
        turn,
        turnMs: median(turnTimes[i]!.slice(-TURN_WINDOW)),
        getStateMs: await medianOf(3, () => graph.getState(configs[i]!)),
        historyMs: await medianOf(3, () =>
          drain(graph.getStateHistory(configs[i]!, { limit: 10 })),
        ),
      });
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------

interface Subjects {
  ours: Subject;
  /** Ours with synchronousCommit: false (commits without waiting for the WAL flush). */
  oursAsync: Subject;
  pgsaver: Subject;
  close(): Promise<void>;
}

/** Both savers, each on a new scratch database of the same server. */
async function openSubjects(serverUrl: string): Promise<Subjects> {
  const databases: ScratchDatabase[] = [];
  const pools: pg.Pool[] = [];
  const newPool = (url: string) => {
    // Both savers get the server's pool settings: session settings (they only matter to
    // prepared statements) and pipelining (only ours sends statements without awaiting each).
    const pool = new pg.Pool({
      connectionString: withSessionSettings(url, GENERIC_PLANS),
      max: 10,
      pipeline: true,
    });
    // DROP DATABASE ... WITH (FORCE) at the end terminates idle clients; that is expected.
    pool.on("error", () => {});
    pools.push(pool);
    return pool;
  };
  const close = async () => {
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    for (const db of databases) await db.drop().catch(() => undefined);
  };
  try {
    const oursDb = await createScratchDatabase(serverUrl, "lgql_bench_ours");
    databases.push(oursDb);
    await migrate(oursDb.url, () => {});
    const officialDb = await createScratchDatabase(serverUrl, "lgql_bench_pgsaver");
    databases.push(officialDb);
    const oursPool = newPool(oursDb.url);
    const officialPool = newPool(officialDb.url);
    const oursCounter = countStatements(oursPool);
    const officialCounter = countStatements(officialPool);
    const official = new PostgresSaver(officialPool);
    await official.setup();
    const oursTables = ["checkpoint", "checkpoint_blob", "checkpoint_write"];
    return {
      ours: {
        name: "ours",
        saver: createCheckpointSaver({ pool: oursPool }),
        coldSaver: () => createCheckpointSaver({ pool: oursPool }),
        pool: oursPool,
        counter: oursCounter,
        tables: oursTables,
      },
      oursAsync: {
        name: "ours, synchronous_commit off",
        saver: createCheckpointSaver({ pool: oursPool, synchronousCommit: false }),
        pool: oursPool,
        counter: oursCounter,
        tables: oursTables,
      },
      pgsaver: {
        name: "PostgresSaver",
        saver: official,
        pool: officialPool,
        counter: officialCounter,
        tables: ["checkpoints", "checkpoint_blobs", "checkpoint_writes"],
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function putSection(serverUrl: string) {
  const { ours, oursAsync, pgsaver, close } = await openSubjects(serverUrl);
  try {
    // Warm-up, the same for both: JIT, pools, prepared statements. With 50 puts each, the first
    // measured row (10 messages, sequential) still ran partly unoptimised code: repeated, it came
    // out 1.3x faster for ours, 1.1x for PostgresSaver.
    for (const s of [ours, pgsaver]) await putRun(s, 10, 1000, 1, false);
    const putRows: Row[] = [];
    const costRows: Row[] = [];
    const ratios = new Map<string, number>();
    const row = (messages: number, mode: string, a: PutResult, b: PutResult, r?: number[]) => ({
      messages,
      mode,
      ours: formatRate(a.putsPerSecond),
      "ours p50": formatMs(a.p50),
      PostgresSaver: formatRate(b.putsPerSecond),
      "PgS p50": formatMs(b.p50),
      ratio: formatRatio(r ? median(r) : a.putsPerSecond / b.putsPerSecond),
      "ratio per round": r ? r.map((x) => x.toFixed(2)).join(" ") : "",
      "ours B/put": formatBytes(Math.round(a.bytesPerPut)),
      "PgS B/put": formatBytes(Math.round(b.bytesPerPut)),
    });
    // At 10 messages a put takes well under a millisecond: 2,000 of them keep a throughput
    // figure from resting on a fifth of a second (400 gave ratios that moved by 0.5x run to run).
    // On a shared 2-core machine one pair of runs still moved by ±15% (the machine's speed
    // drifts within seconds), so each configuration is measured in paired rounds, the two savers
    // one right after the other, taking turns going first: the ratio is the median of the
    // rounds' ratios, the rates and p50s the medians of the rounds'.
    for (const [messages, puts, rounds] of [
      [10, 2000, 5],
      [100, 200, 3],
      [1000, 100, 3],
    ] as const) {
      for (const concurrency of [1, 8]) {
        const oursRounds: PutResult[] = [];
        const peerRounds: PutResult[] = [];
        for (let round = 0; round < rounds; round += 1) {
          const runOurs = async () =>
            oursRounds.push(await putRun(ours, messages, puts, concurrency, false));
          const runPeer = async () =>
            peerRounds.push(await putRun(pgsaver, messages, puts, concurrency, false));
          if (round % 2 === 0) {
            await runOurs();
            await runPeer();
          } else {
            await runPeer();
            await runOurs();
          }
        }
        const roundRatios = oursRounds.map(
          (a, i) => a.putsPerSecond / peerRounds[i]!.putsPerSecond,
        );
        const a = medianResult(oursRounds);
        const b = medianResult(peerRounds);
        ratios.set(`${messages}/${concurrency}`, median(roundRatios));
        putRows.push(
          row(
            messages,
            concurrency === 1 ? "sequential" : `${concurrency} threads`,
            a,
            b,
            roundRatios,
          ),
        );
        if (concurrency !== 1) continue;
        const cold = await putRun(ours, messages, Math.min(puts, 100), 1, true);
        putRows.push(row(messages, "sequential, cold", cold, b));
        const async = await putRun(oursAsync, messages, puts, 1, false);
        putRows.push(row(messages, "sequential, sync commit off", async, b));
        costRows.push(
          { messages, saver: "ours", statements: a.statementsPerPut, commits: a.commitsPerPut },
          {
            messages,
            saver: "ours, cold",
            statements: cold.statementsPerPut,
            commits: cold.commitsPerPut,
          },
          {
            messages,
            saver: "PostgresSaver",
            statements: b.statementsPerPut,
            commits: b.commitsPerPut,
          },
        );
      }
    }
    printTable(putRows, {
      title:
        "put throughput (one superstep appending one ~500 B message; ratio = ours / PostgresSaver)",
    });
    console.log();
    printTable(costRows, {
      title:
        "round trips per put (statements incl. BEGIN/COMMIT) and commits (a read outside a transaction counts as one)",
    });
    console.log();
    return { ratios, costRows };
  } finally {
    await close();
  }
}

async function growthSection(serverUrl: string) {
  const { ours, pgsaver, close } = await openSubjects(serverUrl);
  try {
    // One saver after the other: interleaved, the other saver's garbage (PostgresSaver
    // serialises the whole list three times a turn) lands in our timings as GC work.
    const a = (await growThread([ours])).get("ours")!;
    const b = (await growThread([pgsaver])).get("PostgresSaver")!;
    const perTurn = 2 * Buffer.byteLength(JSON.stringify(message("x", 0)));
    printTable(
      a.map((x, i) => {
        const y = b[i]!;
        return {
          turn: x.turn,
          checkpoints: x.checkpoints,
          "turn ours": formatMs(x.turnMs),
          "turn PgS": formatMs(y.turnMs),
          x: formatRatio(y.turnMs / x.turnMs),
          "latest ours": formatMs(x.latestMs),
          "latest PgS": formatMs(y.latestMs),
          "x ": formatRatio(y.latestMs / x.latestMs),
          "page10 ours": formatMs(x.pageMs),
          "page10 PgS": formatMs(y.pageMs),
          " x": formatRatio(y.pageMs / x.pageMs),
          "mid page ours": formatMs(x.middlePageMs),
          "mid page PgS": formatMs(y.middlePageMs),
          "stored ours": formatBytes(x.bytes),
          "stored PgS": formatBytes(y.bytes),
          " x ": formatRatio(y.bytes / x.bytes),
          "msg bytes": formatBytes(x.turn * perTurn),
        };
      }),
      {
        title:
          "one thread to 500 turns, superstep puts (3 checkpoints per turn; x = PostgresSaver / ours)",
      },
    );
    console.log();
    return { a, b };
  } finally {
    await close();
  }
}

async function graphSection(serverUrl: string) {
  const { ours, pgsaver, close } = await openSubjects(serverUrl);
  try {
    const ga = (await graphLoop([ours], MARKS.at(-1)!)).get("ours")!;
    const gb = (await graphLoop([pgsaver], MARKS.at(-1)!)).get("PostgresSaver")!;
    printTable(
      ga.map((x, i) => {
        const y = gb[i]!;
        return {
          turn: x.turn,
          "invoke ours": formatMs(x.turnMs),
          "invoke PgS": formatMs(y.turnMs),
          x: formatRatio(y.turnMs / x.turnMs),
          "getState ours": formatMs(x.getStateMs),
          "getState PgS": formatMs(y.getStateMs),
          "x ": formatRatio(y.getStateMs / x.getStateMs),
          "history10 ours": formatMs(x.historyMs),
          "history10 PgS": formatMs(y.historyMs),
          " x": formatRatio(y.historyMs / x.historyMs),
        };
      }),
      { title: "the same through a compiled StateGraph (invoke includes loading the state)" },
    );
    console.log();
  } finally {
    await close();
  }
}

async function main() {
  const serverUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const started = performance.now();
  console.log(`server: ${new URL(serverUrl).host}\n`);
  const { ratios, costRows } = await putSection(serverUrl);
  const { a, b } = await growthSection(serverUrl);
  await graphSection(serverUrl);

  const at = (r: MarkResult[], turn: number) => r.find((x) => x.turn === turn)!;
  const growthPerTurn = (r: MarkResult[], from: number, to: number) =>
    (at(r, to).bytes - at(r, from).bytes) / (to - from);
  const bytesPerTurn = (r: MarkResult[], from: number, to: number) =>
    formatBytes(Math.round(growthPerTurn(r, from, to)));
  const ours = costRows.filter((r) => r.saver === "ours");
  printTable(
    [
      {
        target: "put >= 2x PostgresSaver at 10 messages (sequential / 8 threads)",
        value: `${formatRatio(ratios.get("10/1")!)} / ${formatRatio(ratios.get("10/8")!)}`,
        met: ratios.get("10/1")! >= 2 && ratios.get("10/8")! >= 2,
      },
      {
        target: "put >= 10x PostgresSaver at 1000 messages (sequential / 8 threads)",
        value: `${formatRatio(ratios.get("1000/1")!)} / ${formatRatio(ratios.get("1000/8")!)}`,
        met: ratios.get("1000/1")! >= 10 && ratios.get("1000/8")! >= 10,
      },
      {
        target: "1 statement, 1 commit per put",
        value: ours.map((r) => `${r.statements}/${r.commits}`).join(", "),
        met: ours.every((r) => r.statements === 1 && r.commits === 1),
      },
      {
        target: "turn 500 <= 1.5x turn 10 (superstep puts)",
        value: formatRatio(at(a, 500).turnMs / at(a, 10).turnMs),
        met: at(a, 500).turnMs <= 1.5 * at(a, 10).turnMs,
      },
      {
        target: "10-state history page <= 20 ms at 1,500 checkpoints",
        value: `${formatMs(at(a, 500).pageMs)} (PostgresSaver ${formatMs(at(b, 500).pageMs)})`,
        met: at(a, 500).pageMs <= 20,
      },
      {
        target: "storage linear: bytes per turn, turns 250..500 vs 10..100",
        value: `${bytesPerTurn(a, 250, 500)} vs ${bytesPerTurn(a, 10, 100)} (PostgresSaver ${bytesPerTurn(b, 250, 500)} vs ${bytesPerTurn(b, 10, 100)})`,
        met: growthPerTurn(a, 250, 500) <= 1.5 * growthPerTurn(a, 10, 100),
      },
    ],
    { title: "targets (M7, M8)" },
  );
  console.log(`\ntotal ${formatMs(performance.now() - started)}`);
}

await main();
