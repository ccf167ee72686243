/**
 * Pusher protocol 7 frames, as plain functions over strings: decoding what the server sends, encoding what the
 * client sends, classifying close codes. No I/O, no clocks, and nothing of Kick: what Kick's events mean is
 * read by src/kick/pusher_events.ts.
 *
 * Behaviour follows shared/reference/pusher-protocol.md (cited as "protocol §N").
 */
import { z } from "zod";
import { backoffDelay } from "../lib/backoff.ts";

// ---------------------------------------------------------------------------------------------------------------
// Server → client frames

/** A frame the server sent, decoded. `parseServerFrame` returns exactly one of these and never throws. */
export type ServerFrame =
  | ConnectionEstablishedFrame
  | SubscriptionSucceededFrame
  | SubscriptionErrorFrame
  | ErrorFrame
  | PingFrame
  | PongFrame
  | ChannelEventFrame
  | OtherFrame
  | MalformedFrame;

/** `pusher:connection_established`: the handshake is done; subscribing is allowed from now on (protocol §2.1). */
export interface ConnectionEstablishedFrame {
  kind: "connection_established";
  socketId: string;
  /** The server's `activity_timeout` in seconds, or null when it sent none (pusher-js would refuse that). */
  activityTimeoutSeconds: number | null;
}

/** `pusher_internal:subscription_succeeded` for one channel. */
export interface SubscriptionSucceededFrame {
  kind: "subscription_succeeded";
  channel: string;
}

/**
 * A subscription was refused. Two wire forms (protocol §2.1): soketi's `pusher:subscription_error` with a channel
 * and `{type, error, status}`, and real Pusher's `pusher:error` with `code: null` (which names no channel).
 */
export interface SubscriptionErrorFrame {
  kind: "subscription_error";
  channel: string | null;
  message: string;
  status: number | null;
}

/** `pusher:error` with a code (or none at all). Fatal errors arrive as close codes since protocol 6. */
export interface ErrorFrame {
  kind: "error";
  code: number | null;
  message: string;
}

/** `pusher:ping` from the server; answer with `encodePong()`. */
export interface PingFrame {
  kind: "ping";
}

/** `pusher:pong`, the answer to our `pusher:ping`. */
export interface PongFrame {
  kind: "pong";
}

/** An application event on a channel (StreamerIsLive and friends). */
export interface ChannelEventFrame {
  kind: "channel_event";
  channel: string;
  event: string;
  /** `data` with its second JSON encoding removed when it is a JSON string; otherwise as sent. */
  data: unknown;
}

/**
 * A well-formed frame we have no use for: other `pusher:*` / `pusher_internal:*` events (subscription_count,
 * signin_success, cache_miss, member_added …) and non-internal events that name no channel.
 */
export interface OtherFrame {
  kind: "other";
  event: string;
  channel: string | null;
  data: unknown;
}

/** Not a Pusher frame: not JSON, the wrong shape, or `data` that is not JSON where the protocol requires it. */
export interface MalformedFrame {
  kind: "malformed";
  reason: string;
}

const PING: PingFrame = Object.freeze({ kind: "ping" });
const PONG: PongFrame = Object.freeze({ kind: "pong" });

const connectionEstablishedData = z.object({
  socket_id: z.string().min(1),
  activity_timeout: z.number().nonnegative().nullish(),
});

const errorData = z.object({
  code: z.number().int().nullish(),
  message: z.string().nullish(),
});

const subscriptionErrorData = z.object({
  type: z.string().nullish(),
  error: z.string().nullish(),
  status: z.number().int().nullish(),
});

function malformed(reason: string): MalformedFrame {
  return { kind: "malformed", reason };
}

/**
 * Removes the second JSON encoding of `data` (protocol §2 "the data encoding rule"): a string that parses as JSON
 * becomes the parsed value, any other string stays raw, and a non-string is returned as it is.
 */
export function decodeData(data: unknown): unknown {
  if (typeof data !== "string") return data;
  // Only try JSON.parse when the text can start a JSON value: a thrown SyntaxError costs far more than the check,
  // and raw strings are common in the wild.
  const first = data.charCodeAt(0);
  const plausible = first === 123 /* { */ || first === 91 /* [ */ || first === 34 /* " */ ||
    (first >= 48 && first <= 57) /* 0-9 */ || first === 45 /* - */ || first === 116 /* t */ ||
    first === 102 /* f */ || first === 110 /* n */ || first === 32 || first === 9 || first === 10 ||
    first === 13;
  if (!plausible) return data;
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

/**
 * Decodes control-frame data that must be a JSON object: a string is parsed (double encoding), an object is taken
 * as is (soketi and some Pusher versions send objects). Anything else is `undefined`.
 */
function controlData(data: unknown): Record<string, unknown> | undefined {
  let value = data;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  return value as Record<string, unknown>;
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "data"}: ${issue.message}`).join(
    "; ",
  );
}

/**
 * The longest frame we decode, in UTF-16 code units (about bytes for Kick's ASCII JSON). Pusher caps event data at
 * 10 KB (protocol §5) and Kick's stream events are about 1 KB, so anything this large is not a frame we want:
 * it is dropped as malformed (and counted by the socket) before JSON.parse can spend time and memory on it.
 */
export const MAX_FRAME_LENGTH = 256 * 1024;

/** Decodes one text frame from the server. Never throws: anything unusable is a `malformed` result. */
export function parseServerFrame(text: string): ServerFrame {
  if (text.length > MAX_FRAME_LENGTH) {
    return malformed(`frame of ${text.length} characters is over the ${MAX_FRAME_LENGTH} limit`);
  }
  let outer: unknown;
  try {
    outer = JSON.parse(text);
  } catch {
    return malformed("frame is not JSON");
  }
  if (typeof outer !== "object" || outer === null || Array.isArray(outer)) {
    return malformed("frame is not a JSON object");
  }
  const frame = outer as Record<string, unknown>;
  const event = frame.event;
  if (typeof event !== "string") return malformed('frame has no string "event"');
  const channel = frame.channel;
  if (channel !== undefined && channel !== null && typeof channel !== "string") {
    return malformed('frame has a non-string "channel"');
  }

  // Hot path: an application event on a channel.
  if (typeof channel === "string" && !isInternalEvent(event)) {
    return { kind: "channel_event", channel, event, data: decodeData(frame.data) };
  }

  switch (event) {
    case "pusher:ping":
      return PING;
    case "pusher:pong":
      return PONG;
    case "pusher:connection_established":
      return parseConnectionEstablished(frame.data);
    case "pusher_internal:subscription_succeeded":
      if (typeof channel !== "string" || channel === "") {
        return malformed("subscription_succeeded names no channel");
      }
      return { kind: "subscription_succeeded", channel };
    case "pusher:subscription_error":
      return parseSubscriptionError(typeof channel === "string" ? channel : null, frame.data);
    case "pusher:error":
      return parseError(typeof channel === "string" ? channel : null, frame.data);
    default:
      return {
        kind: "other",
        event,
        channel: typeof channel === "string" ? channel : null,
        data: decodeData(frame.data),
      };
  }
}

/** `pusher:*` and `pusher_internal:*` are the protocol's own events; everything else belongs to the app. */
function isInternalEvent(event: string): boolean {
  return event.charCodeAt(0) === 112 /* p */ &&
    (event.startsWith("pusher:") || event.startsWith("pusher_internal:"));
}

function parseConnectionEstablished(data: unknown): ServerFrame {
  const object = controlData(data);
  if (object === undefined) return malformed("connection_established data is not a JSON object");
  const result = connectionEstablishedData.safeParse(object);
  if (!result.success) {
    return malformed(`connection_established data: ${describeIssues(result.error)}`);
  }
  const timeout = result.data.activity_timeout;
  return {
    kind: "connection_established",
    socketId: result.data.socket_id,
    activityTimeoutSeconds: timeout === undefined || timeout === null || timeout === 0
      ? null
      : timeout,
  };
}

function parseSubscriptionError(channel: string | null, data: unknown): ServerFrame {
  // soketi: {"type":"AuthError","error":"…","status":401}; a bare message string is accepted too.
  const object = controlData(data);
  if (object === undefined) {
    if (typeof data === "string") {
      return { kind: "subscription_error", channel, message: data, status: null };
    }
    if (data === undefined || data === null) {
      return { kind: "subscription_error", channel, message: "subscription refused", status: null };
    }
    return malformed("subscription_error data is neither an object nor a string");
  }
  const result = subscriptionErrorData.safeParse(object);
  if (!result.success) return malformed(`subscription_error data: ${describeIssues(result.error)}`);
  const { type, error, status } = result.data;
  const message = error && type ? `${type}: ${error}` : error ?? type ?? "subscription refused";
  return { kind: "subscription_error", channel, message, status: status ?? null };
}

function parseError(channel: string | null, data: unknown): ServerFrame {
  const object = controlData(data);
  if (object === undefined) {
    if (typeof data === "string") return { kind: "error", code: null, message: data };
    return malformed("pusher:error data is not a JSON object");
  }
  const result = errorData.safeParse(object);
  if (!result.success) return malformed(`pusher:error data: ${describeIssues(result.error)}`);
  const message = result.data.message ?? "unspecified error";
  // Real Pusher refuses a subscription (bad auth signature) with `"code":null` (protocol §2.1, [ISSUE-SIG]).
  if (result.data.code === null) {
    return { kind: "subscription_error", channel, message, status: null };
  }
  return { kind: "error", code: result.data.code ?? null, message };
}

// ---------------------------------------------------------------------------------------------------------------
// Client → server frames (protocol §2.2). Built by concatenation: they are sent thousands at a time.

/** `{"event":"pusher:subscribe","data":{"auth":"","channel":"…"}}`: a public channel needs an empty auth. */
export function encodeSubscribe(channel: string): string {
  return `{"event":"pusher:subscribe","data":{"auth":"","channel":${JSON.stringify(channel)}}}`;
}

/** `{"event":"pusher:unsubscribe","data":{"channel":"…"}}`; the server does not answer it. */
export function encodeUnsubscribe(channel: string): string {
  return `{"event":"pusher:unsubscribe","data":{"channel":${JSON.stringify(channel)}}}`;
}

/** `{"event":"pusher:ping","data":{}}`, sent after `activity_timeout` of silence. */
export function encodePing(): string {
  return '{"event":"pusher:ping","data":{}}';
}

/** `{"event":"pusher:pong","data":{}}`, the answer to a server `pusher:ping`. */
export function encodePong(): string {
  return '{"event":"pusher:pong","data":{}}';
}

// ---------------------------------------------------------------------------------------------------------------
// Close codes (protocol §2.1 "Error codes", §3, §4)

/**
 * What to do after the socket closed with `code`:
 * - `refused`: 4000–4099, "SHOULD NOT be re-established unchanged" (protocol §2.1). Not "never again": the
 *   server may take the same socket back later (an app back under its connection quota, 4004), so wait long;
 * - `stop`: ≥ 4300 (fatal, as pusher-js treats them);
 * - `reconnect-soon`: 4200–4299, "reconnect immediately", but with a small floor and jitter that grow on
 *   repeats, because pusher-js reconnected ~100 times in 0.5 s against a server shedding with 4200 (protocol §4);
 * - `backoff`: 4100–4199 (at least 1 s), 1002–1004, and every other code below 4000 (1000, 1001, 1005, 1006 …).
 */
export type CloseAction = "refused" | "stop" | "backoff" | "reconnect-soon";

/** Classifies a WebSocket close code by the Pusher protocol's ranges. */
export function closeAction(code: number): CloseAction {
  if (code >= 4000 && code <= 4099) return "refused";
  if (code >= 4300) return "stop";
  if (code >= 4200 && code <= 4299) return "reconnect-soon";
  return "backoff";
}

/** A backoff schedule for `backoffDelay` (src/lib/backoff.ts): the first delay and the largest. */
export interface RetrySchedule {
  /** The first delay, in milliseconds. */
  baseMs: number;
  /** The largest delay, in milliseconds. */
  capMs: number;
}

/** The schedules `retryDelay` picks from, one per close class; each has a default. */
export interface RetrySchedules {
  /** After failures, abnormal closes and 41xx (41xx never sooner than 1 s). Default 1 s → 60 s. */
  backoff?: RetrySchedule;
  /** After 42xx "reconnect immediately": never sooner than 100 ms. Default 200 ms → 10 s. */
  reconnectSoon?: RetrySchedule;
  /** After 40xx "do not reconnect unchanged". Default 10 min → 10 min: each wait is 5 to 10 minutes. */
  refusedBackoff?: RetrySchedule;
  /** Randomness for jitter, in [0, 1); injectable for tests. */
  random?: () => number;
}

const DEFAULT_SCHEDULES = {
  backoff: { baseMs: 1_000, capMs: 60_000 },
  reconnectSoon: { baseMs: 200, capMs: 10_000 },
  refusedBackoff: { baseMs: 600_000, capMs: 600_000 },
};

/** Floor of a 42xx reconnect (protocol §4 lesson: pusher-js hammered a shedding server with immediate retries). */
const RECONNECT_SOON_FLOOR_MS = 100;
/** Floor of a 41xx reconnect: "at least 1 s" (protocol §2.1 error codes). */
const BACKOFF_4100_FLOOR_MS = 1_000;

/**
 * How long to wait before reconnecting after a close with `code` (not `stop`), on the schedule of its class
 * (`closeAction`). `attempt` counts the previous retries on that schedule, from 0.
 *
 * @example
 * ```ts
 * retryDelay(4100, 0); // 1,000 ms: a 41xx waits at least 1 s
 * retryDelay(4001, 0, { refusedBackoff: { baseMs: 100, capMs: 400 } }); // 50–100 ms
 * ```
 */
export function retryDelay(code: number, attempt: number, schedules: RetrySchedules = {}): number {
  const random = schedules.random;
  switch (closeAction(code)) {
    case "refused": {
      const refused = schedules.refusedBackoff ?? DEFAULT_SCHEDULES.refusedBackoff;
      return backoffDelay(attempt, { ...refused, random });
    }
    case "reconnect-soon": {
      const soon = schedules.reconnectSoon ?? DEFAULT_SCHEDULES.reconnectSoon;
      return backoffDelay(attempt, { ...soon, floorMs: RECONNECT_SOON_FLOOR_MS, random });
    }
    default: {
      const backoff = schedules.backoff ?? DEFAULT_SCHEDULES.backoff;
      const floorMs = code >= 4100 && code <= 4199 ? BACKOFF_4100_FLOOR_MS : 0;
      return backoffDelay(attempt, { ...backoff, floorMs, random });
    }
  }
}
