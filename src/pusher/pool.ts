/**
 * Many Pusher sockets as one: `PusherPool` spreads channels over several `PusherConnection`s (./connection.ts),
 * at most `channelsPerSocket` each, so one bad socket does not blind the monitor, and sums their counters.
 *
 * @example
 * ```ts
 * const pool = new PusherPool({ url, channelsPerSocket: 200, onChannelEvent: (event) => console.log(event) });
 * pool.setChannels(["channel.668", "channel_668"]);
 * pool.start();
 * // …
 * await pool.stop();
 * ```
 */
import { PusherConnection } from "./connection.ts";
import type { PusherConnectionOptions } from "./types.ts";

/** Options of `PusherPool`: the socket settings plus how many channels one socket carries. */
export interface PusherPoolOptions extends PusherConnectionOptions {
  /** At most this many channels per socket; more channels open more sockets. */
  channelsPerSocket: number;
}

/** Totals over every socket of a pool. */
export interface PusherPoolStats {
  socketsTotal: number;
  socketsConnected: number;
  /** Sockets the server stopped (40xx, ≥4300); their channels are blind. */
  socketsStopped: number;
  /** Channels whose `subscription_succeeded` arrived on the current socket. */
  channelsSubscribed: number;
  /** Channels waiting for a connection or for their confirmation. */
  channelsPending: number;
  /** Channels refused on the current socket. */
  channelsFailed: number;
  reconnects: number;
  framesReceived: number;
  malformedFrames: number;
  subscriptionErrors: number;
}

/**
 * Channels spread over several `PusherConnection`s, at most `channelsPerSocket` each. New channels go to the least
 * loaded socket, so the two names of one Kick channel usually ride on different sockets. A socket the server
 * stopped (40xx) keeps its channels, blind, and takes no new ones: `onStopped` is the cue to lean on polling.
 */
export class PusherPool {
  #options: PusherPoolOptions;
  #connections: PusherConnection[] = [];
  #assignment = new Map<string, PusherConnection>();
  #started = false;
  #stopped = false;

  constructor(options: PusherPoolOptions) {
    if (!Number.isInteger(options.channelsPerSocket) || options.channelsPerSocket < 1) {
      throw new RangeError(
        `Expected channelsPerSocket to be a whole number of at least 1, got ${
          JSON.stringify(options.channelsPerSocket)
        }`,
      );
    }
    this.#options = options;
  }

  /**
   * Makes `names` the set of subscribed channels: removed channels are unsubscribed and new ones subscribed, live,
   * on the socket that carries them; sockets are opened as needed.
   */
  setChannels(names: Iterable<string>): void {
    if (this.#stopped) throw new Error("PusherPool.setChannels() was called after stop()");
    const wanted = new Set(names);

    const removals = new Map<PusherConnection, string[]>();
    for (const [name, connection] of this.#assignment) {
      if (wanted.has(name)) continue;
      this.#assignment.delete(name);
      const list = removals.get(connection);
      if (list) list.push(name);
      else removals.set(connection, [name]);
    }
    for (const [connection, list] of removals) connection.remove(list);

    const added: string[] = [];
    for (const name of wanted) if (!this.#assignment.has(name)) added.push(name);
    if (added.length === 0) return;

    // Stopped sockets take no new channels. Open enough sockets first, then fill the least loaded.
    const perSocket = this.#options.channelsPerSocket;
    const usable = this.#connections.filter((connection) => connection.state !== "stopped");
    let room = 0;
    for (const connection of usable) room += Math.max(0, perSocket - connection.channelCount);
    while (room < added.length) {
      usable.push(this.#openConnection());
      room += perSocket;
    }
    const loads = usable.map((connection) => connection.channelCount);
    const batches: string[][] = usable.map(() => []);
    for (const name of added) {
      let best = -1;
      for (let i = 0; i < loads.length; i++) {
        if (loads[i] < perSocket && (best === -1 || loads[i] < loads[best])) best = i;
      }
      loads[best]++;
      batches[best].push(name);
      this.#assignment.set(name, usable[best]);
    }
    for (let i = 0; i < usable.length; i++) {
      if (batches[i].length > 0) usable[i].add(batches[i]);
    }
  }

  /** Connects every socket (and any opened later). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    for (const connection of this.#connections) connection.start();
  }

  /** Closes every socket; nothing reconnects afterwards. Resolves when all sockets have closed. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#connections.map((connection) => connection.stop()));
  }

  /** The socket carrying `channel`, or null when the channel is not in the pool. */
  socketOf(channel: string): number | null {
    return this.#assignment.get(channel)?.index ?? null;
  }

  /** Totals over every socket. */
  stats(): PusherPoolStats {
    const total: PusherPoolStats = {
      socketsTotal: this.#connections.length,
      socketsConnected: 0,
      socketsStopped: 0,
      channelsSubscribed: 0,
      channelsPending: 0,
      channelsFailed: 0,
      reconnects: 0,
      framesReceived: 0,
      malformedFrames: 0,
      subscriptionErrors: 0,
    };
    for (const connection of this.#connections) {
      const stats = connection.stats();
      if (stats.state === "connected") total.socketsConnected++;
      if (stats.state === "stopped") total.socketsStopped++;
      total.channelsSubscribed += stats.channelsSubscribed;
      total.channelsPending += stats.channelsPending;
      total.channelsFailed += stats.channelsFailed;
      total.reconnects += stats.reconnects;
      total.framesReceived += stats.framesReceived;
      total.malformedFrames += stats.malformedFrames;
      total.subscriptionErrors += stats.subscriptionErrors;
    }
    return total;
  }

  #openConnection(): PusherConnection {
    const connection = new PusherConnection({ ...this.#options, index: this.#connections.length });
    this.#connections.push(connection);
    if (this.#started) connection.start();
    return connection;
  }
}
