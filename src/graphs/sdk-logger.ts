import type { Logger } from "../log.ts";

/**
 * Where `getLogger()` of `@langchain/langgraph-sdk/logging` looks for the server's logger. A
 * global symbol, so every copy of the SDK in the project finds the same one.
 */
const SDK_LOGGER = Symbol.for("langgraph.api.sdk-logger");

type Level = "debug" | "info" | "warn" | "error";

/**
 * The SDK types its logger as winston's: npm and CLI level names, each taking a message with
 * metadata, or one info object (`{message, ...fields}`), and returning the logger for chaining.
 */
const SDK_LEVELS: Record<string, Level> = {
  error: "error",
  warn: "warn",
  info: "info",
  help: "info",
  data: "info",
  prompt: "info",
  input: "info",
  http: "debug",
  verbose: "debug",
  debug: "debug",
  silly: "debug",
};

export type SdkLogger = Record<keyof typeof SDK_LEVELS, (...args: unknown[]) => SdkLogger>;

/** Our logger in the shape graphs get from `getLogger()`. */
function sdkLogger(log: Logger): SdkLogger {
  const logger = {} as SdkLogger;
  for (const [name, level] of Object.entries(SDK_LEVELS)) {
    logger[name] = (...args: unknown[]) => {
      const { message, fields } = entry(args);
      log[level](message, fields);
      return logger;
    };
  }
  return logger;
}

/**
 * Makes `log` the logger graphs get from `getLogger()`. Called on start-up before any graph or
 * auth module is imported, since modules may ask for it at their top level.
 */
export function registerSdkLogger(log: Logger): void {
  (globalThis as Record<symbol, unknown>)[SDK_LOGGER] = sdkLogger(log);
}

function entry(args: unknown[]): { message: string; fields?: Record<string, unknown> } {
  const [first, ...meta] = args;
  const fields: Record<string, unknown> = {};
  let message: string;
  if (typeof first === "string") {
    message = first;
  } else if (isRecord(first) && !(first instanceof Error)) {
    // winston's info object: the message beside its fields.
    const { message: text, level: _level, ...rest } = first;
    message = typeof text === "string" ? text : JSON.stringify(text ?? "");
    Object.assign(fields, rest);
  } else if (first instanceof Error) {
    message = first.message;
    fields.error = first;
  } else {
    message = String(first);
  }
  const extra: unknown[] = [];
  for (const item of meta) {
    if (item instanceof Error) fields.error = item;
    else if (isRecord(item)) Object.assign(fields, item);
    else extra.push(item);
  }
  if (extra.length > 0) fields.args = extra;
  return Object.keys(fields).length > 0 ? { message, fields } : { message };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
