/**
 * Who is calling. Every service call receives one; resource filters derived from it are applied
 * in SQL. Until an auth module is configured every request is the anonymous caller, allowed
 * everything.
 */
export interface Caller {
  /** The identity LangGraph's `Auth.authenticate` returned, or null when auth is off. */
  identity: string | null;
  permissions: string[];
  /** What graphs see as `config.configurable.langgraph_auth_user`. */
  user: Record<string, unknown> | null;
}

export const anonymousCaller: Caller = Object.freeze({
  identity: null,
  permissions: [],
  user: null,
});
