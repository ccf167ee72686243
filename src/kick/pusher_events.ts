/**
 * Kick on Pusher: which public channels carry a Kick channel's stream status, and how its two stream-status
 * events read (kick-api.md §3.3–§3.5). The Pusher protocol itself (src/pusher/) knows nothing of Kick; this
 * module reads the `event` and `data` of a channel event it has already decoded. No I/O, no clocks.
 *
 * @example
 * ```ts
 * const event = parseKickLiveEvent({ event: KICK_STOP_STREAM_BROADCAST, data: frame.data });
 * if (event?.kind === "offline" && event.isBanned) console.log(`channel ${event.channelId} was banned`);
 * ```
 */
import { z } from "zod";
import { describeIssues } from "./schemas.ts";
import { kickIdSchema, parseKickTime } from "./values.ts";

/** Kick's stream-start event name (the runtime string `App\Events\StreamerIsLive`, kick-api.md §3.3). */
export const KICK_STREAMER_IS_LIVE = "App\\Events\\StreamerIsLive";
/** Kick's stream-stop event name (the runtime string `App\Events\StopStreamBroadcast`, kick-api.md §3.3). */
export const KICK_STOP_STREAM_BROADCAST = "App\\Events\\StopStreamBroadcast";

/**
 * The two public Pusher channels that carry a Kick channel's stream status. Evidence conflicts on which one Kick
 * publishes to, so subscribe to both (kick-api.md §3.4).
 */
export function kickChannelNames(channelId: number): [string, string] {
  return [`channel.${channelId}`, `channel_${channelId}`];
}

const CHANNEL_NAME = /^channel[._]([1-9][0-9]{0,15})$/;

/** The Kick channel id in `channel.{id}` or `channel_{id}`, or null for any other name. */
export function channelIdFromName(name: string): number | null {
  const match = CHANNEL_NAME.exec(name);
  if (match === null) return null;
  const id = Number(match[1]);
  return Number.isSafeInteger(id) ? id : null;
}

/** A stream start read from `App\Events\StreamerIsLive`. */
export interface KickLiveStart {
  kind: "live";
  channelId: number;
  livestreamId: number;
  title: string | null;
  /** `livestream.created_at` (the stream start), or null when missing or unreadable. */
  createdAt: Date | null;
}

/** A stream stop read from `App\Events\StopStreamBroadcast`. */
export interface KickLiveStop {
  kind: "offline";
  channelId: number;
  livestreamId: number;
  /**
   * `livestream.channel.is_banned` (kick-api.md §3.5): true when the stream ended because Kick banned the
   * channel. Absent when the payload does not carry a boolean there.
   */
  isBanned?: boolean;
}

/** A stream-status event from Kick's Pusher feed. */
export type KickLiveEvent = KickLiveStart | KickLiveStop;

/** A StreamerIsLive / StopStreamBroadcast whose payload does not have the documented shape. */
export interface KickMalformedEvent {
  kind: "malformed";
  reason: string;
}

const streamerIsLiveData = z.object({
  livestream: z.object({
    id: kickIdSchema,
    channel_id: kickIdSchema,
    session_title: z.string().nullish(),
    created_at: z.string().nullish(),
  }),
});

// Note the asymmetry with StreamerIsLive: `livestream.channel.id`, not `livestream.channel_id` (kick-api.md §3.5).
const stopStreamBroadcastData = z.object({
  livestream: z.object({
    id: kickIdSchema,
    channel: z.object({
      id: kickIdSchema,
      // Only one capture shows this field: an unexpected value drops the flag, never the stop itself.
      is_banned: z.boolean().optional().catch(undefined),
    }),
  }),
});

/**
 * Reads a channel event as a Kick stream start or stop. Returns null for every other event name, and a
 * `malformed` result when a stream-status event's payload does not have the shape of kick-api.md §3.5.
 */
export function parseKickLiveEvent(
  frame: { event: string; data: unknown },
): KickLiveEvent | KickMalformedEvent | null {
  if (frame.event === KICK_STREAMER_IS_LIVE) {
    const result = streamerIsLiveData.safeParse(frame.data);
    if (!result.success) {
      return {
        kind: "malformed",
        reason: `StreamerIsLive payload: ${describeIssues(result.error)}`,
      };
    }
    const livestream = result.data.livestream;
    return {
      kind: "live",
      channelId: livestream.channel_id,
      livestreamId: livestream.id,
      title: livestream.session_title ?? null,
      createdAt: parseKickTime(livestream.created_at),
    };
  }
  if (frame.event === KICK_STOP_STREAM_BROADCAST) {
    const result = stopStreamBroadcastData.safeParse(frame.data);
    if (!result.success) {
      return {
        kind: "malformed",
        reason: `StopStreamBroadcast payload: ${describeIssues(result.error)}`,
      };
    }
    const { id, channel } = result.data.livestream;
    const stop: KickLiveStop = { kind: "offline", channelId: channel.id, livestreamId: id };
    if (channel.is_banned !== undefined) stop.isBanned = channel.is_banned;
    return stop;
  }
  return null;
}
