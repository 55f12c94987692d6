import * as checkpointModule from "@langchain/langgraph-checkpoint";
import { InvalidNamespaceError } from "@langchain/langgraph-checkpoint";

type ValidateNamespace = (
  namespace: string[],
  options?: { allowEmpty?: boolean; allowReservedRoot?: boolean },
) => void;

/**
 * LangGraph's own namespace check, which @langchain/langgraph-checkpoint exports from 1.2 on, when
 * it also applies it to reads and refuses more (":" and NUL in labels). With it, our store follows
 * the installed LangGraph's rules exactly; without it, the copy below is what older versions
 * enforce.
 */
const langgraphValidate = (checkpointModule as unknown as { validateNamespace?: ValidateNamespace })
  .validateNamespace;

/**
 * LangGraph forbids this character inside labels. The table stores labels joined by it
 * (src/db/sql/store.ts), which is only unambiguous because of that rule.
 */
export const LABEL_SEPARATOR = ".";

/** LangGraph keeps namespaces rooted here for itself. */
export const RESERVED_ROOT_LABEL = "langgraph";

/**
 * LangGraph's namespace rules for items (a put), with its own messages. Needed here because
 * graphs reach the store through AsyncBatchedStore, whose put skips that check before
 * @langchain/langgraph-checkpoint 1.2: a label with a "." written from a node would otherwise
 * corrupt the joined prefix.
 */
export function assertValidNamespace(namespace: readonly unknown[]): asserts namespace is string[] {
  langgraphValidate?.(namespace as string[]);
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

/**
 * The check LangGraph's BaseStore makes on what a read names (a namespace, a prefix or suffix):
 * from @langchain/langgraph-checkpoint 1.2 on, it refuses labels it would never store (".", ":",
 * NUL, empty) with InvalidNamespaceError; before, nothing (isAddressable keeps such labels from
 * aliasing anything).
 */
export function assertReadableNamespace(labels: readonly string[]): void {
  langgraphValidate?.([...labels], { allowEmpty: true, allowReservedRoot: true });
}
