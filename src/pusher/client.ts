/**
 * Pusher protocol 7 client over Deno's native WebSocket: one socket (`PusherConnection`) with handshake, ping/pong,
 * close-code handling, backoff and resubscription; and `PusherPool`, which spreads channels over several sockets so
 * one bad socket does not blind the monitor.
 *
 * Behaviour follows shared/reference/pusher-protocol.md ("protocol §N"); frames are decoded by ./protocol.ts.
 */
import { backoffDelay, sleep } from "../lib/backoff.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import {
  type CloseAction,
  closeAction,
  type ConnectionEstablishedFrame,
  encodePing,
  encodePong,
  encodeSubscribe,
  encodeUnsubscribe,
  parseServerFrame,
} from "./protocol.ts";

/** An application event received on a subscribed channel. */
export interface PusherChannelEvent {
  channel: string;
  event: string;
  /** The event's data with the second JSON encoding removed (see `decodeData`). */
  data: unknown;
  /** `Date.now()` when the frame arrived. */
  receivedAt: number;
}

/** How a socket closed: the WebSocket close code and reason (1006 for failures the client detected itself). */
export interface PusherCloseInfo {
  code: number;
  reason: string;
}

/** A refused subscription. `channel` is null for real Pusher's `pusher:error` form, which names none. */
export interface PusherSubscriptionError {
  channel: string | null;
  message: string;
  status: number | null;
}

/** Settings and callbacks shared by every socket of a pool. */
export interface PusherConnectionOptions {
  /** `wss://ws-us2.pusher.com/app/{key}?protocol=7&client=js&version=8.4.0&flash=false` (kick-api.md §3.1). */
  url: string;
  /** Silence after which we send `pusher:ping`; the server's `activity_timeout` lowers it (default 120,000). */
  activityTimeoutMs?: number;
  /** How long to wait for any frame after our ping before reconnecting (default 30,000). */
  pongTimeoutMs?: number;
  /** How long a new socket may take to deliver `pusher:connection_established` (default 10,000). */
  handshakeTimeoutMs?: number;
  /** Backoff after failures, abnormal closes and 41xx (41xx never retries sooner than 1 s). Default 1 s → 60 s. */
  backoff?: { baseMs: number; capMs: number };
  /** Delay after 42xx "reconnect immediately": at least 100 ms, growing on repeats. Default 200 ms → 10 s. */
  reconnectSoon?: { baseMs: number; capMs: number };
  /** A connection that lasted this long resets the backoff schedule (default 30,000). */
  stableAfterMs?: number;
  /** Randomness for jitter, in [0, 1); injectable for tests. */
  random?: () => number;
  /** Every application event on a subscribed channel. Called on the hot path: keep it cheap. */
  onChannelEvent(event: PusherChannelEvent): void;
  /** The handshake completed and the socket's channels were (re)subscribed. */
  onConnected?(socketIndex: number, info: { reconnect: boolean; socketId: string }): void;
  /** An established socket was lost; it will reconnect. Events in the gap are lost (Pusher has no replay). */
  onDisconnected?(socketIndex: number, info: PusherCloseInfo): void;
  /** The server closed with 4000–4099 or ≥ 4300: this socket will not reconnect. */
  onStopped?(socketIndex: number, info: PusherCloseInfo): void;
  /** A frame that is not valid Pusher; the connection carries on. */
  onMalformed?(reason: string, sample: string): void;
  /** A subscription was refused; it is not retried on this socket. */
  onSubscriptionError?(socketIndex: number, error: PusherSubscriptionError): void;
}

/** Counters of one socket, summed by the pool. */
export interface PusherConnectionStats {
  state: PusherConnectionState;
  channels: number;
  channelsSubscribed: number;
  channelsPending: number;
  channelsFailed: number;
  reconnects: number;
  framesReceived: number;
  malformedFrames: number;
  subscriptionErrors: number;
}

/**
 * `idle` before start; `connecting` until the handshake; `connected`; `waiting` between attempts; `stopped` after
 * a stop code or `stop()`.
 */
export type PusherConnectionState = "idle" | "connecting" | "connected" | "waiting" | "stopped";

const DEFAULTS = {
  activityTimeoutMs: 120_000,
  pongTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  backoff: { baseMs: 1_000, capMs: 60_000 },
  reconnectSoon: { baseMs: 200, capMs: 10_000 },
  stableAfterMs: 30_000,
};

/** Floor of a 42xx reconnect (protocol §4 lesson: pusher-js hammered a shedding server with immediate retries). */
const RECONNECT_SOON_FLOOR_MS = 100;
/** Floor of a 41xx reconnect: "at least 1 s" (protocol §2.1 error codes). */
const BACKOFF_4100_FLOOR_MS = 1_000;
/** How long `stop()` waits for closing sockets to finish their close handshake. */
const CLOSE_WAIT_MS = 2_000;
/** At most one malformed-frame warning per socket this often. */
const MALFORMED_LOG_INTERVAL_MS = 10_000;

const PENDING = 0;
const SUBSCRIBED = 1;
const FAILED = 2;
type ChannelState = typeof PENDING | typeof SUBSCRIBED | typeof FAILED;

interface SocketOutcome extends PusherCloseInfo {
  /** When the handshake completed, or null when it never did. */
  establishedAt: number | null;
}

type Timer = ReturnType<typeof setTimeout>;

type EndSocket = (code: number, reason: string, closeIt: boolean) => void;

/** One Pusher socket carrying a set of public channels, reconnecting per the protocol until stopped. */
export class PusherConnection {
  /** Position in the pool; passed to the callbacks. */
  readonly index: number;

  #options: PusherConnectionOptions;
  #activityTimeoutMs: number;
  #pongTimeoutMs: number;
  #handshakeTimeoutMs: number;
  #stableAfterMs: number;

  #channels = new Map<string, ChannelState>();
  #state: PusherConnectionState = "idle";
  #ws: WebSocket | null = null;
  #end: EndSocket | null = null;
  #establishedAt: number | null = null;
  #everConnected = false;
  #stopping = false;
  #abort = new AbortController();
  #loop: Promise<void> | null = null;
  #closing = new Set<Promise<void>>();

  #currentActivityMs: number;
  #lastFrameAt = 0;
  #pingSentAt = 0;
  #activityTimer: Timer | undefined;
  #pongTimer: Timer | undefined;
  #handshakeTimer: Timer | undefined;

  #reconnects = 0;
  #framesReceived = 0;
  #malformedFrames = 0;
  #subscriptionErrors = 0;
  #lastMalformedLogAt = -Infinity;

  constructor(options: PusherConnectionOptions & { index?: number }) {
    this.index = options.index ?? 0;
    this.#options = options;
    this.#activityTimeoutMs = options.activityTimeoutMs ?? DEFAULTS.activityTimeoutMs;
    this.#pongTimeoutMs = options.pongTimeoutMs ?? DEFAULTS.pongTimeoutMs;
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
    this.#stableAfterMs = options.stableAfterMs ?? DEFAULTS.stableAfterMs;
    this.#currentActivityMs = this.#activityTimeoutMs;
  }

  /** The socket's state. */
  get state(): PusherConnectionState {
    return this.#state;
  }

  /** Channels assigned to this socket, whatever their subscription state. */
  get channelCount(): number {
    return this.#channels.size;
  }

  /** Starts connecting (once). Channels added before or after are subscribed after each handshake. */
  start(): void {
    if (this.#loop !== null || this.#stopping) return;
    this.#loop = this.#run();
  }

  /** Closes the socket for good: no reconnect afterwards. Resolves when the socket has closed. */
  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#abort.abort();
      this.#end?.(1000, "client stopping", true);
    }
    await this.#loop;
    this.#state = "stopped";
    await waitAll(this.#closing, CLOSE_WAIT_MS);
  }

  /** Adds channels; subscribes them now when connected, otherwise after the next handshake. */
  add(names: readonly string[]): void {
    const live = this.#establishedAt !== null;
    for (const name of names) {
      if (this.#channels.has(name)) continue;
      this.#channels.set(name, PENDING);
      if (live) this.#send(encodeSubscribe(name));
    }
  }

  /** Removes channels; unsubscribes them now when connected (the server sends no reply, protocol §2.2). */
  remove(names: readonly string[]): void {
    const live = this.#establishedAt !== null;
    for (const name of names) {
      if (this.#channels.delete(name) && live) this.#send(encodeUnsubscribe(name));
    }
  }

  /** This socket's counters. */
  stats(): PusherConnectionStats {
    let subscribed = 0;
    let failed = 0;
    for (const state of this.#channels.values()) {
      if (state === SUBSCRIBED) subscribed++;
      else if (state === FAILED) failed++;
    }
    return {
      state: this.#state,
      channels: this.#channels.size,
      channelsSubscribed: subscribed,
      channelsPending: this.#channels.size - subscribed - failed,
      channelsFailed: failed,
      reconnects: this.#reconnects,
      framesReceived: this.#framesReceived,
      malformedFrames: this.#malformedFrames,
      subscriptionErrors: this.#subscriptionErrors,
    };
  }

  // ----- lifecycle ---------------------------------------------------------------------------------------------

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#stopping) {
      const outcome = await this.#connectOnce();
      if (this.#stopping) break;
      for (const name of this.#channels.keys()) this.#channels.set(name, PENDING);
      const info: PusherCloseInfo = { code: outcome.code, reason: outcome.reason };
      const established = outcome.establishedAt !== null;
      if (established && Date.now() - outcome.establishedAt! >= this.#stableAfterMs) attempt = 0;

      const action = closeAction(outcome.code);
      if (action === "stop") {
        // 40xx: reconnecting with the same parameters will fail; ≥4300: fatal (protocol §2.1, §3).
        this.#state = "stopped";
        log.error("Pusher socket stopped by the server; it will not reconnect", {
          socket: this.index,
          code: info.code,
          reason: info.reason,
        });
        this.#call(() => this.#options.onStopped?.(this.index, info));
        return;
      }
      const delayMs = this.#delayFor(action, outcome.code, attempt++);
      this.#state = "waiting";
      const fields = {
        socket: this.index,
        code: info.code,
        reason: info.reason,
        retryInMs: delayMs,
      };
      if (established) {
        log.warn("Pusher socket disconnected", fields);
        this.#call(() => this.#options.onDisconnected?.(this.index, info));
      } else {
        log.warn("Pusher connection attempt failed", fields);
      }
      try {
        await sleep(delayMs, this.#abort.signal);
      } catch {
        break; // stop() aborted the wait
      }
      this.#reconnects++;
    }
  }

  #delayFor(action: CloseAction, code: number, attempt: number): number {
    const random = this.#options.random;
    if (action === "reconnect-soon") {
      const soon = this.#options.reconnectSoon ?? DEFAULTS.reconnectSoon;
      return backoffDelay(attempt, { ...soon, floorMs: RECONNECT_SOON_FLOOR_MS, random });
    }
    const backoff = this.#options.backoff ?? DEFAULTS.backoff;
    const floorMs = code >= 4100 && code <= 4199 ? BACKOFF_4100_FLOOR_MS : 0;
    return backoffDelay(attempt, { ...backoff, floorMs, random });
  }

  /** Opens one socket and resolves when it is gone, however that happens. */
  #connectOnce(): Promise<SocketOutcome> {
    return new Promise((resolve) => {
      this.#state = "connecting";
      let ws: WebSocket;
      try {
        ws = new WebSocket(this.#options.url);
      } catch (error) {
        resolve({
          code: 1006,
          reason: `cannot open socket: ${describeError(error)}`,
          establishedAt: null,
        });
        return;
      }
      ws.binaryType = "arraybuffer";
      const closed = new Promise<void>((done) =>
        ws.addEventListener("close", () => done(), { once: true })
      );
      let settled = false;
      const end: EndSocket = (code, reason, closeIt) => {
        if (settled) return;
        settled = true;
        this.#clearTimers();
        const establishedAt = this.#establishedAt;
        this.#establishedAt = null;
        this.#ws = null;
        this.#end = null;
        ws.onmessage = null;
        ws.onclose = null;
        if (closeIt) {
          try {
            ws.close(1000, reason.slice(0, 100));
          } catch {
            // already closing
          }
          const tracked: Promise<void> = closed.then(() => {
            this.#closing.delete(tracked);
          });
          this.#closing.add(tracked);
        }
        resolve({ code, reason, establishedAt });
      };
      this.#ws = ws;
      this.#end = end;
      this.#handshakeTimer = setTimeout(() => {
        end(1006, `no connection_established within ${this.#handshakeTimeoutMs} ms`, true);
      }, this.#handshakeTimeoutMs);
      ws.onmessage = (message) => this.#onMessage(message.data);
      ws.onclose = (event) => {
        // Deno reports a connection lost without a close frame as code 0; the standard name for it is 1006.
        if (event.code === 0) {
          end(1006, event.reason || "connection lost without a close frame", false);
        } else end(event.code, event.reason, false);
      };
      ws.onerror = () => {}; // a close event always follows
    });
  }

  #clearTimers(): void {
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#activityTimer);
    clearTimeout(this.#pongTimer);
    this.#handshakeTimer = this.#activityTimer = this.#pongTimer = undefined;
  }

  // ----- frames ------------------------------------------------------------------------------------------------

  #onMessage(raw: unknown): void {
    const now = Date.now();
    this.#lastFrameAt = now; // any frame proves the connection alive (protocol §3)
    this.#framesReceived++;
    if (typeof raw !== "string") {
      this.#malformed("binary frame (Pusher frames are text)", "<binary>");
      return;
    }
    const frame = parseServerFrame(raw);
    switch (frame.kind) {
      case "channel_event":
        // Events for a channel we just removed can still be in flight: drop them.
        if (this.#channels.has(frame.channel)) {
          const event = {
            channel: frame.channel,
            event: frame.event,
            data: frame.data,
            receivedAt: now,
          };
          try {
            this.#options.onChannelEvent(event);
          } catch (error) {
            log.error("Pusher event handler threw", { socket: this.index, error });
          }
        }
        return;
      case "connection_established":
        return this.#onEstablished(frame, now);
      case "subscription_succeeded":
        if (this.#channels.has(frame.channel)) this.#channels.set(frame.channel, SUBSCRIBED);
        return;
      case "subscription_error":
        return this.#onSubscriptionError(frame);
      case "error":
        // While connected pusher-js treats this as informational; fatal errors come as close codes (protocol §2.1).
        log.warn("Pusher error frame", {
          socket: this.index,
          code: frame.code,
          message: frame.message,
        });
        return;
      case "ping":
        this.#send(encodePong());
        return;
      case "pong":
      case "other":
        return;
      case "malformed":
        this.#malformed(frame.reason, raw);
        return;
    }
  }

  #onEstablished(frame: ConnectionEstablishedFrame, now: number): void {
    if (this.#establishedAt !== null) return;
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.#establishedAt = now;
    this.#state = "connected";
    // Use min(ours, the server's activity_timeout) (protocol §3).
    const server = frame.activityTimeoutSeconds;
    this.#currentActivityMs = server === null
      ? this.#activityTimeoutMs
      : Math.min(this.#activityTimeoutMs, server * 1000);
    // Nothing may be subscribed before this frame; after it, every channel of this socket is (protocol §2.1, §4).
    for (const name of this.#channels.keys()) {
      this.#channels.set(name, PENDING);
      this.#send(encodeSubscribe(name));
    }
    this.#armActivity(this.#currentActivityMs);
    const reconnect = this.#everConnected;
    this.#everConnected = true;
    log.info("Pusher socket connected", {
      socket: this.index,
      socketId: frame.socketId,
      channels: this.#channels.size,
      reconnect,
    });
    this.#call(() =>
      this.#options.onConnected?.(this.index, { reconnect, socketId: frame.socketId })
    );
  }

  #onSubscriptionError(error: PusherSubscriptionError): void {
    this.#subscriptionErrors++;
    // Not retried on this socket, so a permanently refused channel cannot loop; a new socket tries once more.
    if (error.channel !== null && this.#channels.has(error.channel)) {
      this.#channels.set(error.channel, FAILED);
    }
    log.warn("Pusher subscription refused", {
      socket: this.index,
      channel: error.channel,
      message: error.message,
      status: error.status,
    });
    const info = { channel: error.channel, message: error.message, status: error.status };
    this.#call(() => this.#options.onSubscriptionError?.(this.index, info));
  }

  #malformed(reason: string, raw: string): void {
    this.#malformedFrames++;
    const sample = raw.length > 200 ? raw.slice(0, 200) + "…" : raw;
    const now = Date.now();
    if (now - this.#lastMalformedLogAt >= MALFORMED_LOG_INTERVAL_MS) {
      this.#lastMalformedLogAt = now;
      log.warn("Malformed Pusher frame ignored", {
        socket: this.index,
        reason,
        sample,
        total: this.#malformedFrames,
      });
    }
    this.#call(() => this.#options.onMalformed?.(reason, sample));
  }

  #send(text: string): void {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    try {
      ws.send(text);
    } catch (error) {
      log.debug("Pusher send failed", { socket: this.index, error });
    }
  }

  #call(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      log.error("Pusher callback threw", { socket: this.index, error });
    }
  }

  // ----- keepalive (protocol §3) -------------------------------------------------------------------------------
  // One timer checks the time of the last frame instead of being reset by every frame: no timer churn per event.

  #armActivity(delayMs: number): void {
    this.#activityTimer = setTimeout(() => this.#onActivityTimer(), Math.max(0, delayMs));
  }

  #onActivityTimer(): void {
    this.#activityTimer = undefined;
    const idle = Date.now() - this.#lastFrameAt;
    if (idle < this.#currentActivityMs) return this.#armActivity(this.#currentActivityMs - idle);
    this.#pingSentAt = Date.now();
    this.#send(encodePing());
    this.#pongTimer = setTimeout(() => this.#onPongTimer(), this.#pongTimeoutMs);
  }

  #onPongTimer(): void {
    this.#pongTimer = undefined;
    if (this.#lastFrameAt >= this.#pingSentAt) {
      return this.#armActivity(this.#currentActivityMs - (Date.now() - this.#lastFrameAt));
    }
    this.#end?.(1006, `no pong within ${this.#pongTimeoutMs} ms of pusher:ping`, true);
  }
}

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

/** Waits for every promise in `pending`, but no longer than `limitMs`. */
async function waitAll(pending: Set<Promise<void>>, limitMs: number): Promise<void> {
  if (pending.size === 0) return;
  let timer: Timer | undefined;
  const limit = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, limitMs);
  });
  await Promise.race([Promise.all(pending), limit]);
  clearTimeout(timer);
}
