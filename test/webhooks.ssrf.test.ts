import { resolve } from "node:path";
import { ConfigError, loadConfig } from "../src/config.ts";
import { blockedKind, DeliveryError, postTo, resolveTarget } from "../src/webhooks/target.ts";
import {
  CreateRunDocument,
  CreateThreadDocument,
  RunDocument,
  RunWebhookDeliveriesDocument,
} from "./gql/graphql.ts";
import { fixturesConfig, repoRoot, startTestServer, type TestServer } from "./helpers/server.ts";
import { type Receiver, startReceiver, until } from "./helpers/webhook-receiver.ts";

/** The server as configured by default: webhooks to private addresses are refused. */
let server: TestServer;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startTestServer({ configFile: fixturesConfig });
});

afterAll(async () => {
  await server?.stop();
  await receiver?.close();
});

async function refusal(targetOf: (port: number) => string) {
  const threadId = (await server.query(CreateThreadDocument, {})).createThread.id;
  const { createRun } = await server.query(CreateRunDocument, {
    input: {
      threadId,
      assistantId: "append",
      input: { items: [1] },
      webhook: targetOf(receiver.port),
    },
  });
  const [delivery] = await until(
    async () =>
      (await server.query(RunWebhookDeliveriesDocument, { id: createRun.id })).run!
        .webhookDeliveries,
    (d) => d.length === 1 && d[0]!.status !== "PENDING",
    "the delivery to settle",
  );
  // The run is not affected by its webhook's refusal.
  expect((await server.query(RunDocument, { id: createRun.id })).run).toMatchObject({
    status: "SUCCESS",
    thread: { status: "IDLE" },
  });
  return delivery!;
}

describe("by default, private targets are refused", () => {
  it("refuses a loopback IP at delivery: FAILED after one attempt, nothing sent", async () => {
    const delivery = await refusal((port) => `http://127.0.0.1:${port}/private`);
    expect(delivery).toMatchObject({ status: "FAILED", attempts: 1, lastStatusCode: null });
    expect(delivery.lastError).toMatch(/^refused: 127\.0\.0\.1, a loopback address/);
    expect(delivery.lastError).toMatch(/WEBHOOK_ALLOW_PRIVATE_TARGETS/);
    expect(receiver.received("/private")).toHaveLength(0);
  });

  it("refuses a name that resolves to loopback (checked after DNS)", async () => {
    const delivery = await refusal((port) => `http://localhost:${port}/by-name`);
    expect(delivery).toMatchObject({ status: "FAILED", attempts: 1 });
    expect(delivery.lastError).toMatch(/^refused: localhost resolves to (127\.0\.0\.1|::1)/);
    expect(receiver.received("/by-name")).toHaveLength(0);
  });

  it("refuses IPv6 loopback and IPv4-mapped literals", async () => {
    for (const host of ["[::1]", "[::ffff:127.0.0.1]"]) {
      const delivery = await refusal((port) => `http://${host}:${port}/v6`);
      expect(delivery.status).toBe("FAILED");
      expect(delivery.lastError).toMatch(/loopback address/);
    }
    expect(receiver.received("/v6")).toHaveLength(0);
  });
});

describe("address classification", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["100.64.0.1", "shared (carrier-grade NAT)"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["fc00::1", "private (unique local)"],
    ["fd12:3456::1", "private (unique local)"],
    ["fe80::1", "link-local"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:a9fe:a9fe", "link-local"],
  ])("%s is %s", (address, kind) => {
    expect(blockedKind(address)).toBe(kind);
  });

  it.each([
    "8.8.8.8",
    "93.184.216.34",
    "172.15.255.255",
    "172.32.0.1",
    "192.169.0.1",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
  ])("%s is public", (address) => {
    expect(blockedKind(address)).toBeNull();
  });
});

describe("resolveTarget", () => {
  const resolverOf = (...addresses: string[]) => {
    let calls = 0;
    const resolver = async () => {
      calls++;
      return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    };
    return { resolver, calls: () => calls };
  };

  it("checks every resolved address, not only the first", async () => {
    const { resolver } = resolverOf("93.184.216.34", "10.0.0.7");
    const error = await resolveTarget(new URL("https://hook.example/x"), {
      allowPrivate: false,
      resolver,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).permanent).toBe(true);
    expect((error as DeliveryError).message).toMatch(
      /^refused: hook\.example resolves to 10\.0\.0\.7, a private address/,
    );
  });

  it("returns the first address when all are public, or any when private ones are allowed", async () => {
    const { resolver } = resolverOf("93.184.216.34", "2606:4700::1111");
    expect(
      await resolveTarget(new URL("https://hook.example/x"), { allowPrivate: false, resolver }),
    ).toEqual({ address: "93.184.216.34", family: 4 });
    expect(await resolveTarget(new URL("http://127.0.0.1:1/x"), { allowPrivate: true })).toEqual({
      address: "127.0.0.1",
      family: 4,
    });
  });

  it("a name that does not resolve is a retryable failure", async () => {
    const error = await resolveTarget(new URL("http://no-such-host.invalid/x"), {
      allowPrivate: false,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).permanent).toBe(false);
    expect((error as DeliveryError).message).toMatch(/^could not resolve no-such-host\.invalid/);
  });

  it("the POST goes to the checked address: no second DNS lookup (no rebinding)", async () => {
    // A name no real DNS knows: the request can only arrive if it used the pinned address.
    const url = new URL(`http://rebind.webhook.test:${receiver.port}/pinned`);
    const { resolver, calls } = resolverOf("127.0.0.1");
    const target = await resolveTarget(url, { allowPrivate: true, resolver });
    const result = await postTo(url, target, "{}", {}, AbortSignal.timeout(5000));
    expect(result.statusCode).toBe(200);
    expect(calls()).toBe(1);
    const [request] = receiver.received("/pinned");
    expect(request!.headers.host).toBe(`rebind.webhook.test:${receiver.port}`);
  });
});

describe("configuration", () => {
  const load = (env: Record<string, string>) =>
    loadConfig({
      argv: ["start", "--config", resolve(repoRoot, "langgraph.json")],
      env: { DATABASE_URL: "postgresql://x@127.0.0.1/x", ...env },
    });

  it("has safe defaults", () => {
    expect(load({}).webhooks).toEqual({
      secret: null,
      allowPrivateTargets: false,
      maxAttempts: 5,
      timeoutSeconds: 10,
      retryBaseSeconds: 10,
      retryMaxSeconds: 3600,
      urlPolicy: null,
      headers: {},
    });
    expect(load({}).crons).toEqual({ enabled: true, tickSeconds: 10 });
  });

  it("reads the webhook and cron settings", () => {
    const config = load({
      WEBHOOK_SECRET: "whsec_c2VjcmV0",
      WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
      WEBHOOK_MAX_ATTEMPTS: "7",
      WEBHOOK_TIMEOUT_SECONDS: "2.5",
      CRON_SCHEDULER: "false",
      CRON_TICK_SECONDS: "1",
    });
    expect(config.webhooks).toMatchObject({
      secret: "whsec_c2VjcmV0",
      allowPrivateTargets: true,
      maxAttempts: 7,
      timeoutSeconds: 2.5,
    });
    expect(config.crons).toEqual({ enabled: false, tickSeconds: 1 });
  });

  it("refuses a whsec_ secret that is not base64, and a bad flag, without echoing the secret", () => {
    expect(() => load({ WEBHOOK_SECRET: "whsec_not base64!" })).toThrow(ConfigError);
    expect(() => load({ WEBHOOK_SECRET: "whsec_not base64!" })).not.toThrow(/not base64!/);
    expect(() => load({ WEBHOOK_ALLOW_PRIVATE_TARGETS: "perhaps" })).toThrow(
      /WEBHOOK_ALLOW_PRIVATE_TARGETS/,
    );
  });
});
