/**
 * Channels, live streams and users as the rest of the program sees them, and the normalisers from Kick's
 * payloads (src/kick/schemas.ts) to them (kick-api.md §1.4–§1.6).
 */
import { channelStreamSchema, parseKickTime } from "./schemas.ts";
import type { ChannelPayload, LivestreamPayload } from "./schemas.ts";

/** A channel as the rest of the program sees it. */
export interface KickChannel {
  /** The slug as Kick returns it. */
  slug: string;
  /** Kick's broadcaster user id. */
  broadcasterUserId: number;
  /**
   * Whether the channel is live; null when Kick's answer had no readable `stream.is_live` (a missing stream
   * is no observation, never "offline").
   */
  isLive: boolean | null;
  /** Stream title; the last one when offline; null when empty or odd. */
  title: string | null;
  /** The stream category, if any. */
  category: string | null;
  /** Viewers while live, else null. */
  viewers: number | null;
  /** Start of the current broadcast while live, else null. */
  startedAt: Date | null;
}

/** A live stream from `/public/v1/livestreams`, the one official source of the Pusher channel id (§1.5). */
export interface KickLivestream {
  /** The channel's slug as Kick returns it. */
  slug: string;
  /** Kick's broadcaster user id. */
  broadcasterUserId: number;
  /** The channel id Pusher channels are named after (§3.4); never the user id. */
  channelId: number;
  /** The stream title, if any. */
  title: string | null;
  /** The stream category, if any. */
  category: string | null;
  /** Current viewers, if given. */
  viewers: number | null;
  /** When the broadcast started, if readable. */
  startedAt: Date | null;
}

/** A user from `/public/v1/users` (§1.6). */
export interface KickUser {
  /** Kick's user id (the broadcaster user id of their channel). */
  userId: number;
  /** The user's display name. */
  name: string;
  /** URL of the profile picture, if any. */
  profilePicture: string | null;
}

/**
 * Normalises a channel item; only `stream.is_live` decides liveness (§1.4, §5 item 10), and a stream without a
 * readable one is no observation (`isLive: null`).
 */
export function toKickChannel(item: ChannelPayload): KickChannel {
  const stream = channelStreamSchema.safeParse(item.stream);
  const isLive = stream.success ? stream.data.is_live : null;
  const live = isLive === true && stream.success;
  return {
    slug: item.slug,
    broadcasterUserId: item.broadcaster_user_id,
    isLive,
    title: item.stream_title ?? null,
    category: item.category ?? null,
    viewers: live ? stream.data.viewer_count ?? null : null,
    startedAt: live ? parseKickTime(stream.data.start_time) : null,
  };
}

/** Normalises a livestream item. */
export function toKickLivestream(item: LivestreamPayload): KickLivestream {
  return {
    slug: item.slug,
    broadcasterUserId: item.broadcaster_user_id,
    channelId: item.channel_id,
    title: item.stream_title ?? null,
    category: item.category ?? null,
    viewers: item.viewer_count ?? null,
    startedAt: parseKickTime(item.started_at),
  };
}
