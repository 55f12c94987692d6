/**
 * Who is calling. Every service call receives one; the resource filters an auth module returns
 * for it are applied in SQL (src/auth/authorizer.ts).
 *
 * - `anonymous`: no API keys and no auth module are configured; allowed everything.
 * - `user`: a request that passed authentication (an API key, or the auth module's
 *   `authenticate`); the module's resource handlers decide what it may do.
 * - `system`: the server acting on its own (a cron firing); authorized when the work was
 *   scheduled, so handlers do not run again, but graphs still see the user it acts for.
 */
export interface Caller {
  kind: "anonymous" | "user" | "system";
  /** The identity `authenticate` returned; null when auth is off. */
  identity: string | null;
  permissions: string[];
  /**
   * What graphs see as `config.configurable.langgraph_auth_user`: LangGraph's normalised user
   * (`identity`, `display_name`, `is_authenticated`, `permissions` and any extra fields).
   */
  user: Record<string, unknown> | null;
}

export const anonymousCaller: Caller = Object.freeze({
  kind: "anonymous",
  identity: null,
  permissions: [],
  user: null,
});

/** The server acting for `user` (null: for nobody in particular). */
export function systemCaller(user: Record<string, unknown> | null): Caller {
  return {
    kind: "system",
    identity: typeof user?.identity === "string" ? user.identity : null,
    permissions: Array.isArray(user?.permissions) ? (user.permissions as string[]) : [],
    user,
  };
}

/**
 * What a graph receives in `config.configurable` about the user a run acts for (as LangGraph
 * Platform passes it); nothing when auth is off.
 */
export function authConfigurable(user: unknown): Record<string, unknown> {
  if (!user || typeof user !== "object") return {};
  const record = user as Record<string, unknown>;
  return {
    langgraph_auth_user: record,
    langgraph_auth_user_id: record.identity ?? null,
    langgraph_auth_permissions: Array.isArray(record.permissions) ? record.permissions : [],
  };
}
