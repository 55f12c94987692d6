export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** One line per message on stderr: `time level message {fields}`. */
export function createLogger(level: LogLevel, write: (line: string) => void = writeStderr): Logger {
  const emit =
    (at: Exclude<LogLevel, "silent">) => (message: string, fields?: Record<string, unknown>) => {
      if (order[at] < order[level]) return;
      const suffix = fields && Object.keys(fields).length > 0 ? ` ${safeJson(fields)}` : "";
      write(`${new Date().toISOString()} ${at.padEnd(5)} ${message}${suffix}`);
    };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

function writeStderr(line: string) {
  process.stderr.write(`${line}\n`);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v) =>
      v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v,
    );
  } catch {
    return String(value);
  }
}
