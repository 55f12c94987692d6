import { getLogger } from "@langchain/langgraph-sdk/logging";
import { registerSdkLogger } from "../src/graphs/sdk-logger.ts";
import { createLogger } from "../src/log.ts";

/** The logger graphs get from the SDK's getLogger(), in the shapes its (winston) type allows. */

const SDK_LOGGER = Symbol.for("langgraph.api.sdk-logger");

function capture(level: "debug" | "info" = "debug") {
  const lines: string[] = [];
  registerSdkLogger(createLogger(level, (line) => lines.push(line.replace(/^\S+ /, ""))));
  return lines;
}

afterEach(() => {
  delete (globalThis as Record<symbol, unknown>)[SDK_LOGGER];
});

describe("the SDK logger", () => {
  it("is what getLogger() returns once registered, and nothing before", () => {
    expect(() => getLogger()).toThrow(/Logger not available/);
    const lines = capture();
    getLogger().info("hello");
    expect(lines).toEqual(["info  hello"]);
  });

  it("takes a message with metadata, an info object, an error; and chains", () => {
    const lines = capture();
    getLogger()
      .warn("tool failed", { tool: "search" }, { attempt: 2 })
      .info({ message: "from an object", level: "info", node: "agent" })
      .error(new Error("boom"))
      .debug("with extras", "plain", 3);
    expect(lines[0]).toBe('warn  tool failed {"tool":"search","attempt":2}');
    expect(lines[1]).toBe('info  from an object {"node":"agent"}');
    expect(lines[2]).toMatch(/^error boom \{"error":\{"name":"Error","message":"boom"/);
    expect(lines[3]).toBe('debug with extras {"args":["plain",3]}');
  });

  it("maps winston's other levels onto ours, honouring the level", () => {
    const lines = capture("info");
    const logger = getLogger();
    logger.http("request");
    logger.verbose("detail");
    logger.silly("noise");
    logger.help("usage");
    logger.data("rows");
    expect(lines).toEqual(["info  usage", "info  rows"]);
  });
});
