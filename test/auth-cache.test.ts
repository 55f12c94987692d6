import { createAuthenticator } from "../src/auth/authenticate.ts";

/** langgraph.json auth.cache: authenticate's results remembered by the configured headers. */

function counting() {
  const calls: string[] = [];
  const authenticate = (request: Request) => {
    const token = request.headers.get("authorization") ?? "";
    calls.push(token);
    if (token === "Bearer bad") throw new Error("Invalid token");
    return { identity: `${token.slice(7)}#${calls.length}`, permissions: [] };
  };
  return { calls, authenticate };
}

const request = (headers: Record<string, string>) =>
  new Request("http://localhost/graphql", { headers });

afterEach(() => {
  vi.useRealTimers();
});

describe("auth.cache", () => {
  it("calls authenticate once per cache key within ttl_seconds, again after", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const { calls, authenticate } = counting();
    const authenticator = createAuthenticator({
      apiKeys: [],
      authenticate,
      cache: { headers: ["authorization", "x-tenant"], ttlSeconds: 60, maxSize: 10 },
    });
    const alice = { authorization: "Bearer alice", "x-tenant": "t1" };
    const first = await authenticator.authenticate(request(alice));
    expect(await authenticator.authenticate(request(alice))).toEqual(first);
    expect(calls).toHaveLength(1);

    // Another value of any cache key is another entry.
    await authenticator.authenticate(request({ ...alice, "x-tenant": "t2" }));
    await authenticator.authenticate(request({ authorization: "Bearer bob" }));
    expect(calls).toHaveLength(3);

    vi.setSystemTime(Date.now() + 61_000);
    const later = await authenticator.authenticate(request(alice));
    expect(later.identity).not.toBe(first.identity);
    expect(calls).toHaveLength(4);
  });

  it("never caches a request without the cache headers, nor a failure", async () => {
    const { calls, authenticate } = counting();
    const authenticator = createAuthenticator({
      apiKeys: [],
      authenticate,
      cache: { headers: ["authorization"], ttlSeconds: 60, maxSize: 10 },
    });
    await authenticator.authenticate(request({ "x-other": "1" })).catch(() => null);
    await authenticator.authenticate(request({ "x-other": "1" })).catch(() => null);
    await expect(
      authenticator.authenticate(request({ authorization: "Bearer bad" })),
    ).rejects.toThrow();
    await expect(
      authenticator.authenticate(request({ authorization: "Bearer bad" })),
    ).rejects.toThrow();
    expect(calls).toHaveLength(4);
  });

  it("keeps at most max_size entries, forgetting the least recently used", async () => {
    const { calls, authenticate } = counting();
    const authenticator = createAuthenticator({
      apiKeys: [],
      authenticate,
      cache: { headers: ["authorization"], ttlSeconds: 60, maxSize: 2 },
    });
    for (const user of ["a", "b", "a", "c", "a", "b"]) {
      await authenticator.authenticate(request({ authorization: `Bearer ${user}` }));
    }
    // a, b, (a cached), c evicts b, (a cached), b again.
    expect(calls).toEqual(["Bearer a", "Bearer b", "Bearer c", "Bearer b"]);
  });

  it("calls authenticate on every request without auth.cache", async () => {
    const { calls, authenticate } = counting();
    const authenticator = createAuthenticator({ apiKeys: [], authenticate });
    await authenticator.authenticate(request({ authorization: "Bearer a" }));
    await authenticator.authenticate(request({ authorization: "Bearer a" }));
    expect(calls).toHaveLength(2);
  });
});
