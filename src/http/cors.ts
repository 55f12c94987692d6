import type { CORSOptions, CORSOptionsFactory } from "@whatwg-node/server";
import type { CorsPolicy } from "../config.ts";

export type CorsSetting = CORSOptions | CORSOptionsFactory<unknown>;

/**
 * CORS for every route we serve, in whatwg-node's terms (yoga's `cors` option, or the front's
 * plugin when an http.app is mounted).
 *
 * Without `http.cors`, CORS_ORIGINS alone: none (same-origin only), any, or a list allowed with
 * credentials. With it: an allowed origin is echoed back (with `Vary: Origin`) along with the
 * policy's methods, headers, credentials, exposed headers and max age; any other origin gets no
 * CORS headers, so the browser refuses it.
 */
export function corsSetting(corsOrigins: string[], policy: CorsPolicy | null): CorsSetting {
  if (!policy) {
    if (corsOrigins.length === 0) return false;
    if (corsOrigins.includes("*")) return { origin: "*" };
    return { origin: corsOrigins, credentials: true };
  }
  if (policy.origins.length === 0 && policy.originPattern === null) return false;
  const anyOrigin = policy.origins.includes("*");
  const pattern =
    policy.originPattern === null ? null : new RegExp(`^(?:${policy.originPattern})$`);
  const allowed: CORSOptions = {
    // whatwg-node echoes the request's origin for "*", and says Vary: Origin.
    origin: ["*"],
    methods: policy.methods ?? undefined,
    allowedHeaders: policy.headers ?? undefined,
    exposedHeaders: policy.exposeHeaders.length ? policy.exposeHeaders : undefined,
    credentials: policy.credentials,
    maxAge: policy.maxAgeSeconds ?? undefined,
  };
  return (request) => {
    const origin = request.headers.get("origin");
    if (origin === null) return false;
    const ok = anyOrigin || policy.origins.includes(origin) || pattern?.test(origin) === true;
    return ok ? allowed : false;
  };
}
