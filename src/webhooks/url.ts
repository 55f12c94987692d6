import { InvalidInputError } from "../errors.ts";

/**
 * A webhook URL as a client may give it: absolute http(s), no user:password (a secret in a URL
 * ends up in logs and in our database; receivers verify our signature instead). Whether the host
 * is a private address is decided at delivery, after DNS resolution (see target.ts).
 */
export function webhookUrl(value: string, field: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidInputError(`${field} must be an absolute http(s) URL, got "${value}"`, {
      field,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidInputError(`${field} must be an http(s) URL, got "${value}"`, { field });
  }
  if (url.username || url.password) {
    throw new InvalidInputError(
      `${field} must not carry credentials (user:password@); verify the webhook-signature header instead`,
      { field },
    );
  }
  if (!url.hostname) {
    throw new InvalidInputError(`${field} has no host: "${value}"`, { field });
  }
  return value;
}
