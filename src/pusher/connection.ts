/**
 * One Pusher protocol 7 socket over Deno's native WebSocket (`PusherConnection`): connect, handshake, keepalive
 * (./keepalive.ts), subscribe and resubscribe its channels, classify close codes and reconnect with the project's
 * one backoff (src/lib/backoff.ts). Several of them make a `PusherPool` (./pool.ts).
 *
 * Behaviour follows shared/reference/pusher-protocol.md ("protocol §N"); frames are decoded by ./protocol.ts.
 *
 * @example
 * ```ts
 * const connection = new PusherConnection({ url, onChannelEvent: (event) => console.log(event) });
 * connection.add(["channel.668", "channel_668"]);
 * connection.start();
 * // …
 * await connection.stop();
 * ```
 */
import { sleep } from "../lib/backoff.ts";
import { describeError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";
import { withTimeout } from "../lib/timeout.ts";
import { Keepalive } from "./keepalive.ts";
import {
  closeAction,
  type ConnectionEstablishedFrame,
  encodePing,
  encodePong,
  encodeSubscribe,
  encodeUnsubscribe,
  parseServerFrame,
  retryDelay,
} from "./protocol.ts";
import type {
  PusherCloseInfo,
  PusherConnectionOptions,
  PusherConnectionState,
  PusherConnectionStats,
  PusherSubscriptionError,
} from "./types.ts";

const DEFAULTS = {
  activityTimeoutMs: 120_000,
  pongTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  stableAfterMs: 30_000,
};

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

  #keepalive: Keepalive;
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
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
    this.#stableAfterMs = options.stableAfterMs ?? DEFAULTS.stableAfterMs;
    this.#keepalive = new Keepalive({
      pongTimeoutMs: options.pongTimeoutMs ?? DEFAULTS.pongTimeoutMs,
      ping: () => this.#send(encodePing()),
      onDead: (reason) => this.#end?.(1006, reason, true),
    });
  }

  /** The socket's state. */
  get state(): PusherConnectionState {
    return this.#state;
  }

  /** Channels assigned to this socket, whatever their subscription state. */
  get channelCount(): number {
    return this.#channels.size;
  }

  /** The channels assigned to this socket, whatever their subscription state. */
  channelNames(): string[] {
    return [...this.#channels.keys()];
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
    // A socket that never finishes its close handshake is left to the runtime.
    await withTimeout(Promise.all(this.#closing), CLOSE_WAIT_MS, "close handshakes").catch(
      () => {},
    );
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
    let refusals = 0;
    while (!this.#stopping) {
      const outcome = await this.#connectOnce();
      if (this.#stopping) break;
      for (const name of this.#channels.keys()) this.#channels.set(name, PENDING);
      const info: PusherCloseInfo = { code: outcome.code, reason: outcome.reason };
      const established = outcome.establishedAt !== null;
      if (established && Date.now() - outcome.establishedAt! >= this.#stableAfterMs) {
        attempt = refusals = 0;
      }

      const action = closeAction(outcome.code);
      if (action === "stop") {
        // ≥4300: fatal, as pusher-js treats them (protocol §3).
        this.#state = "stopped";
        log.error("Pusher socket stopped by the server; it will not reconnect", {
          socket: this.index,
          code: info.code,
          reason: info.reason,
        });
        this.#call(() => this.#options.onStopped?.(this.index, info));
        return;
      }
      const counter = action === "refused" ? refusals++ : attempt++;
      const delayMs = retryDelay(outcome.code, counter, this.#options);
      this.#state = action === "refused" ? "refused" : "waiting";
      const fields = {
        socket: this.index,
        code: info.code,
        reason: info.reason,
        retryInMs: delayMs,
      };
      if (action === "refused") {
        // 40xx: "SHOULD NOT be re-established unchanged" (protocol §2.1): wait long; a pool moves our channels.
        log.warn("Pusher server refused the socket; it waits long before trying again", fields);
        const refusal = { ...info, retryInMs: delayMs, wasConnected: established };
        this.#call(() => this.#options.onRefused?.(this.index, refusal));
      } else if (established) {
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
        clearTimeout(this.#handshakeTimer);
        this.#handshakeTimer = undefined;
        this.#keepalive.stop();
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

  // ----- frames ------------------------------------------------------------------------------------------------

  #onMessage(raw: unknown): void {
    const now = Date.now();
    this.#keepalive.touch(now); // any frame proves the connection alive (protocol §3)
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
    const activityMs = server === null
      ? this.#activityTimeoutMs
      : Math.min(this.#activityTimeoutMs, server * 1000);
    // Nothing may be subscribed before this frame; after it, every channel of this socket is (protocol §2.1, §4).
    for (const name of this.#channels.keys()) {
      this.#channels.set(name, PENDING);
      this.#send(encodeSubscribe(name));
    }
    this.#keepalive.start(activityMs);
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
}
