/**
 * A minimal Server-Sent Events parser for benchmark clients (the peer's `/runs/stream`, yoga's SSE
 * transport). It yields each event as soon as its terminating blank line arrives, so a caller can
 * timestamp events with `performance.now()` as they are yielded.
 */

export interface SseEvent {
  /** `event:` field; "message" when absent. */
  event: string;
  /** `data:` lines joined with "\n" (not parsed). */
  data: string;
  id?: string;
}

/** Parses an SSE byte stream (e.g. a `node:http` IncomingMessage or a fetch body). */
export async function* parseSse(
  source: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  let id: string | undefined;
  for await (const chunk of source) {
    buffer += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let start = 0;
    let newline = buffer.indexOf("\n");
    while (newline !== -1) {
      let line = buffer.slice(start, newline);
      start = newline + 1;
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (data.length > 0 || event !== "") {
          yield { event: event || "message", data: data.join("\n"), id };
        }
        event = "";
        data = [];
        id = undefined;
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
        else if (field === "id") id = value;
      }
      newline = buffer.indexOf("\n", start);
    }
    buffer = buffer.slice(start);
  }
  if (data.length > 0) yield { event: event || "message", data: data.join("\n"), id };
}
