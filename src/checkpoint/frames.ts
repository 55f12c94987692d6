import { createHash } from "node:crypto";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";

/**
 * List values are stored element by element: each element goes through the serde on its own and
 * becomes a frame `[u8 type length][type][u32 data length][data]`. A FULL row's payload is the
 * frames of the whole list, a DELTA row's the frames of the appended tail, so a value is rebuilt
 * by concatenating the decoded frames of its chain.
 *
 * The content hash of a list is a SHA-256 chain over its frames: h0 = 32 zero bytes,
 * h(i) = sha256(h(i-1) || frame(i)). It depends only on the elements, not on how they are split
 * across rows, so "does this new value start with that stored value?" is answered by hashing the
 * new value's first `length` frames and comparing with the stored row's hash.
 */

export const EMPTY_LIST_HASH: Buffer = Buffer.alloc(32);

export function encodeFrame(type: string, data: Uint8Array): Buffer {
  const typeBytes = Buffer.from(type, "utf8");
  if (typeBytes.length > 255) throw new Error(`serde type name too long: ${type}`);
  const frame = Buffer.allocUnsafe(1 + typeBytes.length + 4 + data.byteLength);
  frame.writeUInt8(typeBytes.length, 0);
  typeBytes.copy(frame, 1);
  frame.writeUInt32BE(data.byteLength, 1 + typeBytes.length);
  frame.set(data, 5 + typeBytes.length);
  return frame;
}

export async function serializeElements(
  serde: SerializerProtocol,
  elements: readonly unknown[],
): Promise<Buffer[]> {
  return Promise.all(
    elements.map(async (element) => {
      const [type, data] = await serde.dumpsTyped(element);
      return encodeFrame(type, data);
    }),
  );
}

export function chainHash(start: Buffer, frames: readonly Buffer[]): Buffer {
  let hash = start;
  for (const frame of frames) hash = createHash("sha256").update(hash).update(frame).digest();
  return hash;
}

/** Hashes of every prefix: result[i] is the hash of the first i frames (result[0] = h0). */
export function prefixHashes(frames: readonly Buffer[]): Buffer[] {
  const hashes = [EMPTY_LIST_HASH];
  let hash = EMPTY_LIST_HASH;
  for (const frame of frames) {
    hash = createHash("sha256").update(hash).update(frame).digest();
    hashes.push(hash);
  }
  return hashes;
}

export interface DecodedFrame {
  type: string;
  data: Uint8Array;
}

export function splitFrames(payload: Buffer): DecodedFrame[] {
  const frames: DecodedFrame[] = [];
  let pos = 0;
  while (pos < payload.length) {
    const typeLength = payload.readUInt8(pos);
    pos += 1;
    const type = payload.toString("utf8", pos, pos + typeLength);
    pos += typeLength;
    const size = payload.readUInt32BE(pos);
    pos += 4;
    if (pos + size > payload.length) throw new Error("corrupt list blob: frame overruns payload");
    // A serde may keep the bytes it is given (the "bytes" type returns them as the value), so it
    // gets its own copy rather than a view into the row's buffer.
    const data =
      type === "json"
        ? payload.subarray(pos, pos + size)
        : new Uint8Array(payload.subarray(pos, pos + size));
    pos += size;
    frames.push({ type, data });
  }
  return frames;
}

export function concatFrames(frames: readonly Buffer[]): Buffer {
  return Buffer.concat(frames as Buffer[]);
}
