import { AIMessage, type BaseMessage } from "@langchain/core/messages";
import {
  END,
  type LangGraphRunnableConfig,
  MessagesZodState,
  START,
  StateGraph,
} from "@langchain/langgraph";

/**
 * A graph factory: langgraph.json points at `graph`, a function the server calls with each
 * run's config, so the graph can be built per request. Here `configurable.prefix` (default
 * "echo: ") is baked into the single node `echo`, which replies with the prefix plus the last
 * human message. The state is zod (`MessagesZodState`), exercising the zod schema path.
 */

function textOf(message: BaseMessage | undefined): string {
  return typeof message?.content === "string" ? message.content : "";
}

export function graph(config: LangGraphRunnableConfig) {
  const prefix =
    typeof config.configurable?.prefix === "string" ? config.configurable.prefix : "echo: ";
  return new StateGraph(MessagesZodState)
    .addNode("echo", (state) => {
      const question = textOf(state.messages.findLast((m) => m.getType() === "human"));
      return { messages: [new AIMessage(`${prefix}${question}`)] };
    })
    .addEdge(START, "echo")
    .addEdge("echo", END)
    .compile({ name: "factory" });
}
