/**
 * Collects the loads resolvers make in one tick and answers them with one call, so a field
 * resolved for each item of a list (`threads { runs }`) costs one query, not one per item.
 * Keys that share a `group` (e.g. the same arguments) are loaded together.
 */
interface Waiter<K, V> {
  key: K;
  resolve: (value: V) => void;
  reject: (error: unknown) => void;
}

export function createBatcher<K, V>(
  groupOf: (key: K) => string,
  loadGroup: (keys: K[]) => Promise<V[]>,
) {
  let pending: Map<string, Waiter<K, V>[]> | null = null;

  function flush(groups: Map<string, Waiter<K, V>[]>) {
    for (const waiters of groups.values()) {
      loadGroup(waiters.map((w) => w.key)).then(
        (values) => {
          waiters.forEach((w, i) => {
            w.resolve(values[i]!);
          });
        },
        (error) => {
          for (const w of waiters) w.reject(error);
        },
      );
    }
  }

  return {
    load(key: K): Promise<V> {
      return new Promise<V>((resolve, reject) => {
        let groups = pending;
        if (!groups) {
          const fresh = new Map<string, Waiter<K, V>[]>();
          groups = fresh;
          pending = fresh;
          // After the sibling resolvers of this tick have asked too.
          setImmediate(() => {
            pending = null;
            flush(fresh);
          });
        }
        const group = groupOf(key);
        const waiters = groups.get(group) ?? [];
        waiters.push({ key, resolve, reject });
        groups.set(group, waiters);
      });
    },
  };
}

/** One value per request context, made on first use (a request's batchers). */
export function perRequest<C extends object, V>(make: (ctx: C) => V): (ctx: C) => V {
  const values = new WeakMap<C, V>();
  return (ctx) => {
    let value = values.get(ctx);
    if (value === undefined) {
      value = make(ctx);
      values.set(ctx, value);
    }
    return value;
  };
}
