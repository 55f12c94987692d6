import { EventEmitter } from "node:events";
import pg from "pg";
import type { Logger } from "../log.ts";

/**
 * One LISTEN connection per process, fanned out in memory. A notification is only ever a hint
 * that something changed: listeners re-read the database, and after a reconnect (when hints may
 * have been lost) every listener is told to re-check via the "reconnected" event.
 */
export class Notifier {
  readonly #url: string;
  readonly #channels: string[];
  readonly #log: Logger;
  readonly #events = new EventEmitter();
  #client: pg.Client | null = null;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | null = null;

  constructor(options: { url: string; channels: string[]; log: Logger }) {
    this.#url = options.url;
    this.#channels = options.channels;
    this.#log = options.log;
    // Every waiter of every run listens here; the default cap of 10 is not a leak signal for us.
    this.#events.setMaxListeners(0);
  }

  async start(): Promise<void> {
    await this.#connect();
  }

  on(channel: string, listener: (payload: string) => void): () => void {
    this.#events.on(channel, listener);
    return () => this.#events.off(channel, listener);
  }

  /** Delivers a notification to this process's listeners at once (the database copy follows). */
  emitLocal(channel: string, payload: string): void {
    this.#events.emit(channel, payload);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#url, keepAlive: true });
    client.on("notification", (message) => {
      this.#events.emit(message.channel, message.payload ?? "");
    });
    // Always listened to: an 'error' event nobody hears ends the process.
    client.on("error", (error) => {
      if (this.#client !== client) return;
      this.#log.warn("notification connection lost; reconnecting", { error: error.message });
      void this.#reconnect(client);
    });
    try {
      await client.connect();
      for (const channel of this.#channels) await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
  }

  /**
   * Reconnects until it succeeds, however long the database stays away (backing off to one
   * attempt every 5 s); then every listener re-checks what it may have missed.
   */
  async #reconnect(failed: pg.Client): Promise<void> {
    if (this.#stopped || this.#client !== failed) return;
    this.#client = null;
    await failed.end().catch(() => undefined);
    const attempt = async (delay: number) => {
      this.#retryTimer = null;
      if (this.#stopped) return;
      try {
        await this.#connect();
      } catch {
        this.#retryTimer = setTimeout(() => void attempt(Math.min(delay * 2, 5000)), delay);
        return;
      }
      if (this.#stopped) return;
      this.#log.info("notification connection restored");
      this.#events.emit("reconnected", "");
    };
    await attempt(100);
  }
}
