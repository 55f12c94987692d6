import { InvalidNamespaceError } from "@langchain/langgraph-checkpoint";

/**
 * LangGraph forbids this character inside labels. The table stores labels joined by it
 * (src/db/sql/store.ts), which is only unambiguous because of that rule.
 */
export const LABEL_SEPARATOR = ".";

/** LangGraph keeps namespaces rooted here for itself. */
export const RESERVED_ROOT_LABEL = "langgraph";

/**
 * LangGraph's own namespace rules with its own messages (`validateNamespace` in
 * @langchain/langgraph-checkpoint, which the package does not export). Needed here because graphs
 * reach the store through AsyncBatchedStore, whose put skips that check: a label with a "." written
 * from a node would otherwise corrupt the joined prefix.
 */
export function assertValidNamespace(namespace: readonly unknown[]): asserts namespace is string[] {
  if (namespace.length === 0) throw new InvalidNamespaceError("Namespace cannot be empty.");
  for (const label of namespace) {
    if (typeof label !== "string") {
      throw new InvalidNamespaceError(
        `Invalid namespace label '${label}' found in ${namespace}. Namespace labels must be strings, but got ${typeof label}.`,
      );
    }
    if (label.includes(LABEL_SEPARATOR)) {
      throw new InvalidNamespaceError(
        `Invalid namespace label '${label}' found in ${namespace}. Namespace labels cannot contain periods ('.').`,
      );
    }
    if (label === "") {
      throw new InvalidNamespaceError(
        `Namespace labels cannot be empty strings. Got ${label} in ${namespace}`,
      );
    }
  }
  if (namespace[0] === RESERVED_ROOT_LABEL) {
    throw new InvalidNamespaceError(
      `Root label for namespace cannot be "${RESERVED_ROOT_LABEL}". Got: ${namespace}`,
    );
  }
}

/**
 * Whether labels can be looked up by their joined form at all. A label with a "." or an empty
 * label can never have been written, and joining it would alias other namespaces (["a.b"] and
 * ["a", "b"] join alike), so reads answer "nothing" for such input instead of querying.
 */
export function isAddressable(labels: readonly string[]): boolean {
  return labels.every((label) => label !== "" && !label.includes(LABEL_SEPARATOR));
}
