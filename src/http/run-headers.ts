import type { HeaderPatterns } from "../config.ts";

/** Credentials never reach a run's config, whatever the patterns say (as on the platform). */
const NEVER_COPIED = new Set(["authorization", "x-api-key", "x-service-key", "x-tenant-id"]);

const NONE: Readonly<Record<string, string>> = Object.freeze({});

/**
 * `http.configurable_headers`: the request headers a run gets in `config.configurable`, named
 * as they arrive (lowercase). A header an exclude pattern matches is left out; otherwise it is
 * copied when an include pattern matches. Without the key, no header is copied.
 */
export function createRunHeaderPicker(
  patterns: HeaderPatterns | null,
): (headers: Headers | undefined) => Readonly<Record<string, string>> {
  if (!patterns || patterns.includes.length === 0) return () => NONE;
  const includes = patterns.includes.map(wildcard);
  const excludes = patterns.excludes.map(wildcard);
  return (headers) => {
    if (!headers) return NONE;
    const picked: Record<string, string> = {};
    for (const [name, value] of headers) {
      if (NEVER_COPIED.has(name) || excludes.some((p) => p.test(name))) continue;
      if (includes.some((p) => p.test(name))) picked[name] = value;
    }
    return picked;
  };
}

/** Literal characters and `*` only: a pattern cannot be a costly regular expression. */
function wildcard(pattern: string): RegExp {
  const source = pattern
    .split("*")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`, "s");
}
