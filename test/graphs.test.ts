import { fileURLToPath } from "node:url";
import {
  type AIMessage,
  type BaseMessage,
  HumanMessage,
  ToolMessage,
} from "@langchain/core/messages";
import { Command, MemorySaver } from "@langchain/langgraph";
import { NotFoundError } from "../src/errors.ts";
import {
  defaultAssistantId,
  GraphLoadError,
  GraphLoadErrors,
  type GraphSpec,
  isPregel,
} from "../src/graphs/load.ts";
import {
  type GraphRegistry,
  loadGraphRegistry,
  UnknownGraphError,
  withPersistence,
} from "../src/graphs/registry.ts";

// No database here: the registry and the example graphs are pure in-process code.

const file = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));
const example = (name: string) => file(`../examples/graphs/${name}`);
const fixture = (name: string) => file(`./fixtures/graphs/${name}`);

const exampleSpecs: GraphSpec[] = [
  { id: "agent", path: example("chat-agent.ts"), exportName: "graph" },
  { id: "research", path: example("subgraph.ts"), exportName: "graph" },
  { id: "echo", path: example("factory.ts"), exportName: "graph", description: "a factory" },
];

const ids = (items: unknown[]) => items.map((item) => (item as { id: string }).id);
const texts = (messages: BaseMessage[]) =>
  messages.map((m) => `${m.getType()}: ${typeof m.content === "string" ? m.content : "?"}`);

async function loadError(specs: GraphSpec[]): Promise<GraphLoadError> {
  const error = await loadGraphRegistry(specs).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GraphLoadError);
  return error as GraphLoadError;
}

let registry: GraphRegistry;

beforeAll(async () => {
  registry = await loadGraphRegistry(exampleSpecs);
});

describe("loadGraphRegistry", () => {
  it("registers every spec in order", () => {
    expect(registry.ids()).toEqual(["agent", "research", "echo"]);
    expect(registry.has("agent")).toBe(true);
    expect(registry.has("nope")).toBe(false);
    expect(registry.spec("echo")).toEqual(exampleSpecs[2]);
    expect(registry.isFactory("echo")).toBe(true);
    expect(registry.isFactory("agent")).toBe(false);
  });

  it("returns the same compiled instance for a static graph", async () => {
    const a = await registry.get("agent");
    expect(isPregel(a)).toBe(true);
    expect(a.name).toBe("chat-agent");
    expect(await registry.get("agent")).toBe(a);
  });

  it("throws a NotFoundError for an unknown graph id", async () => {
    await expect(registry.get("nope")).rejects.toBeInstanceOf(UnknownGraphError);
    await expect(registry.schemas("nope")).rejects.toBeInstanceOf(NotFoundError);
    expect(() => registry.spec("nope")).toThrow(/graph "nope" is not registered/);
  });

  it("accepts a StateGraph, a promise, a createAgent-style wrapper and a default export", async () => {
    const variants = await loadGraphRegistry([
      { id: "uncompiled", path: fixture("variants.ts"), exportName: "uncompiled" },
      { id: "promised", path: fixture("variants.ts"), exportName: "promised" },
      { id: "wrapped", path: fixture("variants.ts"), exportName: "wrapped" },
      { id: "default", path: fixture("variants.ts"), exportName: "default" },
      { id: "unnamed", path: fixture("variants.ts"), exportName: "" },
    ]);
    const module = await import("./fixtures/graphs/variants.ts");
    const uncompiled = await variants.get("uncompiled");
    expect(isPregel(uncompiled)).toBe(true);
    expect((await uncompiled.invoke({ messages: [new HumanMessage("hi")] })).messages).toHaveLength(
      2,
    );
    expect((await variants.get("promised")).name).toBe("promised");
    expect(await variants.get("wrapped")).toBe(module.inner);
    expect((await variants.get("default")).name).toBe("default-export");
    expect((await variants.get("unnamed")).name).toBe("default-export");
  });

  it("calls a factory with the config on every get", async () => {
    const variants = await loadGraphRegistry([
      { id: "async", path: fixture("variants.ts"), exportName: "asyncFactory" },
      { id: "builder", path: fixture("variants.ts"), exportName: "builderFactory" },
    ]);
    const one = await variants.get("async", { configurable: { tag: "one" } });
    const two = await variants.get("async", { configurable: { tag: "two" } });
    expect(one.name).toBe("factory:one");
    expect(two.name).toBe("factory:two");
    expect((await variants.get("async")).name).toBe("factory:none");
    expect(isPregel(await variants.get("builder"))).toBe(true);

    const echo = await registry.get("echo", { configurable: { prefix: "P: " } });
    const result = await echo.invoke({ messages: [new HumanMessage("hello")] });
    expect(result.messages.at(-1)?.content).toBe("P: hello");
    const plain = await registry.get("echo");
    expect(plain).not.toBe(echo);
    expect(
      (await plain.invoke({ messages: [new HumanMessage("hello")] })).messages.at(-1)?.content,
    ).toBe("echo: hello");
  });

  it("reports a factory that returns something else when it is called", async () => {
    const variants = await loadGraphRegistry([
      { id: "bad", path: fixture("variants.ts"), exportName: "badFactory" },
    ]);
    const error = await variants.get("bad").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphLoadError);
    expect((error as GraphLoadError).message).toMatch(
      /graph "bad" .*variants\.ts.*returned a number, not a graph/,
    );
  });
});

describe("GraphLoadError", () => {
  it("names a missing file", async () => {
    const path = fixture("broken/does-not-exist.ts");
    const error = await loadError([{ id: "ghost", path, exportName: "graph" }]);
    expect(error.graphId).toBe("ghost");
    expect(error.file).toBe(path);
    expect(error.message).toBe(`graph "ghost" (${path}): file does not exist`);
  });

  it("names a directory given as the file", async () => {
    const path = fixture("broken");
    const error = await loadError([{ id: "dir", path, exportName: "graph" }]);
    expect(error.message).toContain("is not a file");
  });

  it("carries the message of a module that throws on import", async () => {
    const path = fixture("broken/throws-on-import.ts");
    const error = await loadError([{ id: "boom", path, exportName: "graph" }]);
    expect(error.graphId).toBe("boom");
    expect(error.message).toContain(path);
    expect(error.message).toContain("module failed to import: FAKE_API_KEY is not set");
    expect((error.cause as Error).message).toBe("FAKE_API_KEY is not set");
  });

  it("lists the exports that exist when the named one is missing", async () => {
    const path = example("chat-agent.ts");
    const error = await loadError([{ id: "agent", path, exportName: "grpah" }]);
    expect(error.message).toContain(`graph "agent" (${path}): export "grpah" not found`);
    expect(error.message).toMatch(/the module exports .*"graph"/);
  });

  it("refuses an export that is neither a graph nor a factory", async () => {
    const path = fixture("broken/not-a-graph.ts");
    const object = await loadError([{ id: "obj", path, exportName: "graph" }]);
    expect(object.message).toContain(
      `graph "obj" (${path}): export "graph" is not a graph (a plain object)`,
    );
    const number = await loadError([{ id: "num", path, exportName: "answer" }]);
    expect(number.message).toContain(`export "answer" is not a graph (a number)`);
  });

  it("reports a promise export that rejects", async () => {
    const path = fixture("broken/rejected-promise.ts");
    const error = await loadError([{ id: "later", path, exportName: "graph" }]);
    expect(error.message).toContain("is a promise that rejected: could not reach the vector store");
  });

  it("reports every broken spec at once, in order, one line each; and duplicate ids", async () => {
    const specs = [
      exampleSpecs[0]!,
      { id: "second", path: fixture("broken/not-a-graph.ts"), exportName: "graph" },
      { id: "third", path: fixture("broken/missing.ts"), exportName: "graph" },
    ];
    const error = await loadGraphRegistry(specs).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GraphLoadErrors);
    const { errors, message } = error as GraphLoadErrors;
    expect(errors.map((e) => e.graphId)).toEqual(["second", "third"]);
    expect(message.split("\n")).toEqual([
      `graph "second" (${specs[1]!.path}): export "graph" is not a graph (a plain object); expected a compiled graph, a StateGraph, a promise of one, or a function (config) => graph`,
      `graph "third" (${specs[2]!.path}): file does not exist`,
    ]);
    const duplicate = await loadError([exampleSpecs[0]!, exampleSpecs[0]!]);
    expect(duplicate.message).toContain("registered twice");
  });
});

describe("defaultAssistantId", () => {
  it("is LangGraph's uuid v5 of the graph id", () => {
    // The id LangGraph Platform gives the default assistant of a graph called "agent".
    expect(defaultAssistantId("agent")).toBe("fe096781-5601-53d2-b2f6-0d3403f7e9ca");
    expect(defaultAssistantId("research")).not.toBe(defaultAssistantId("agent"));
  });
});

describe("schemas", () => {
  it("reads StateSchema graphs, marking messages, with the zod context as config", async () => {
    const schemas = await registry.schemas("agent");
    for (const schema of [schemas.state, schemas.input, schemas.output]) {
      expect(schema).toMatchObject({
        type: "object",
        properties: { messages: { langgraph_type: "messages" }, review: { type: "string" } },
      });
    }
    expect(schemas.config).toMatchObject({
      type: "object",
      properties: { model: { type: "string" }, systemPrompt: { type: "string" } },
    });
    expect(schemas.context).toEqual(schemas.config);
    // Only the root carries a dialect.
    expect(JSON.stringify(schemas.state)).not.toContain("$schema");
    expect(await registry.schemas("agent")).toBe(schemas);
  });

  it("reads zod graphs (factory) and falls back to channels for Annotation graphs", async () => {
    const echo = await registry.schemas("echo");
    expect(echo.state).toMatchObject({ properties: { messages: { langgraph_type: "messages" } } });
    expect(echo.input).not.toBeNull();
    expect(echo.config).toBeNull();

    const research = await registry.schemas("research");
    expect(research.state).toEqual({
      type: "object",
      properties: {
        messages: { langgraph_type: "messages", description: "A list of chat messages" },
        topic: {},
        notes: {},
        summary: {},
      },
    });
    expect(research.input).toEqual(research.state);
    // No context annotation: an object of unknown keys, as LangGraph's server reports it.
    expect(research.config).toEqual({ type: "object", properties: {} });
    expect(research.context).toEqual(research.config);
  });

  it("reads the keys of a context Annotation.Root, also of graphs a factory builds", async () => {
    const variants = await loadGraphRegistry([
      { id: "context", path: fixture("variants.ts"), exportName: "contextFactory" },
      { id: "inspect", path: fixture("config.ts"), exportName: "inspect" },
    ]);
    const { config, context } = await variants.schemas("context");
    expect(config).toEqual({ type: "object", properties: { tenant: {} } });
    expect(context).toEqual(config);
    expect((await variants.schemas("inspect")).config).toEqual({
      type: "object",
      properties: { model: {}, temperature: {} },
    });
  });
});

describe("drawing", () => {
  it("gives the nodes, edges and mermaid text of a graph", async () => {
    const drawing = await registry.drawing("agent");
    expect(ids(drawing.nodes)).toEqual(["__start__", "agent", "tools", "human_review", "__end__"]);
    expect(drawing.nodes[1]).toMatchObject({
      id: "agent",
      type: "runnable",
      data: { name: "agent" },
    });
    expect(drawing.edges).toContainEqual({
      source: "__start__",
      target: "agent",
      conditional: false,
    });
    expect(drawing.edges).toContainEqual({ source: "agent", target: "tools", conditional: true });
    expect(drawing.edges).toContainEqual({
      source: "human_review",
      target: "agent",
      conditional: true,
    });
    expect(drawing.mermaid).toContain("graph TD;");
    expect(drawing.mermaid).toContain("agent -.-> human_review;");
  });

  it("expands subgraphs as deep as xray says", async () => {
    const flat = ids((await registry.drawing("research", { xray: 0 })).nodes);
    expect(flat).toEqual(["__start__", "plan", "research", "respond", "__end__"]);

    const one = await registry.drawing("research", { xray: 1 });
    expect(ids(one.nodes)).toEqual(
      expect.arrayContaining(["plan", "research:search", "research:summarize", "respond"]),
    );
    expect(ids(one.nodes)).not.toContain("research");
    expect(ids(one.nodes)).not.toContain("research:search:fetch");
    expect(one.mermaid).toContain("subgraph research");

    const two = ids((await registry.drawing("research", { xray: 2 })).nodes);
    expect(two).toEqual(expect.arrayContaining(["research:search:query", "research:search:fetch"]));
    expect(ids((await registry.drawing("research", { xray: true })).nodes)).toEqual(two);
  });
});

describe("subgraphs", () => {
  it("lists direct, recursive and addressed subgraphs with their schemas", async () => {
    const names = async (options: Parameters<GraphRegistry["subgraphs"]>[1]) =>
      (await registry.subgraphs("research", options)).map((s) => s.namespace);

    expect(await names({})).toEqual(["research"]);
    expect(await names({ recurse: true })).toEqual(["research", "research|search"]);
    expect(await names({ namespace: "research|search" })).toEqual(["research|search"]);
    expect(await names({ namespace: "research" })).toEqual(["research"]);
    expect(await names({ namespace: "research", recurse: true })).toEqual([
      "research",
      "research|search",
    ]);
    expect(await names({ namespace: "research:3f1c|search:9a2b" })).toEqual(["research|search"]);
    expect(await names({ namespace: "nope" })).toEqual([]);
    expect(await registry.subgraphs("agent")).toEqual([]);

    const [research] = await registry.subgraphs("research");
    expect(research!.state).toMatchObject({
      properties: { notes: {}, messages: { langgraph_type: "messages" } },
    });
    expect(research!.input).not.toBeNull();
  });
});

describe("withPersistence", () => {
  it("returns a graph using the checkpointer without touching the shared one", async () => {
    const shared = await registry.get("echo");
    const saver = new MemorySaver();
    const graph = withPersistence(shared, { checkpointer: saver });
    expect(graph).not.toBe(shared);
    expect(graph.checkpointer).toBe(saver);
    expect(shared.checkpointer).toBeUndefined();

    const config = { configurable: { thread_id: "w1" } };
    await graph.invoke({ messages: [new HumanMessage("persist me")] }, config);
    expect(texts((await graph.getState(config)).values.messages)).toEqual([
      "human: persist me",
      "ai: echo: persist me",
    ]);
    expect(withPersistence(graph, { checkpointer: null }).checkpointer).toBeUndefined();
  });
});

describe("the chat agent", () => {
  async function agent() {
    return withPersistence(await registry.get("agent"), { checkpointer: new MemorySaver() });
  }

  it("calls a tool, reads its result and answers", async () => {
    const graph = await agent();
    const result = await graph.invoke(
      { messages: [new HumanMessage("What's the weather in Oslo?")] },
      { configurable: { thread_id: "weather" } },
    );
    const [, call, tool, answer] = result.messages as BaseMessage[];
    expect(result.messages).toHaveLength(4);
    expect((call as AIMessage).tool_calls).toEqual([
      expect.objectContaining({
        name: "get_weather",
        args: { city: "Oslo" },
        id: "call_get_weather_1",
      }),
    ]);
    expect(ToolMessage.isInstance(tool)).toBe(true);
    expect((tool as ToolMessage).tool_call_id).toBe("call_get_weather_1");
    expect(tool!.content).toBe("It is sunny and 22°C in Oslo.");
    expect(answer!.content).toBe("Here is what I found: It is sunny and 22°C in Oslo.");
    expect(result.review).toBeUndefined();
  });

  it("streams tokens, tool call chunks and a custom progress event", async () => {
    const graph = await agent();
    const tokens: string[] = [];
    const toolArgs: string[] = [];
    const custom: unknown[] = [];
    for await (const [mode, payload] of await graph.stream(
      { messages: [new HumanMessage("what is 6 * 7")] },
      { configurable: { thread_id: "stream" }, streamMode: ["messages", "custom"] },
    )) {
      if (mode === "custom") custom.push(payload);
      if (mode !== "messages") continue;
      const [chunk, metadata] = payload as [
        AIMessage & { tool_call_chunks?: { args?: string }[] },
        object,
      ];
      if (!(metadata as { langgraph_node?: string }).langgraph_node?.startsWith("agent")) continue;
      if (typeof chunk.content === "string" && chunk.content) tokens.push(chunk.content);
      for (const part of chunk.tool_call_chunks ?? []) toolArgs.push(part.args ?? "");
    }
    expect(JSON.parse(toolArgs.join(""))).toEqual({ expression: "6 * 7" });
    expect(toolArgs.length).toBeGreaterThan(1);
    expect(tokens.join("")).toBe("Here is what I found: 6 * 7 = 42");
    expect(tokens.length).toBeGreaterThan(1);
    expect(custom).toEqual([
      { node: "agent", progress: "calling model", turn: 1 },
      { node: "agent", progress: "calling model", turn: 3 },
    ]);
  });

  it("uses the run context", async () => {
    const graph = await agent();
    const result = await graph.invoke(
      { messages: [new HumanMessage("hi")] },
      { configurable: { thread_id: "ctx" }, context: { model: "custom-model" } },
    );
    const answer = result.messages.at(-1) as AIMessage;
    expect(answer.content).toBe('You said: "hi". This is a scripted reply.');
    expect(answer.response_metadata.model_name).toBe("custom-model");
  });

  it("interrupts for approval when asked to, and runs the tool once approved", async () => {
    const graph = await agent();
    const config = { configurable: { thread_id: "approve" } };
    const first = await graph.invoke(
      { messages: [new HumanMessage("Please approve: what's the weather in Rome?")] },
      config,
    );
    expect(first.__interrupt__).toHaveLength(1);
    const state = await graph.getState(config);
    expect(state.next).toEqual(["human_review"]);
    expect(state.tasks[0]?.interrupts[0]?.value).toEqual({
      question: "Allow the assistant to call get_weather?",
      toolCall: { id: "call_get_weather_1", name: "get_weather", args: { city: "Rome" } },
      toolCalls: [{ id: "call_get_weather_1", name: "get_weather", args: { city: "Rome" } }],
    });

    const resumed = await graph.invoke(new Command({ resume: "approve" }), config);
    expect(resumed.review).toBe("approved");
    expect(texts(resumed.messages).slice(2)).toEqual([
      "tool: It is sunny and 22°C in Rome.",
      "ai: Here is what I found: It is sunny and 22°C in Rome.",
    ]);
    expect((await graph.getState(config)).next).toEqual([]);
  });

  it("does not run a rejected tool and tells the model why", async () => {
    const graph = await agent();
    const config = { configurable: { thread_id: "reject" } };
    await graph.invoke({ messages: [new HumanMessage("approve 2 + 2 please")] }, config);
    const resumed = await graph.invoke(
      new Command({ resume: { action: "reject", reason: "not needed" } }),
      config,
    );
    expect(resumed.review).toBe("rejected");
    const tool = resumed.messages[2] as ToolMessage;
    expect(tool.status).toBe("error");
    expect(texts(resumed.messages).slice(2)).toEqual([
      "tool: The reviewer rejected the call to calculator: not needed",
      "ai: I could not complete that: The reviewer rejected the call to calculator: not needed",
    ]);
  });

  it("always reviews a sensitive tool, and runs it with edited arguments", async () => {
    const graph = await agent();
    const config = { configurable: { thread_id: "email" } };
    const first = await graph.invoke(
      { messages: [new HumanMessage("send an email to bob@example.com")] },
      config,
    );
    expect(first.__interrupt__?.[0]?.value).toMatchObject({
      toolCall: { name: "send_email", args: { to: "bob@example.com" } },
    });
    const resumed = await graph.invoke(
      new Command({ resume: { action: "edit", args: { to: "alice@example.com", body: "hi" } } }),
      config,
    );
    expect(resumed.review).toBe("edited");
    // The edited call replaces the original AI message rather than adding one.
    expect(resumed.messages).toHaveLength(4);
    expect((resumed.messages[1] as AIMessage).tool_calls?.[0]?.args).toEqual({
      to: "alice@example.com",
      body: "hi",
    });
    expect(texts(resumed.messages).slice(2)).toEqual([
      "tool: Email sent to alice@example.com.",
      "ai: Here is what I found: Email sent to alice@example.com.",
    ]);
  });
});

describe("the research graph", () => {
  it("runs its nested subgraphs and streams from their namespaces", async () => {
    const graph = await registry.get("research");
    const namespaces = new Set<string>();
    const tokenNamespaces = new Set<string>();
    let tokens = "";
    let final: { messages: BaseMessage[] } | undefined;
    const pathOf = (ns: string[]) => ns.map((segment) => segment.split(":")[0]).join("|");
    for await (const [ns, mode, payload] of await graph.stream(
      { messages: [new HumanMessage("otters?")] },
      { streamMode: ["messages", "custom", "values"], subgraphs: true },
    )) {
      const path = pathOf(ns as string[]);
      namespaces.add(`${mode}@${path}`);
      if (mode === "messages") {
        const [chunk, metadata] = payload as [BaseMessage, Record<string, unknown>];
        if (metadata.langgraph_node === "summarize") {
          expect(pathOf(String(metadata.langgraph_checkpoint_ns).split("|"))).toBe(
            "research|summarize",
          );
          tokenNamespaces.add(path);
          tokens += typeof chunk.content === "string" ? chunk.content : "";
        }
      }
      if (mode === "values" && path === "") final = payload as { messages: BaseMessage[] };
    }
    expect(namespaces).toContain("custom@research|search");
    // The model's tokens come from inside the research subgraph: LangGraph >= 1.7 streams them
    // under the graph that ran the node ("research", as Python LangGraph does), earlier versions
    // under the node's own task ("research|summarize"). Either way, one namespace for all.
    expect([["research"], ["research|summarize"]]).toContainEqual([...tokenNamespaces]);
    expect(tokens).toBe("Summary: fact 1 about otters; fact 2 about otters; fact 3 about otters");
    expect(texts(final!.messages)).toEqual([
      "human: otters?",
      `ai: Research on "otters" (3 notes). ${tokens}`,
    ]);
  });
});
