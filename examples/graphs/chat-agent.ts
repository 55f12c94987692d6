import { AIMessage, type BaseMessage, SystemMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import {
  Command,
  END,
  interrupt,
  type LangGraphRunnableConfig,
  MessagesValue,
  START,
  StateGraph,
  StateSchema,
} from "@langchain/langgraph";
import { ToolNode } from "@langchain/langgraph/prebuilt";
import { z } from "zod";
import { FakeStreamingChatModel } from "./fake-model.ts";

/**
 * A tool-calling chat agent with human review, runnable offline.
 *
 *   START -> agent -> (tool call?) -> tools -> agent -> ... -> END
 *                  \-> (sensitive, or the user said "approve") -> human_review -> tools | agent
 *
 * `human_review` calls `interrupt({ question, toolCall, toolCalls })`. Resume with
 * `new Command({ resume })` where resume is one of:
 * - `true`, "approve", "approved", "yes", `{ action: "approve" }` or `{ approved: true }`: run the tool;
 * - `{ action: "edit", args: {...} }`: run the first tool call with these arguments instead;
 * - anything else (`false`, "reject", `{ action: "reject", reason }`, a free-text string):
 *   the tool is not run; the agent gets an error ToolMessage carrying the reason and answers.
 */

export const ContextSchema = z.object({
  model: z.string().default("fake-scripted").describe("Name reported by the fake model"),
  systemPrompt: z.string().default("You are a helpful assistant.").describe("System message"),
});

export const State = new StateSchema({
  messages: MessagesValue,
  /** Last human-review decision, kept in state so clients can show it. */
  review: z.enum(["approved", "edited", "rejected"]).optional(),
});

/** Tools that always need a human's approval before they run. */
export const SENSITIVE_TOOLS = new Set(["send_email"]);

const getWeather = tool(async ({ city }) => `It is sunny and 22°C in ${city}.`, {
  name: "get_weather",
  description: "Current weather for a city",
  schema: z.object({ city: z.string().describe("City name") }),
});

const calculator = tool(
  async ({ expression }) => {
    const m = expression.match(/^\s*(-?\d+(?:\.\d+)?)\s*([+\-*/])\s*(-?\d+(?:\.\d+)?)\s*$/);
    if (!m) return `Cannot evaluate "${expression}".`;
    const [a, b] = [Number(m[1]), Number(m[3])];
    const value = m[2] === "+" ? a + b : m[2] === "-" ? a - b : m[2] === "*" ? a * b : a / b;
    return `${expression} = ${value}`;
  },
  {
    name: "calculator",
    description: "Evaluate a binary arithmetic expression such as '6 * 7'",
    schema: z.object({ expression: z.string() }),
  },
);

const sendEmail = tool(async ({ to }) => `Email sent to ${to}.`, {
  name: "send_email",
  description: "Send an email (needs human approval)",
  schema: z.object({ to: z.string(), body: z.string() }),
});

export const tools = [getWeather, calculator, sendEmail];

type AgentState = typeof State.State;

function lastAiToolCalls(messages: BaseMessage[]) {
  const last = messages.at(-1);
  return last && AIMessage.isInstance(last) ? (last.tool_calls ?? []) : [];
}

function lastHumanText(messages: BaseMessage[]): string {
  const human = messages.findLast((m) => m.getType() === "human");
  return typeof human?.content === "string" ? human.content : "";
}

async function agent(state: AgentState, config: LangGraphRunnableConfig) {
  const context = ContextSchema.parse(config.context ?? {});
  config.writer?.({ node: "agent", progress: "calling model", turn: state.messages.length });
  const model = new FakeStreamingChatModel({ modelName: context.model }).bindTools(tools);
  const response = await model.invoke(
    [new SystemMessage(context.systemPrompt), ...state.messages],
    config,
  );
  return { messages: [response] };
}

function routeAfterAgent(state: AgentState) {
  const calls = lastAiToolCalls(state.messages);
  if (calls.length === 0) return END;
  const needsReview =
    calls.some((call) => SENSITIVE_TOOLS.has(call.name)) ||
    /\bapprove\b/i.test(lastHumanText(state.messages));
  return needsReview ? "human_review" : "tools";
}

type ReviewDecision =
  | { action: "approve" }
  | { action: "edit"; args: Record<string, unknown> }
  | { action: "reject"; reason?: string };

function parseDecision(resume: unknown): ReviewDecision {
  if (resume === true) return { action: "approve" };
  if (typeof resume === "string") {
    if (/^(approve|approved|yes|y|ok)$/i.test(resume.trim())) return { action: "approve" };
    if (/^(reject|rejected|no|n)$/i.test(resume.trim())) return { action: "reject" };
    return { action: "reject", reason: resume };
  }
  if (resume && typeof resume === "object") {
    const r = resume as { action?: unknown; approved?: unknown; args?: unknown; reason?: unknown };
    const reason = typeof r.reason === "string" ? r.reason : undefined;
    if (r.action === "approve" || r.approved === true) return { action: "approve" };
    if (r.action === "edit" && r.args && typeof r.args === "object") {
      return { action: "edit", args: r.args as Record<string, unknown> };
    }
    return { action: "reject", reason };
  }
  return { action: "reject" };
}

async function humanReview(state: AgentState) {
  const message = state.messages.at(-1) as AIMessage;
  const calls = message.tool_calls ?? [];
  const first = calls[0]!;
  const decision = parseDecision(
    interrupt({
      question: `Allow the assistant to call ${first.name}?`,
      toolCall: { id: first.id, name: first.name, args: first.args },
      toolCalls: calls.map((c) => ({ id: c.id, name: c.name, args: c.args })),
    }),
  );

  if (decision.action === "approve") {
    return new Command({ goto: "tools", update: { review: "approved" } });
  }
  if (decision.action === "edit") {
    // Same message id: the messages reducer replaces the AI message instead of appending.
    const edited = new AIMessage({
      id: message.id,
      content: message.content,
      tool_calls: calls.map((c, i) => (i === 0 ? { ...c, args: decision.args } : c)),
    });
    return new Command({ goto: "tools", update: { messages: [edited], review: "edited" } });
  }
  const reason = decision.reason ? `: ${decision.reason}` : ".";
  return new Command({
    goto: "agent",
    update: {
      review: "rejected",
      messages: calls.map(
        (c) =>
          new ToolMessage({
            tool_call_id: c.id ?? "",
            name: c.name,
            status: "error",
            content: `The reviewer rejected the call to ${c.name}${reason}`,
          }),
      ),
    },
  });
}

export const graph = new StateGraph(State, { context: ContextSchema })
  .addNode("agent", agent)
  .addNode("tools", new ToolNode(tools))
  .addNode("human_review", humanReview, { ends: ["tools", "agent"] })
  .addEdge(START, "agent")
  .addConditionalEdges("agent", routeAfterAgent, ["tools", "human_review", END])
  .addEdge("tools", "agent")
  .compile({ name: "chat-agent" });
