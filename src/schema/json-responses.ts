import { isAsyncIterable, type Plugin } from "graphql-yoga";

/**
 * JSON for GraphQL results, byte for byte what JSON.stringify gives, that keeps the encoded
 * bytes of every frozen plain object or array it writes. Frozen values cannot change, and the
 * thread service hands out frozen JSON for the values it shares between reads (JsonCache
 * `shared`): a history page repeats nearly every message in each of its states, and each is
 * then encoded once, not once per state per request. The output is a list of Buffers joined
 * once at the end, so a cached message is copied, never re-encoded or re-scanned.
 */
export function createJsonWriter() {
  const encoded = new WeakMap<object, Buffer>();

  /** Writes `value`; true if it is immutable all the way down (its bytes may be kept). */
  function writeValue(value: unknown, out: Output): boolean {
    if (!walkable(value)) {
      out.text(JSON.stringify(value) ?? "null");
      return value === null || typeof value !== "object";
    }
    if (!Object.isFrozen(value)) {
      writeMembers(value, out);
      return false;
    }
    let bytes = encoded.get(value);
    if (bytes === undefined) {
      const own = new Output();
      const immutable = writeMembers(value, own);
      bytes = own.finish();
      // Freezing is shallow: a frozen object holding a mutable one is written, not kept.
      if (!immutable) {
        out.bytes(bytes);
        return false;
      }
      // Small Buffers are slices of a shared 8 KiB pool, which a kept slice would pin whole.
      if (bytes.length < Buffer.poolSize >>> 1) {
        const unpooled = Buffer.allocUnsafeSlow(bytes.length);
        bytes.copy(unpooled);
        bytes = unpooled;
      }
      encoded.set(value, bytes);
    }
    out.bytes(bytes);
    return true;
  }

  function writeMembers(value: object, out: Output): boolean {
    let immutable = true;
    if (Array.isArray(value)) {
      out.text("[");
      for (let i = 0; i < value.length; i++) {
        if (i > 0) out.text(",");
        if (!writeValue(skipped(value[i]) ? null : value[i], out)) immutable = false;
      }
      out.text("]");
      return immutable;
    }
    let separator = "{";
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key];
      if (skipped(item)) continue;
      if (walkable(item)) {
        out.text(`${separator}${JSON.stringify(key)}:`);
        if (!writeValue(item, out)) immutable = false;
      } else {
        // JSON.stringify decides, and may leave the member out (a toJSON giving undefined).
        const text = JSON.stringify(item);
        if (item !== null && typeof item === "object") immutable = false;
        if (text === undefined) continue;
        out.text(`${separator}${JSON.stringify(key)}:${text}`);
      }
      separator = ",";
    }
    out.text(separator === "{" ? "{}" : "}");
    return immutable;
  }

  return {
    /** The JSON encoding of `value`, as UTF-8 bytes. */
    encode(value: unknown): Buffer {
      const out = new Output();
      writeValue(skipped(value) ? null : value, out);
      return out.finish();
    },
  };
}

/** A plain object or array without toJSON: anything else is left to JSON.stringify. */
function walkable(value: unknown): value is object {
  if (value === null || typeof value !== "object") return false;
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
function skipped(value: unknown): boolean {
  return value === undefined || typeof value === "function" || typeof value === "symbol";
}

class Output {
  private readonly chunks: Buffer[] = [];
  private pending = "";

  text(text: string): void {
    this.pending += text;
  }

  bytes(bytes: Buffer): void {
    this.flush();
    this.chunks.push(bytes);
  }

  finish(): Buffer {
    this.flush();
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
  }

  private flush(): void {
    if (this.pending === "") return;
    // Mostly a comma between two cached items: one shared Buffer, not one allocated per item.
    this.chunks.push(PUNCTUATION.get(this.pending) ?? Buffer.from(this.pending));
    this.pending = "";
  }
}

const PUNCTUATION = new Map(
  [",", "[", "]", "{", "}", "],", "},", "]}", "}}", "}]"].map((text) => [text, Buffer.from(text)]),
);

type JsonWriter = ReturnType<typeof createJsonWriter>;

/**
 * Has yoga write single results with `writer`, through the hook it leaves for that (a result's
 * own `stringify`), so statuses, headers and error masking stay yoga's. The text goes out as a
 * Buffer: given a string, whatwg-node measures its UTF-8 length in one pass and encodes it in
 * another, which on a multi-megabyte history page costs as much as writing it.
 */
export function useJsonResponses(writer: JsonWriter = createJsonWriter()): Plugin {
  const stringify = (result: unknown) => writer.encode(result);
  return {
    onResultProcess({ result }) {
      if (Array.isArray(result) || isAsyncIterable(result)) return;
      Object.defineProperty(result, "stringify", { value: stringify, configurable: true });
    },
  };
}
