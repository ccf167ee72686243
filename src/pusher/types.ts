/**
 * The vocabulary src/pusher/ speaks to its users: the events and close reports a socket delivers, the settings
 * and callbacks of a socket (shared by every socket of a pool), and the counters it keeps. Types only.
 */
import type { RetrySchedules } from "./protocol.ts";

/** An application event received on a subscribed channel. */
export interface PusherChannelEvent {
  /** The channel it arrived on, e.g. `channel.668`. */
  channel: string;
  /** The event's name, e.g. `App\Events\StreamerIsLive`. */
  event: string;
  /** The event's data with the second JSON encoding removed (see `decodeData`). */
  data: unknown;
  /** `Date.now()` when the frame arrived. */
  receivedAt: number;
}

/** How a socket closed: the WebSocket close code and reason (1006 for failures the client detected itself). */
export interface PusherCloseInfo {
  /** The WebSocket close code. */
  code: number;
  /** The close reason, possibly empty. */
  reason: string;
}

/** A 4000–4099 close: the server refuses this socket as it is, so it waits long before trying again. */
export interface PusherRefusalInfo extends PusherCloseInfo {
  /** How long the socket waits before its next attempt. */
  retryInMs: number;
  /**
   * Whether the refused connection had completed its handshake. False means refused at the door: the server
   * refuses new connections made this way, so another socket would meet the same refusal.
   */
  wasConnected: boolean;
}

/** A refused subscription. `channel` is null for real Pusher's `pusher:error` form, which names none. */
export interface PusherSubscriptionError {
  /** The channel refused, when the answer names it. */
  channel: string | null;
  /** What the server said. */
  message: string;
  /** The HTTP-like status the server gave, if any. */
  status: number | null;
}

/**
 * Settings and callbacks of one socket (`PusherConnection`), shared by every socket of a pool. The retry
 * schedules (`backoff`, `reconnectSoon`, `refusedBackoff`, `random`) are those of `retryDelay` (./protocol.ts).
 */
export interface PusherConnectionOptions extends RetrySchedules {
  /** `wss://ws-us2.pusher.com/app/{key}?protocol=7&client=js&version=8.4.0&flash=false` (kick-api.md §3.1). */
  url: string;
  /** Silence after which we send `pusher:ping`; the server's `activity_timeout` lowers it (default 120,000). */
  activityTimeoutMs?: number;
  /** How long to wait for any frame after our ping before reconnecting (default 30,000). */
  pongTimeoutMs?: number;
  /** How long a new socket may take to deliver `pusher:connection_established` (default 10,000). */
  handshakeTimeoutMs?: number;
  /** A connection that lasted this long resets the backoff schedules (default 30,000). */
  stableAfterMs?: number;
  /** Every application event on a subscribed channel. Called on the hot path: keep it cheap. */
  onChannelEvent(event: PusherChannelEvent): void;
  /** The handshake completed and the socket's channels were (re)subscribed. */
  onConnected?(socketIndex: number, info: { reconnect: boolean; socketId: string }): void;
  /** An established socket was lost; it will reconnect. Events in the gap are lost (Pusher has no replay). */
  onDisconnected?(socketIndex: number, info: PusherCloseInfo): void;
  /**
   * The server closed with 4000–4099: this socket waits `info.retryInMs` before trying again. A pool moves its
   * channels to other sockets first (./pool.ts).
   */
  onRefused?(socketIndex: number, info: PusherRefusalInfo): void;
  /** The server closed with ≥ 4300: this socket will not reconnect. */
  onStopped?(socketIndex: number, info: PusherCloseInfo): void;
  /** A frame that is not valid Pusher; the connection carries on. */
  onMalformed?(reason: string, sample: string): void;
  /** A subscription was refused; it is not retried on this socket. */
  onSubscriptionError?(socketIndex: number, error: PusherSubscriptionError): void;
}

/** The counters every socket keeps and a pool sums over its sockets. */
export interface PusherCounters {
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

/** One socket's state and counters. */
export interface PusherConnectionStats extends PusherCounters {
  state: PusherConnectionState;
  /** Channels assigned to the socket, whatever their subscription state. */
  channels: number;
}

/**
 * `idle` before start; `connecting` until the handshake; `connected`; `waiting` between attempts; `refused`
 * while waiting out a 4000–4099 close; `stopped` after a ≥ 4300 close or `stop()`.
 */
export type PusherConnectionState =
  | "idle"
  | "connecting"
  | "connected"
  | "waiting"
  | "refused"
  | "stopped";
