import { InvalidInputError } from "../errors.ts";
import { policyProblem, type WebhookUrlPolicy } from "./policy.ts";

/**
 * A webhook URL as a client may give it: absolute http(s), no user:password (a secret in a URL
 * ends up in logs and in our database; receivers verify our signature instead). Whether the host
 * is a private address is decided at delivery, after DNS resolution (see target.ts). `policy`:
 * the deployment's own rules (langgraph.json webhooks.url).
 */
export function webhookUrl(
  value: string,
  field: string,
  policy: WebhookUrlPolicy | null = null,
): string {
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
  const problem = policy ? policyProblem(url, value, policy) : null;
  if (problem) throw new InvalidInputError(`${field} ${problem}`, { field });
  return value;
}
