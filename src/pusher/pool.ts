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
import { log } from "../lib/log.ts";
import { PusherConnection } from "./connection.ts";
import type { PusherConnectionOptions, PusherCounters, PusherRefusalInfo } from "./types.ts";

/** Options of `PusherPool`: the socket settings plus how many channels one socket carries. */
export interface PusherPoolOptions extends PusherConnectionOptions {
  /** At most this many channels per socket; more channels open more sockets. */
  channelsPerSocket: number;
}

/** Totals over every socket of a pool. */
export interface PusherPoolStats extends PusherCounters {
  socketsTotal: number;
  socketsConnected: number;
  /** Sockets waiting out a 4000–4099 close; their channels moved to other sockets where they could. */
  socketsRefused: number;
  /** Sockets the server stopped (≥ 4300); their channels are blind. */
  socketsStopped: number;
}

/**
 * Channels spread over several `PusherConnection`s, at most `channelsPerSocket` each. New channels go to the least
 * loaded socket, so the two names of one Kick channel usually ride on different sockets.
 *
 * A socket the server refused (4000–4099) waits out a long backoff and takes no new channels; its channels move at
 * once to other sockets with room, or to a new socket, so they are not blind meanwhile (see `#onRefused`). A socket
 * the server stopped (≥ 4300) keeps its channels, blind, and takes no new ones: `onStopped` is the cue to lean on
 * polling.
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

    this.#place(added, true);
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
      socketsRefused: 0,
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
      if (stats.state === "refused") total.socketsRefused++;
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

  /**
   * Puts `names` on the least loaded sockets that take channels (not refused, not stopped) and have room, first
   * opening enough new sockets when `openNew`. Returns the names that found no room.
   */
  #place(names: readonly string[], openNew: boolean): string[] {
    const perSocket = this.#options.channelsPerSocket;
    const usable = this.#connections.filter((connection) =>
      connection.state !== "stopped" && connection.state !== "refused"
    );
    let room = 0;
    for (const connection of usable) room += Math.max(0, perSocket - connection.channelCount);
    while (openNew && room < names.length) {
      usable.push(this.#openConnection());
      room += perSocket;
    }
    const loads = usable.map((connection) => connection.channelCount);
    const batches: string[][] = usable.map(() => []);
    const unplaced: string[] = [];
    for (const name of names) {
      let best = -1;
      for (let i = 0; i < loads.length; i++) {
        if (loads[i] < perSocket && (best === -1 || loads[i] < loads[best])) best = i;
      }
      if (best === -1) {
        unplaced.push(name);
        continue;
      }
      loads[best]++;
      batches[best].push(name);
      this.#assignment.set(name, usable[best]);
    }
    for (let i = 0; i < usable.length; i++) {
      if (batches[i].length > 0) usable[i].add(batches[i]);
    }
    return unplaced;
  }

  /**
   * A 4000–4099 close: the refused socket waits long before trying again (protocol §2.1), so its channels move
   * now to sockets with room, or to new sockets. Not to new sockets when the refusal came at the door (before the
   * handshake): the server refuses new connections made this way, so a new socket would be refused too. Nor
   * beyond twice the sockets the channels need, so a server that keeps dropping fresh sockets with 40xx cannot
   * make the pool grow without end. Channels that find no place stay, blind until the retry; the poll covers them.
   */
  #onRefused(refused: PusherConnection, info: PusherRefusalInfo): void {
    const names = refused.channelNames();
    if (names.length > 0 && !this.#stopped) {
      const needed = Math.ceil(this.#assignment.size / this.#options.channelsPerSocket);
      const openNew = info.wasConnected && this.#connections.length < 2 * needed;
      refused.remove(names);
      const unplaced = this.#place(names, openNew);
      refused.add(unplaced);
      log.info("Moved the channels of a refused Pusher socket", {
        socket: refused.index,
        moved: names.length - unplaced.length,
        stayed: unplaced.length,
      });
    }
    this.#options.onRefused?.(refused.index, info);
  }

  #openConnection(): PusherConnection {
    const connection: PusherConnection = new PusherConnection({
      ...this.#options,
      index: this.#connections.length,
      onRefused: (_index, info) => this.#onRefused(connection, info),
    });
    this.#connections.push(connection);
    if (this.#started) connection.start();
    return connection;
  }
}
