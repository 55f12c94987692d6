import type pg from "pg";
import { type AssistantService, createAssistantService } from "./assistants/service.ts";
import { type Authorizer, openAuthorizer } from "./auth/authorizer.ts";
import { createCheckpointSaver } from "./checkpoint/saver.ts";
import { createServerCheckpointer, type ServerCheckpointSaver } from "./checkpoint/server.ts";
import type { ThreadTtlSettings } from "./config.ts";
import { type CronService, createCronService } from "./crons/service.ts";
import type { Database } from "./db/database.ts";
import type { GraphRegistry } from "./graphs/registry.ts";
import type { Logger } from "./log.ts";
import type { Boss } from "./queue/boss.ts";
import type { Notifier } from "./queue/notifier.ts";
import { createExecutor, type Executor } from "./runs/executor.ts";
import { createRunService, type RunService } from "./runs/service.ts";
import { createStoreService, type StoreService } from "./store/service.ts";
import type { StoreTtlConfig } from "./store/store.ts";
import { createStreamService, type StreamOptions, type StreamService } from "./stream/service.ts";
import { createThreadService, type ThreadService } from "./threads/service.ts";
import { createThreadTtlSweeper, type ThreadTtlSweeper } from "./threads/ttl.ts";
import {
  createWebhookService,
  type EndedRun,
  type WebhookOptions,
  type WebhookService,
} from "./webhooks/service.ts";

/**
 * List elements (messages) the thread service's reader keeps decoded between state and history
 * reads, at roughly a kilobyte each: a frontend re-reading a long thread then pays for no blob
 * query and no decoding, only for what the thread gained since.
 */
const SHARED_READ_ITEMS = 100_000;

export interface ServerInfo {
  version: string;
  langgraphVersion: string;
}

/** Everything a request or a worker may call, built once per process from explicit dependencies. */
export interface Services {
  db: Database;
  graphs: GraphRegistry;
  info: ServerInfo;
  checkpointer: ServerCheckpointSaver;
  assistants: AssistantService;
  threads: ThreadService;
  runs: RunService;
  executor: Executor;
  streams: StreamService;
  store: StoreService;
  notifier: Notifier;
  crons: CronService;
  webhooks: WebhookService;
  runHooks: RunHooks;
  /** langgraph.json checkpointer.ttl's sweeper (not started); null without a TTL. */
  threadTtl: ThreadTtlSweeper | null;
}

/**
 * Work owed when a run ends, done inside the transaction that records the end — by the
 * executor's finish(), by the lease reaper (runs whose worker died) and by the run service
 * (pending runs interrupted before they started) alike.
 */
export interface RunHooks {
  onFinish: Array<(client: pg.PoolClient, run: EndedRun) => Promise<void>>;
}

export function createServices(deps: {
  db: Database;
  graphs: GraphRegistry;
  info: ServerInfo;
  boss: Boss;
  notifier: Notifier;
  log: Logger;
  webhooks: WebhookOptions;
  streams?: Partial<StreamOptions>;
  /** The deployment's auth handlers (langgraph.json auth.path); absent: everything allowed. */
  authorizer?: Authorizer;
  /** False (langgraph.json http.disable_webhooks): a run's webhook is not sent. */
  sendWebhooks?: boolean;
  /** langgraph.json store.ttl. */
  storeTtl?: StoreTtlConfig;
  /** langgraph.json checkpointer.ttl. */
  threadTtl?: ThreadTtlSettings | null;
  /** Admission control of new runs (MAX_PENDING_RUNS); absent: nothing refused. */
  admission?: { maxPendingRuns: number; retryAfterSeconds: number };
}): Services {
  const { db, graphs, boss, notifier, log } = deps;
  const authz = deps.authorizer ?? openAuthorizer;
  const checkpointer = createServerCheckpointer({ pool: db.pool, grouped: db.grouped });
  // Reads only: the plain saver, without the run metadata the server's adds to what it writes.
  const reader = createCheckpointSaver({ pool: db.pool, sharedReadItems: SHARED_READ_ITEMS });
  const store = createStoreService({ db, authz, ttl: deps.storeTtl });
  const assistants = createAssistantService({
    db,
    graphs,
    authz,
    deleteCheckpoints: (threadId) => checkpointer.deleteThread(threadId),
  });
  const threads = createThreadService({
    db,
    graphs,
    checkpointer,
    reader,
    store: store.backend,
    authz,
    // Bound late: the run service is created below (it needs the thread service's neighbours).
    stopRuns: async (caller, threadId) => {
      const stopped = await runs.cancelRuns(caller, { threadId, action: "INTERRUPT" });
      for (const run of stopped) await runs.waitForEnd(run.id);
    },
  });
  // The executor reads run outcomes for the run service, which the executor calls back to
  // finish runs; the late binding below closes that loop without a module-level cycle.
  let executor: Executor | null = null;
  // Filled below, once the services that register hooks exist; everyone holds this one array.
  const runHooks: RunHooks = { onFinish: [] };
  const runs = createRunService({
    db,
    assistants,
    graphs,
    boss,
    notifier,
    readOutcome: (run) => executor!.readOutcome(run),
    onFinish: runHooks.onFinish,
    authz,
    webhookPolicy: deps.webhooks.urlPolicy,
    admission: deps.admission,
  });
  const streams = createStreamService({
    db,
    notifier,
    runs,
    threads,
    authz,
    log,
    options: deps.streams,
  });
  const webhooks = createWebhookService({ db, boss, log, options: deps.webhooks });
  if (deps.sendWebhooks !== false) runHooks.onFinish.push(webhooks.onRunEnded);
  runHooks.onFinish.push(streams.onRunFinished);
  executor = createExecutor({
    db,
    graphs,
    checkpointer,
    store: store.backend,
    runs,
    log,
    onFinish: runHooks.onFinish,
    sinkFor: streams.sinkFor,
  });
  const crons = createCronService({
    db,
    assistants,
    threads,
    graphs,
    authz,
    webhookPolicy: deps.webhooks.urlPolicy,
  });
  const threadTtl = deps.threadTtl
    ? createThreadTtlSweeper({
        db,
        deleteCheckpoints: (threadId, client) => checkpointer.deleteThread(threadId, client),
        log,
        options: deps.threadTtl,
      })
    : null;
  return {
    db,
    graphs,
    info: deps.info,
    checkpointer,
    assistants,
    threads,
    runs,
    executor,
    streams,
    store,
    notifier,
    crons,
    webhooks,
    runHooks,
    threadTtl,
  };
}
