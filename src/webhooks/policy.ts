/**
 * langgraph.json `webhooks.url`: which webhook URLs a deployment accepts, on top of what every
 * URL must satisfy (see url.ts). Checked when a run or cron is given a webhook, and again before
 * each delivery, so a URL stored before the policy tightened is not called either.
 */
export interface WebhookUrlPolicy {
  requireHttps: boolean;
  /** Hosts allowed, exactly or as "*.example.com" (its subdomains, not itself); empty: any. */
  allowedDomains: string[];
  /** Ports allowed, a URL without one counting as 443 / 80; empty: any. */
  allowedPorts: number[];
  maxUrlLength: number | null;
}

/** What the policy holds against `url` (a parsed absolute http(s) URL), or null. */
export function policyProblem(url: URL, raw: string, policy: WebhookUrlPolicy): string | null {
  if (policy.maxUrlLength !== null && raw.length > policy.maxUrlLength) {
    return `is longer than the ${policy.maxUrlLength} characters this server accepts`;
  }
  if (policy.requireHttps && url.protocol !== "https:") return "must be an https URL";
  const host = url.hostname.toLowerCase();
  if (
    policy.allowedDomains.length > 0 &&
    !policy.allowedDomains.some((domain) => domainAllows(domain.toLowerCase(), host))
  ) {
    return `host "${host}" is not among the allowed domains (${policy.allowedDomains.join(", ")})`;
  }
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  if (policy.allowedPorts.length > 0 && !policy.allowedPorts.includes(port)) {
    return `port ${port} is not among the allowed ports (${policy.allowedPorts.join(", ")})`;
  }
  return null;
}

function domainAllows(domain: string, host: string): boolean {
  if (domain.startsWith("*.")) return host.endsWith(domain.slice(1));
  return host === domain;
}
