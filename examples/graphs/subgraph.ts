import { AIMessage, type BaseMessage, HumanMessage } from "@langchain/core/messages";
import {
  Annotation,
  END,
  type LangGraphRunnableConfig,
  MessagesAnnotation,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { FakeStreamingChatModel } from "./fake-model.ts";

/**
 * Nested graphs, so subgraph listing, xray drawing and namespaced stream events have data:
 *
 *   parent:   START -> plan -> research -> respond -> END
 *   research: START -> search -> summarize -> END        (a compiled subgraph used as a node)
 *   search:   START -> query -> fetch -> END             (a compiled subgraph inside research)
 *
 * Subgraph namespaces: "research" and "research|search". `summarize` streams model tokens from
 * inside the subgraph; `query` and `fetch` write custom events. xray 1 draws research's nodes,
 * xray 2 also search's (LangGraph only expands subgraphs with more than one node). State is Annotation.Root based (no zod),
 * which exercises the registry's best-effort schema path. Never interrupts.
 */

export const ResearchState = Annotation.Root({
  ...MessagesAnnotation.spec,
  topic: Annotation<string>,
  notes: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  summary: Annotation<string>,
});

type State = typeof ResearchState.State;

function textOf(message: BaseMessage | undefined): string {
  return typeof message?.content === "string" ? message.content : "";
}

function query(state: State, config: LangGraphRunnableConfig) {
  config.writer?.({ node: "query", query: state.topic });
  return {};
}

async function fetchNotes(state: State, config: LangGraphRunnableConfig) {
  const notes = [1, 2, 3].map((i) => `fact ${i} about ${state.topic}`);
  for (const note of notes) config.writer?.({ node: "fetch", found: note });
  return { notes };
}

export const searchGraph = new StateGraph(ResearchState)
  .addNode("query", query)
  .addNode("fetch", fetchNotes)
  .addEdge(START, "query")
  .addEdge("query", "fetch")
  .addEdge("fetch", END)
  .compile({ name: "search" });

async function summarize(state: State, config: LangGraphRunnableConfig) {
  const model = new FakeStreamingChatModel();
  const reply = await model.invoke(
    [new HumanMessage(`Summarize: ${state.notes.join("; ")}`)],
    config,
  );
  return { summary: textOf(reply) };
}

export const researchGraph = new StateGraph(ResearchState)
  .addNode("search", searchGraph)
  .addNode("summarize", summarize)
  .addEdge(START, "search")
  .addEdge("search", "summarize")
  .addEdge("summarize", END)
  .compile({ name: "research" });

function plan(state: State) {
  const question = textOf(state.messages.findLast((m) => m.getType() === "human"));
  return { topic: question.replace(/[?.!]+$/, "").trim() || "nothing in particular" };
}

function respond(state: State) {
  return {
    messages: [
      new AIMessage(`Research on "${state.topic}" (${state.notes.length} notes). ${state.summary}`),
    ],
  };
}

export const graph = new StateGraph(ResearchState)
  .addNode("plan", plan)
  .addNode("research", researchGraph)
  .addNode("respond", respond)
  .addEdge(START, "plan")
  .addEdge("plan", "research")
  .addEdge("research", "respond")
  .addEdge("respond", END)
  .compile({ name: "subgraph" });
