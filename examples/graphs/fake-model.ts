import type { CallbackManagerForLLMRun } from "@langchain/core/callbacks/manager";
import type { BaseLanguageModelInput } from "@langchain/core/language_models/base";
import {
  BaseChatModel,
  type BaseChatModelCallOptions,
  type BaseChatModelParams,
  type BindToolsInput,
} from "@langchain/core/language_models/chat_models";
import {
  AIMessage,
  AIMessageChunk,
  type BaseMessage,
  type ToolCallChunk,
  ToolMessage,
} from "@langchain/core/messages";
import { ChatGenerationChunk, type ChatResult } from "@langchain/core/outputs";
import type { Runnable } from "@langchain/core/runnables";

/**
 * A deterministic, offline chat model for the example graphs, tests and benchmarks.
 *
 * The reply depends only on the conversation and on which tools are bound, so every run of an
 * example graph produces the same messages (ids aside). It streams like a real provider: text
 * in word-sized chunks, tool calls as `tool_call_chunks` whose JSON arguments arrive in pieces,
 * so the `messages` stream mode and tool-call accumulation on the client get exercised.
 *
 * Script, looking at the last non-system message:
 * - trailing ToolMessages: answer in text from their contents ("Here is what I found: ...",
 *   or "I could not complete that: ..." when a tool message has status "error");
 * - a human message mentioning weather / time / a calculation / an email, when the matching
 *   tool (`get_weather`, `get_time`, `calculator`, `send_email`) is bound: call that tool;
 * - a human message starting with "Summarize": "Summary: <text after the first colon>";
 * - any other human message: `You said: "<text>". This is a scripted reply.`
 */

export interface FakeChatModelCallOptions extends BaseChatModelCallOptions {
  tools?: BindToolsInput[];
}

export interface FakeChatModelParams extends BaseChatModelParams {
  /** "word" (default) streams "Hello", " there"; "char" streams one character per chunk. */
  chunking?: "word" | "char";
  /**
   * Pause before each chunk, for demos and benchmarks that want visible streaming.
   * 0 (default) never touches a timer, so tests stay fast and ordered.
   */
  delayMs?: number;
  /** Reported as `response_metadata.model_name`. */
  modelName?: string;
}

export interface ScriptedReply {
  text: string;
  toolCall?: { id: string; name: string; args: Record<string, unknown> };
}

export class FakeStreamingChatModel extends BaseChatModel<
  FakeChatModelCallOptions,
  AIMessageChunk
> {
  readonly chunking: "word" | "char";
  readonly delayMs: number;
  readonly modelName: string;

  static override lc_name() {
    return "FakeStreamingChatModel";
  }

  constructor(params: FakeChatModelParams = {}) {
    const { chunking, delayMs, modelName, ...rest } = params;
    super(rest);
    this.chunking = chunking ?? "word";
    this.delayMs = delayMs ?? 0;
    this.modelName = modelName ?? "fake-scripted";
  }

  override _llmType(): string {
    return "fake-scripted";
  }

  override bindTools(
    tools: BindToolsInput[],
    kwargs?: Partial<FakeChatModelCallOptions>,
  ): Runnable<BaseLanguageModelInput, AIMessageChunk, FakeChatModelCallOptions> {
    // Same mechanism as the provider integrations: tools travel as call options, so one model
    // instance can be shared by graphs that bind different tool sets.
    return this.withConfig({ ...kwargs, tools } as Partial<FakeChatModelCallOptions>);
  }

  override async _generate(
    messages: BaseMessage[],
    options: this["ParsedCallOptions"],
  ): Promise<ChatResult> {
    // No run manager here: token callbacks belong to the streaming path only, which
    // BaseChatModel picks itself whenever a handler (e.g. LangGraph's messages mode) wants tokens.
    let aggregate: AIMessageChunk | undefined;
    for await (const chunk of this._streamResponseChunks(messages, options)) {
      aggregate = aggregate
        ? aggregate.concat(chunk.message as AIMessageChunk)
        : (chunk.message as AIMessageChunk);
    }
    const message = new AIMessage({
      content: aggregate?.content ?? "",
      tool_calls: aggregate?.tool_calls ?? [],
      response_metadata: aggregate?.response_metadata ?? {},
    });
    return {
      generations: [{ text: typeof message.content === "string" ? message.content : "", message }],
    };
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this["ParsedCallOptions"],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const reply = scriptedReply(messages, boundToolNames(options.tools));
    const pieces: AIMessageChunk[] = splitText(reply.text, this.chunking).map(
      (text) => new AIMessageChunk({ content: text }),
    );
    if (reply.toolCall) {
      const { id, name, args } = reply.toolCall;
      const argPieces = splitJson(JSON.stringify(args));
      pieces.push(
        new AIMessageChunk({
          content: "",
          tool_call_chunks: [toolCallChunk({ id, name, args: argPieces[0] ?? "" })],
        }),
      );
      for (const piece of argPieces.slice(1)) {
        pieces.push(
          new AIMessageChunk({ content: "", tool_call_chunks: [toolCallChunk({ args: piece })] }),
        );
      }
    }
    pieces.push(
      new AIMessageChunk({
        content: "",
        response_metadata: {
          model_name: this.modelName,
          finish_reason: reply.toolCall ? "tool_calls" : "stop",
        },
      }),
    );

    for (const message of pieces) {
      if (options.signal?.aborted) return;
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      const text = typeof message.content === "string" ? message.content : "";
      const chunk = new ChatGenerationChunk({ message, text });
      yield chunk;
      // Passing the chunk is what lets LangGraph's messages mode forward tool_call_chunks.
      await runManager?.handleLLMNewToken(text, undefined, undefined, undefined, undefined, {
        chunk,
      });
    }
  }
}

function toolCallChunk(fields: Omit<ToolCallChunk, "type" | "index">): ToolCallChunk {
  return { type: "tool_call_chunk", index: 0, ...fields };
}

function boundToolNames(tools: BindToolsInput[] | undefined): Set<string> {
  const names = new Set<string>();
  for (const tool of tools ?? []) {
    const t = tool as { name?: unknown; function?: { name?: unknown } };
    const name = t.name ?? t.function?.name;
    if (typeof name === "string") names.add(name);
  }
  return names;
}

function textOf(message: BaseMessage): string {
  if (typeof message.content === "string") return message.content;
  return message.content
    .map((part) =>
      typeof part === "string" ? part : part.type === "text" ? String(part.text) : "",
    )
    .join("");
}

/** The deterministic script; exported so tests can state expectations without duplicating it. */
export function scriptedReply(messages: BaseMessage[], tools: Set<string>): ScriptedReply {
  const conversation = messages.filter((m) => m.getType() !== "system");
  const last = conversation.at(-1);
  if (!last) return { text: "Hello! How can I help?" };

  if (ToolMessage.isInstance(last)) {
    const results: ToolMessage[] = [];
    for (let i = conversation.length - 1; i >= 0; i--) {
      const message = conversation[i]!;
      if (!ToolMessage.isInstance(message)) break;
      results.unshift(message);
    }
    const failed = results.some((m) => m.status === "error");
    const summary = results.map(textOf).join(" ");
    return {
      text: failed ? `I could not complete that: ${summary}` : `Here is what I found: ${summary}`,
    };
  }

  if (last.getType() !== "human") return { text: "Is there anything else I can help with?" };

  const text = textOf(last);
  const lower = text.toLowerCase();
  // Ids depend on the conversation length so they are stable across runs and unique per turn.
  const id = (name: string) => `call_${name}_${conversation.length}`;

  if (/^summari[sz]e\b/.test(lower)) {
    const colon = text.indexOf(":");
    return { text: `Summary: ${(colon >= 0 ? text.slice(colon + 1) : text).trim()}` };
  }
  if (lower.includes("weather") && tools.has("get_weather")) {
    return {
      text: "",
      toolCall: { id: id("get_weather"), name: "get_weather", args: { city: cityIn(text) } },
    };
  }
  if (/\btime\b/.test(lower) && tools.has("get_time")) {
    return {
      text: "",
      toolCall: { id: id("get_time"), name: "get_time", args: { city: cityIn(text) } },
    };
  }
  const arithmetic = text.match(/(-?\d+(?:\.\d+)?)\s*([+\-*/x×])\s*(-?\d+(?:\.\d+)?)/);
  if (arithmetic && tools.has("calculator")) {
    const op = arithmetic[2] === "x" || arithmetic[2] === "×" ? "*" : arithmetic[2];
    const expression = `${arithmetic[1]} ${op} ${arithmetic[3]}`;
    return {
      text: "",
      toolCall: { id: id("calculator"), name: "calculator", args: { expression } },
    };
  }
  if (lower.includes("email") && tools.has("send_email")) {
    const to = text.match(/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/)?.[0] ?? "team@example.com";
    return {
      text: "",
      toolCall: { id: id("send_email"), name: "send_email", args: { to, body: text } },
    };
  }
  return { text: `You said: "${text}". This is a scripted reply.` };
}

function cityIn(text: string): string {
  return text.match(/\b(?:in|for|at)\s+([A-Z][\p{L}-]+(?:\s+[A-Z][\p{L}-]+)*)/u)?.[1] ?? "Paris";
}

/** "Hello there!" -> ["Hello", " there!"] (word) or one entry per character (char). */
export function splitText(text: string, chunking: "word" | "char"): string[] {
  if (text === "") return [];
  if (chunking === "char") return [...text];
  return text.match(/\s*\S+(?:\s+$)?/g) ?? [text];
}

/** JSON arguments arrive in pieces, as they do from real providers. */
function splitJson(json: string): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < json.length; i += 8) pieces.push(json.slice(i, i + 8));
  return pieces;
}
