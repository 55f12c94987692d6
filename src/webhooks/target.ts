import type { LookupAddress } from "node:dns";
import { lookup as dnsLookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";

/**
 * Where a webhook may go, and the POST itself. A run's creator chooses the URL, so without a
 * guard a webhook is a way to make the server call its own network (metadata services, admin
 * ports, databases): SSRF. Every address the host resolves to is checked, and the connection is
 * then made to the checked address (the request's own DNS lookup is replaced), so a name that
 * resolves to a public address for the check and to a private one for the connection (DNS
 * rebinding) cannot slip through.
 */

/** Why an attempt failed; a permanent failure is not retried. */
export class DeliveryError extends Error {
  override name = "DeliveryError";
  readonly permanent: boolean;
  readonly statusCode: number | null;

  constructor(message: string, options: { permanent?: boolean; statusCode?: number | null } = {}) {
    super(message);
    this.permanent = options.permanent ?? false;
    this.statusCode = options.statusCode ?? null;
  }
}

const BLOCKED: Array<[network: string, prefix: number, kind: string]> = [
  ["0.0.0.0", 8, "unspecified"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "shared (carrier-grade NAT)"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local"],
  ["172.16.0.0", 12, "private"],
  ["192.168.0.0", 16, "private"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved"],
  ["::", 128, "unspecified"],
  ["::1", 128, "loopback"],
  // IPv4-compatible addresses (deprecated) embed an IPv4 address the host may route to.
  ["::", 96, "IPv4-compatible"],
  ["fc00::", 7, "private (unique local)"],
  ["fe80::", 10, "link-local"],
  ["ff00::", 8, "multicast"],
];

// One list per range, so a refusal can say which kind of address it was. BlockList also matches
// IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) against the IPv4 ranges.
const BLOCK_LISTS = BLOCKED.map(([network, prefix, kind]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, isIP(network) === 6 ? "ipv6" : "ipv4");
  return { list, kind };
});

/** The kind of a non-public address ("loopback", "private", ...), or null for a public one. */
export function blockedKind(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return "unparseable";
  const type = family === 6 ? "ipv6" : "ipv4";
  return BLOCK_LISTS.find(({ list }) => list.check(address, type))?.kind ?? null;
}

export type Resolver = (host: string) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (host) => dnsLookup(host, { all: true, verbatim: true });

/**
 * The address to connect to for `url`: its IP literal, or the first address its host resolves
 * to — after checking every resolved address unless private targets are allowed.
 */
export async function resolveTarget(
  url: URL,
  options: { allowPrivate: boolean; resolver?: Resolver; signal?: AbortSignal },
): Promise<LookupAddress> {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const literal = isIP(host);
  let addresses: LookupAddress[];
  if (literal) {
    addresses = [{ address: host, family: literal }];
  } else {
    try {
      addresses = await abortable((options.resolver ?? systemResolver)(host), options.signal);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new DeliveryError(`could not resolve ${host}: ${(error as Error).message}`);
    }
  }
  if (addresses.length === 0) throw new DeliveryError(`${host} resolved to no address`);
  if (!options.allowPrivate) {
    for (const { address } of addresses) {
      const kind = blockedKind(address);
      if (kind) {
        throw new DeliveryError(
          `refused: ${host === address ? address : `${host} resolves to ${address}`}, a ${kind} address (set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow private targets)`,
          { permanent: true },
        );
      }
    }
  }
  return addresses[0]!;
}

export interface PostResult {
  statusCode: number;
  /** The start of the response body, for the delivery log. */
  snippet: string;
}

const SNIPPET_BYTES = 512;

/**
 * POSTs `body` to `url`, connecting to `address` whatever the host's DNS says now. No redirects
 * are followed (a redirect could point anywhere) and no connection is reused. Resolves with the
 * response status once the head (and up to a snippet of the body) arrived.
 */
export function postTo(
  url: URL,
  address: LookupAddress,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<PostResult> {
  const pinned: LookupFunction = (_host, options, callback) => {
    if (options.all) (callback as (e: null, a: LookupAddress[]) => void)(null, [address]);
    else callback(null, address.address, address.family);
  };
  const client = url.protocol === "https:" ? https : http;
  return new Promise<PostResult>((resolve, reject) => {
    const request = client.request(
      {
        method: "POST",
        protocol: url.protocol,
        // The hostname stays the URL's, so the Host header and TLS (SNI, certificate name)
        // are those of the name the client gave; only the address is pinned.
        hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
        lookup: pinned,
        agent: false,
        signal,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () =>
          resolve({
            statusCode: response.statusCode ?? 0,
            snippet: Buffer.concat(chunks).toString("utf8").slice(0, SNIPPET_BYTES),
          });
        response.on("data", (chunk: Buffer) => {
          if (size >= SNIPPET_BYTES) return;
          chunks.push(chunk);
          size += chunk.length;
          // Enough to log; the rest of a large (or endless) body is not our concern.
          if (size >= SNIPPET_BYTES) {
            done();
            response.destroy();
          }
        });
        response.on("end", done);
        response.on("error", (error) => (size >= SNIPPET_BYTES ? undefined : reject(error)));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
