import { webhookUrl } from "../src/webhooks/url.ts";

/** langgraph.json webhooks.url, as run and cron inputs meet it. */

const policy = {
  requireHttps: false,
  allowedDomains: [] as string[],
  allowedPorts: [] as number[],
  maxUrlLength: null as number | null,
};

const problem = (url: string, rules: Partial<typeof policy>) => {
  try {
    webhookUrl(url, "input.webhook", { ...policy, ...rules });
    return null;
  } catch (error) {
    return (error as Error).message;
  }
};

describe("webhooks.url", () => {
  it("accepts any URL url.ts accepts when it sets no rule", () => {
    expect(problem("http://hooks.example.com:8080/x", {})).toBeNull();
  });

  it("require_https refuses http URLs", () => {
    expect(problem("http://hooks.example.com/x", { requireHttps: true })).toBe(
      "input.webhook must be an https URL",
    );
    expect(problem("https://hooks.example.com/x", { requireHttps: true })).toBeNull();
  });

  it("allowed_domains matches hosts exactly, and *.domain its subdomains but not itself", () => {
    const allowedDomains = ["hooks.example.com", "*.mycorp.com"];
    expect(problem("https://HOOKS.example.com/x", { allowedDomains })).toBeNull();
    expect(problem("https://a.mycorp.com/x", { allowedDomains })).toBeNull();
    expect(problem("https://a.b.mycorp.com/x", { allowedDomains })).toBeNull();
    expect(problem("https://mycorp.com/x", { allowedDomains })).toContain(
      'host "mycorp.com" is not among the allowed domains',
    );
    expect(problem("https://evilmycorp.com/x", { allowedDomains })).not.toBeNull();
    expect(problem("https://example.com/x", { allowedDomains })).not.toBeNull();
  });

  it("allowed_ports counts a URL without a port as 443 or 80", () => {
    expect(problem("https://h.example.com/x", { allowedPorts: [443] })).toBeNull();
    expect(problem("http://h.example.com/x", { allowedPorts: [443] })).toContain(
      "port 80 is not among the allowed ports (443)",
    );
    expect(problem("https://h.example.com:8443/x", { allowedPorts: [443, 8443] })).toBeNull();
  });

  it("max_url_length refuses longer URLs", () => {
    expect(problem("https://h.example.com/abc", { maxUrlLength: 24 })).toContain(
      "is longer than the 24 characters",
    );
    expect(problem("https://h.example.com/abc", { maxUrlLength: 25 })).toBeNull();
  });
});
