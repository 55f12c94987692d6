import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient } from "graphql-ws";
import WebSocket from "ws";
import type { StreamEventFieldsFragment } from "./gql/graphql.ts";
import { fixturesConfig } from "./helpers/server.ts";

/**
 * Real subscription clients for the stream tests: graphql-ws over `ws`, and graphql-sse (yoga's
 * built-in SSE, "distinct connections" mode) over fetch. Both expose the same `subscribe(payload,
 * sink)`, so a test runs unchanged over either transport.
 */

export type Transport = "ws" | "sse";
export type Event = StreamEventFieldsFragment;

interface AnyClient {
  subscribe(
    payload: { query: string; variables?: Record<string, unknown> },
    sink: {
      next(value: { data?: unknown; errors?: ReadonlyArray<unknown> }): void;
      error(error: unknown): void;
      complete(): void;
    },
  ): () => void;
  dispose(): void | Promise<void>;
}

/** `headers` carry credentials: HTTP headers for SSE, the connection_init payload for graphql-ws. */
export function streamClient(
  transport: Transport,
  urls: { wsUrl: string; graphqlUrl: string },
  headers?: Record<string, string>,
): AnyClient {
  if (transport === "ws") {
    return createWsClient({
      url: urls.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
      connectionParams: headers,
    }) as unknown as AnyClient;
  }
  return createSseClient({
    url: urls.graphqlUrl,
    retryAttempts: 0,
    headers,
  }) as unknown as AnyClient;
}

export interface Subscription {
  /** Events received so far, in order. */
  events: Event[];
  /** GraphQL errors the subscription ended with (e.g. NOT_FOUND), if any. */
  errors: Array<{ message: string; extensions?: { code?: string; field?: string } }>;
  /** Settles when the server completes the subscription (or it fails). */
  completed: Promise<void>;
  /** Resolves once `check(events)` holds (checked after every event). */
  until(check: (events: Event[]) => boolean, what?: string): Promise<Event[]>;
  /** Unsubscribes (the client goes away). */
  stop(): void;
}

/**
 * Subscribes with a typed document whose root field returns RunEvent; events are unwrapped from
 * the root field.
 */
export function subscribe<R, V>(
  client: AnyClient,
  document: TypedDocumentNode<R, V>,
  variables: V,
): Subscription {
  const events: Event[] = [];
  const errors: Subscription["errors"] = [];
  const waiters: Array<{ check: (events: Event[]) => boolean; resolve: () => void }> = [];
  let finished = false;
  let settle!: () => void;
  let fail!: (error: unknown) => void;
  const completed = new Promise<void>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  // Never an unhandled rejection: tests that care await `completed`.
  completed.catch(() => undefined);
  const wake = () => {
    for (const waiter of waiters.splice(0)) {
      if (waiter.check(events)) waiter.resolve();
      else waiters.push(waiter);
    }
  };
  const unsubscribe = client.subscribe(
    { query: print(document), variables: variables as Record<string, unknown> },
    {
      next(result) {
        if (result.errors?.length) errors.push(...(result.errors as Subscription["errors"]));
        const data = result.data as Record<string, Event> | undefined;
        if (data) {
          const event = Object.values(data)[0];
          if (event) events.push(event);
        }
        wake();
      },
      error(error) {
        finished = true;
        if (Array.isArray(error)) errors.push(...(error as Subscription["errors"]));
        else if (error && typeof error === "object" && "message" in error) {
          errors.push(error as Subscription["errors"][number]);
        }
        if (errors.length) settle();
        else fail(error);
        wake();
      },
      complete() {
        finished = true;
        settle();
        wake();
      },
    },
  );
  return {
    events,
    errors,
    completed,
    until(check, what = "events") {
      if (check(events)) return Promise.resolve(events);
      return new Promise<Event[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`timed out waiting for ${what}; got ${summary(events)}`));
        }, 20_000);
        waiters.push({
          check: (all) => check(all) || finished,
          resolve: () => {
            clearTimeout(timer);
            if (check(events)) resolve(events);
            else reject(new Error(`stream ended before ${what}; got ${summary(events)}`));
          },
        });
      });
    },
    stop() {
      unsubscribe();
    },
  };
}

/** Collects a whole stream: resolves with its events once the server completes it. */
export async function collect<R, V>(
  client: AnyClient,
  document: TypedDocumentNode<R, V>,
  variables: V,
): Promise<Event[]> {
  const subscription = subscribe(client, document, variables);
  await subscription.completed;
  if (subscription.errors.length) {
    throw new Error(`subscription failed: ${JSON.stringify(subscription.errors)}`);
  }
  return subscription.events;
}

export function summary(events: Event[]): string {
  return events.map((e) => e.__typename.replace("Event", "")).join(",");
}

/** Events of one GraphQL type, narrowed. */
export function ofType<T extends Event["__typename"]>(
  events: Event[],
  typename: T,
): Array<Extract<Event, { __typename: T }>> {
  return events.filter((e) => e.__typename === typename) as Array<
    Extract<Event, { __typename: T }>
  >;
}

export const ids = (events: Event[]) => events.map((e) => e.id);

/**
 * The langgraph.json the stream tests use: the run-engine fixtures plus the example graphs (chat
 * agent, nested subgraphs) and the benchmark graphs (tokens, ticker).
 */
export function streamConfigFile(): string {
  return fixturesConfig;
}
