/**
 * Benchmark graphs, shared by every subject of a side-by-side benchmark.
 *
 * This file imports only `@langchain/langgraph` and `@langchain/core`, so the same definitions load
 * in our server (resolved from the root node_modules), in-process (FLOOR / PGSAVER subjects) and in
 * the official dev server (`bench/peers/graphs.ts` re-exports this file; `bench/peers/langgraph.json`
 * points at it). Keep it that way: no zod, no project imports, no import-time side effects beyond
 * compiling the graphs.
 *
 * Graphs (all compiled without a checkpointer; the server under test supplies one):
 * - `one_node`: START -> agent -> END. The agent asks a fake model that streams a fixed short
 *   answer ({@link ONE_NODE_REPLY}, 5 word chunks) with no delay. Used for run overhead (M1, M5).
 * - `tokens`: START -> agent -> END. The fake model streams N tokens (`tok0 `, `tok1 `, ...),
 *   N = `config.configurable.tokens` ?? `input.tokens` ?? 50, optionally spaced by
 *   `configurable.intervalMs` (default 0: no timer at all). Used for time to first token (M2) and
 *   tokens/s (M4); the numbered tokens let a client check for loss and order.
 * - `ticker`: START -> tick -> END. Emits `count` custom events (`config.writer`) of the shape
 *   {@link Tick} `{ seq, t }`, where `t` is the wall-clock emit time in ms with sub-ms precision
 *   (`performance.timeOrigin + performance.now()`, comparable across processes on one host).
 *   `count` / `intervalMs` come from configurable or input (defaults 100 / 1). Used for M3.
 * - `hitl`: START -> review -> respond -> END. `review` calls `interrupt({ question })`; resume
 *   with `Command({ resume })` and `respond` answers `Resumed: <resume value>` via the fake model.
 */
import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager";
import {
  BaseChatModel,
  type BaseChatModelParams,
} from "@langchain/core/language_models/chat_models";
import { AIMessage, AIMessageChunk, type BaseMessage } from "@langchain/core/messages";
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs";
import {
  Annotation,
  END,
  interrupt,
  type LangGraphRunnableConfig,
  MessagesAnnotation,
  START,
  StateGraph,
} from "@langchain/langgraph";

/** The `one_node` answer. */
export const ONE_NODE_REPLY = "Hello from the fake model!";
/** Default token count of the `tokens` graph. */
export const DEFAULT_TOKENS = 50;

/** The text of token `i` streamed by the `tokens` graph. */
export function tokenText(i: number): string {
  return `tok${i} `;
}

/** Payload of each custom event emitted by the `ticker` graph. */
export interface Tick {
  seq: number;
  /** Wall-clock emit time in ms (`performance.timeOrigin + performance.now()`). */
  t: number;
}

export interface BenchChatModelParams extends BaseChatModelParams {
  /** Chunks to stream, in order. */
  chunks: string[];
  /** Pause before each chunk after the first; 0 (default) never touches a timer. */
  intervalMs?: number;
}

/**
 * A fake chat model streaming a fixed list of chunks. It reports each chunk through
 * `handleLLMNewToken` (with the chunk), which is what LangGraph's `messages` stream mode listens to.
 */
export class BenchChatModel extends BaseChatModel {
  readonly chunks: string[];
  readonly intervalMs: number;

  static override lc_name() {
    return "BenchChatModel";
  }

  constructor(params: BenchChatModelParams) {
    const { chunks, intervalMs, ...rest } = params;
    super(rest);
    this.chunks = chunks;
    this.intervalMs = intervalMs ?? 0;
  }

  override _llmType(): string {
    return "bench-fake";
  }

  override async _generate(
    _messages: BaseMessage[],
    _options: this["ParsedCallOptions"],
  ): Promise<ChatResult> {
    const text = this.chunks.join("");
    const message = new AIMessage({
      content: text,
      response_metadata: { model_name: "bench-fake", finish_reason: "stop" },
    });
    return { generations: [{ text, message }] };
  }

  override async *_streamResponseChunks(
    _messages: BaseMessage[],
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    for (let i = 0; i < this.chunks.length; i++) {
      if (options.signal?.aborted) return;
      if (i > 0 && this.intervalMs > 0) await sleep(this.intervalMs);
      const text = this.chunks[i]!;
      const last = i === this.chunks.length - 1;
      const chunk = new ChatGenerationChunk({
        text,
        message: new AIMessageChunk({
          content: text,
          response_metadata: last ? { model_name: "bench-fake", finish_reason: "stop" } : {},
        }),
      });
      yield chunk;
      await runManager?.handleLLMNewToken(text, undefined, undefined, undefined, undefined, {
        chunk,
      });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A positive integer from the first of `candidates` that is one, else `fallback`. */
function intOption(fallback: number, ...candidates: unknown[]): number {
  for (const c of candidates) {
    const n = typeof c === "string" ? Number(c) : c;
    if (typeof n === "number" && Number.isInteger(n) && n >= 0) return n;
  }
  return fallback;
}

// --- one_node -------------------------------------------------------------------------------

const oneNodeModel = new BenchChatModel({ chunks: ONE_NODE_REPLY.split(/(?= )/) });

export const one_node = new StateGraph(MessagesAnnotation)
  .addNode("agent", async (state, config) => ({
    messages: [await oneNodeModel.invoke(state.messages, config)],
  }))
  .addEdge(START, "agent")
  .addEdge("agent", END)
  .compile();

// --- tokens ---------------------------------------------------------------------------------

export const TokensState = Annotation.Root({
  ...MessagesAnnotation.spec,
  /** Number of tokens to stream (overridden by `configurable.tokens`). */
  tokens: Annotation<number | undefined>(),
});

export const tokens = new StateGraph(TokensState)
  .addNode("agent", async (state, config: LangGraphRunnableConfig) => {
    const n = intOption(DEFAULT_TOKENS, config.configurable?.tokens, state.tokens);
    const intervalMs = intOption(0, config.configurable?.intervalMs);
    const chunks = Array.from({ length: n }, (_, i) => tokenText(i));
    const model = new BenchChatModel({ chunks, intervalMs });
    return { messages: [await model.invoke(state.messages, config)] };
  })
  .addEdge(START, "agent")
  .addEdge("agent", END)
  .compile();

// --- ticker ---------------------------------------------------------------------------------

export const TickerState = Annotation.Root({
  /** Number of custom events (overridden by `configurable.count`). */
  count: Annotation<number | undefined>(),
  /** Spacing between events in ms (overridden by `configurable.intervalMs`); 0 = unpaced. */
  intervalMs: Annotation<number | undefined>(),
  /** Set by the node: how many events it emitted. */
  emitted: Annotation<number | undefined>(),
});

export const ticker = new StateGraph(TickerState)
  .addNode("tick", async (state, config: LangGraphRunnableConfig) => {
    const count = intOption(100, config.configurable?.count, state.count);
    const intervalMs = intOption(1, config.configurable?.intervalMs, state.intervalMs);
    for (let seq = 0; seq < count; seq++) {
      if (seq > 0 && intervalMs > 0) await sleep(intervalMs);
      const tick: Tick = { seq, t: performance.timeOrigin + performance.now() };
      config.writer?.(tick);
    }
    return { emitted: count };
  })
  .addEdge(START, "tick")
  .addEdge("tick", END)
  .compile();

// --- hitl -----------------------------------------------------------------------------------

export const HitlState = Annotation.Root({
  ...MessagesAnnotation.spec,
  /** The resume value, stringified. */
  decision: Annotation<string | undefined>(),
});

export const hitl = new StateGraph(HitlState)
  .addNode("review", () => {
    const answer: unknown = interrupt({ question: "approve?" });
    return { decision: typeof answer === "string" ? answer : JSON.stringify(answer) };
  })
  .addNode("respond", async (state, config) => {
    const model = new BenchChatModel({ chunks: ["Resumed: ", state.decision ?? ""] });
    return { messages: [await model.invoke(state.messages, config)] };
  })
  .addEdge(START, "review")
  .addEdge("review", "respond")
  .addEdge("respond", END)
  .compile();
