/**
 * YOGA0: a bare graphql-yoga + graphql-ws server, the transport floor for M9 (small queries) and
 * M10 (subscription fan-out). It is wired exactly like `src/app.ts` (node:http, the yoga-documented
 * graphql-ws recipe through `yoga.getEnveloped`, `/graphql`, no landing page) but with a trivial
 * schema and no plugins, no masking, no logging:
 *
 *   type Thread { id: ID!  status: ThreadStatus! }
 *   type Query { thread(id: ID!): Thread  hello: String! }
 *   type Event { seq: Int!  t: Float!  data: String }
 *   type Subscription { events(topic: String): Event! }
 *
 * `thread(id)` returns the constant `{ id, status: idle }`. `events` delivers what the caller
 * publishes with `emit()` (through yoga's `createPubSub`, as the M10 anchor measured); topic
 * defaults to "default".
 */

import { setMaxListeners } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ExecutionArgs } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createPubSub, createSchema, createYoga } from "graphql-yoga";
import { WebSocketServer } from "ws";

export interface BareEvent {
  seq: number;
  /** Emit time in ms, e.g. `performance.timeOrigin + performance.now()`. */
  t: number;
  data?: string | null;
}

export interface BareYogaOptions {
  /** Default 0 (a free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

export interface BareYoga {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  /** http://.../graphql */
  graphqlUrl: string;
  /** ws://.../graphql (graphql-ws protocol) */
  wsUrl: string;
  port: number;
  /** Publishes an event to every `events(topic)` subscriber. */
  emit(event: BareEvent, topic?: string): void;
  /** Subscriptions currently listening (any topic). */
  subscriberCount(): number;
  /** Resolves once at least `n` subscriptions are listening. */
  waitForSubscribers(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const typeDefs = /* GraphQL */ `
  enum ThreadStatus {
    idle
    busy
    interrupted
    error
  }
  type Thread {
    id: ID!
    status: ThreadStatus!
  }
  type Query {
    thread(id: ID!): Thread
    hello: String!
  }
  type Event {
    seq: Int!
    t: Float!
    data: String
  }
  type Subscription {
    events(topic: String): Event!
  }
`;

export async function startBareYoga(options: BareYogaOptions = {}): Promise<BareYoga> {
  const host = options.host ?? "127.0.0.1";
  // One listener per subscriber on one target: a thousand subscribers trip Node's leak warning.
  const eventTarget = new EventTarget();
  setMaxListeners(0, eventTarget);
  const pubsub = createPubSub<{ events: [topic: string, payload: BareEvent] }>({ eventTarget });
  let subscribers = 0;

  async function* events(topic: string): AsyncGenerator<{ events: BareEvent }> {
    const iterator = pubsub.subscribe("events", topic)[Symbol.asyncIterator]();
    // The first next() starts the underlying repeater, which attaches the listener synchronously;
    // only then does this subscription count as listening.
    const first = iterator.next();
    subscribers++;
    try {
      let result = await first;
      while (!result.done) {
        yield { events: result.value };
        result = await iterator.next();
      }
    } finally {
      subscribers--;
      await iterator.return?.();
    }
  }

  const schema = createSchema({
    typeDefs,
    resolvers: {
      Query: {
        thread: (_: unknown, args: { id: string }) => ({ id: args.id, status: "idle" }),
        hello: () => "world",
      },
      Subscription: {
        events: {
          subscribe: (_: unknown, args: { topic?: string | null }) =>
            events(args.topic ?? "default"),
        },
      },
    },
  });

  const yoga = createYoga({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    logging: false,
  });
  const httpServer = createServer(yoga);
  const wsServer = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint });
  const wsDisposable = useServer(
    {
      execute: (args) => (args as EnvelopedArgs).rootValue.execute(args) as never,
      subscribe: (args) => (args as EnvelopedArgs).rootValue.subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        const args = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wsServer,
  );

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(options.port ?? 0, host, () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const port = (httpServer.address() as AddressInfo).port;
  const url = `http://${host}:${port}`;

  return {
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `ws://${host}:${port}/graphql`,
    port,
    emit(event, topic = "default") {
      pubsub.publish("events", topic, event);
    },
    subscriberCount: () => subscribers,
    async waitForSubscribers(n, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (subscribers < n) {
        if (Date.now() > deadline) {
          throw new Error(`waitForSubscribers: ${subscribers}/${n} after ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    async stop() {
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      await wsDisposable.dispose();
      wsServer.close();
      httpServer.closeAllConnections();
      await closed;
    },
  };
}

type EnvelopedArgs = ExecutionArgs & {
  rootValue: {
    execute: (args: ExecutionArgs) => unknown;
    subscribe: (args: ExecutionArgs) => unknown;
  };
};
