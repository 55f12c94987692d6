/**
 * A small closed-loop load generator and a keep-alive HTTP client, on Node built-ins only.
 *
 * Closed loop: `concurrency` workers each await `fn()` and immediately start the next call, so the
 * offered load adapts to the server (throughput = concurrency / latency). On the 2-core bench box
 * the workers share the CPU with the server under test; keep `fn` cheap (no logging, no parsing
 * beyond what the measurement needs).
 */
import http from "node:http";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { type Summary, summarize } from "./stats.ts";

export interface LoadContext {
  /** 0..concurrency-1 */
  worker: number;
  /** Global sequence number of this call (0-based, warm-up calls excluded). */
  iteration: number;
}

export interface ClosedLoopOptions {
  concurrency: number;
  /** Stop starting new calls after this long (calls in flight are awaited). */
  durationMs?: number;
  /** Stop after this many calls in total. At least one of durationMs / totalRequests is required. */
  totalRequests?: number;
  /** Calls made first with the same concurrency and not recorded (default 0). */
  warmupRequests?: number;
  /** The measured operation; a rejection counts as an error and the loop continues. */
  fn: (ctx: LoadContext) => Promise<unknown>;
  /** Abort the whole run on the first error (default false). */
  stopOnError?: boolean;
}

export interface ClosedLoopResult {
  /** Latency in ms of each successful call, in completion order. */
  latencies: number[];
  summary: Summary;
  completed: number;
  errors: number;
  firstError?: unknown;
  /** Wall time from the first measured call to the last completion. */
  elapsedMs: number;
  /** Successful calls per second. */
  throughput: number;
}

export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const { concurrency, durationMs, totalRequests, fn, stopOnError = false } = options;
  if (!(concurrency >= 1)) throw new Error("runClosedLoop: concurrency must be >= 1");
  if (durationMs === undefined && totalRequests === undefined) {
    throw new Error("runClosedLoop: pass durationMs or totalRequests");
  }

  const warmup = options.warmupRequests ?? 0;
  if (warmup > 0) {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, warmup) }, async (_, worker) => {
        while (next < warmup) {
          next++;
          await fn({ worker, iteration: -1 }).catch(() => undefined);
        }
      }),
    );
  }

  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  let started = 0;
  let aborted = false;
  const t0 = performance.now();
  const deadline = durationMs === undefined ? Number.POSITIVE_INFINITY : t0 + durationMs;
  const limit = totalRequests ?? Number.POSITIVE_INFINITY;

  const worker = async (index: number) => {
    while (!aborted && started < limit && performance.now() < deadline) {
      const iteration = started++;
      const begin = performance.now();
      try {
        await fn({ worker: index, iteration });
        latencies.push(performance.now() - begin);
      } catch (error) {
        errors++;
        firstError ??= error;
        if (stopOnError) aborted = true;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  const elapsedMs = performance.now() - t0;
  if (aborted) throw firstError;

  return {
    latencies,
    summary: summarize(latencies),
    completed: latencies.length,
    errors,
    firstError,
    elapsedMs,
    throughput: (latencies.length * 1000) / elapsedMs,
  };
}

/** Runs `fn` `count` times one after another and returns each latency in ms. */
export async function timeSequential(
  count: number,
  fn: (iteration: number) => Promise<unknown>,
): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const begin = performance.now();
    await fn(i);
    latencies.push(performance.now() - begin);
  }
  return latencies;
}

// --- HTTP -----------------------------------------------------------------------------------

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HttpClientOptions {
  /** Max sockets per host (default: unlimited, one per concurrent request). */
  maxSockets?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export interface HttpClient {
  readonly baseUrl: string;
  readonly agent: http.Agent;
  /** Sends a request; an object body is sent as JSON. Resolves for every status code. */
  request(method: string, path: string, body?: unknown): Promise<HttpResponse>;
  /** Like `request`, but rejects on a non-2xx status and parses the body as JSON. */
  json<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** Sends a request and resolves with the unread response (for SSE and other streams). */
  stream(method: string, path: string, body?: unknown): Promise<http.IncomingMessage>;
  /** Destroys the keep-alive sockets. */
  close(): void;
}

/**
 * An HTTP/1.1 client over `node:http` with a keep-alive agent. It is leaner per request than
 * global `fetch` (undici, which also keeps connections alive), which matters when the server answers
 * in ~0.1 ms (M9). Plain http only.
 */
export function createHttpClient(baseUrl: string, options: HttpClientOptions = {}): HttpClient {
  const url = new URL(baseUrl);
  if (url.protocol !== "http:") throw new Error(`createHttpClient: only http:// (${baseUrl})`);
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? Number.POSITIVE_INFINITY,
  });
  const basePath = url.pathname.replace(/\/$/, "");

  const send = (method: string, path: string, body?: unknown) =>
    new Promise<http.IncomingMessage>((resolve, reject) => {
      const payload =
        body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
      const headers: Record<string, string | number> = { ...options.headers };
      if (payload !== undefined) {
        headers["content-type"] ??= "application/json";
        headers["content-length"] = Buffer.byteLength(payload);
      }
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: basePath + path,
          method,
          agent,
          headers,
        },
        resolve,
      );
      req.on("error", reject);
      req.end(payload);
    });

  const readBody = (res: http.IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      res.on("error", reject);
    });

  const request = async (method: string, path: string, body?: unknown): Promise<HttpResponse> => {
    const res = await send(method, path, body);
    return { status: res.statusCode ?? 0, headers: res.headers, body: await readBody(res) };
  };

  return {
    baseUrl,
    agent,
    request,
    async json<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await request(method, path, body);
      if (res.status < 200 || res.status >= 300) {
        throw new Error(`${method} ${path} -> ${res.status}: ${res.body.slice(0, 500)}`);
      }
      return (res.body ? JSON.parse(res.body) : undefined) as T;
    },
    stream: send,
    close() {
      agent.destroy();
    },
  };
}

/** The machine's load: a benchmark shares its cores with whatever else runs. */
export function loadAverage(): string {
  const [one, five] = os.loadavg();
  return `load average ${one!.toFixed(2)} (1 min) ${five!.toFixed(2)} (5 min) on ${os.availableParallelism()} cores`;
}

/** CPU time of this process (server and client when both run here) over `fn`, as a share of one core. */
export async function withCpu<T>(fn: () => Promise<T>): Promise<{ result: T; cpu: number }> {
  const start = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const used = process.cpuUsage(start);
  return { result, cpu: (used.user + used.system) / 1000 / (performance.now() - t0) };
}

export interface GraphQLResponse<T> {
  data?: T;
  errors?: Array<{ message: string }>;
}

/** POST /graphql through `client`; the data, failing on a transport or GraphQL error. */
export function graphqlData(client: HttpClient) {
  return async <T>(query: string, variables?: Record<string, unknown>): Promise<T> => {
    const res = await client.request("POST", "/graphql", { query, variables });
    const body = JSON.parse(res.body) as GraphQLResponse<T>;
    if (res.status !== 200 || body.errors?.length || !body.data) {
      throw new Error(`GraphQL ${res.status}: ${res.body.slice(0, 500)}`);
    }
    return body.data;
  };
}
