import { createHmac } from "node:crypto";

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the receiver recomputes
 * HMAC-SHA256 over `${webhook-id}.${webhook-timestamp}.${body}` with the shared secret and
 * compares it with `webhook-signature` ("v1," + base64). The id is the delivery's, the same on
 * every retry, so receivers can drop duplicates; the timestamp is the attempt's, so receivers can
 * refuse replays of old requests.
 */

/**
 * The key bytes of a secret. By the convention Standard Webhooks libraries follow, a "whsec_"
 * secret is base64 after the prefix; any other string is used as its UTF-8 bytes.
 */
export function webhookKey(secret: string): Buffer {
  return secret.startsWith("whsec_")
    ? Buffer.from(secret.slice("whsec_".length), "base64")
    : Buffer.from(secret, "utf8");
}

export function sign(key: Buffer, id: string, timestamp: number, body: string): string {
  const digest = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  return `v1,${digest}`;
}

/** The three Standard Webhooks headers; without a key, the request goes unsigned. */
export function webhookHeaders(
  key: Buffer | null,
  id: string,
  timestamp: number,
  body: string,
): Record<string, string> {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    ...(key ? { "webhook-signature": sign(key, id, timestamp, body) } : {}),
  };
}
