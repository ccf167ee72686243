/**
 * Resolving slugs to everything the monitor needs: the broadcaster user id (official API) and the Pusher channel
 * id, which the official channels endpoint does not expose (kick-api.md §1.4, issue #396). The channel id comes
 * from, in order: the user, the legacy website API (best effort; Cloudflare often blocks it, §2.2), or the
 * official live-streams list while the streamer is live (§1.5).
 */
import type { KickApi, KickChannel } from "./api.ts";
import type { LegacyLookup } from "./legacy.ts";

export interface ResolvedIds {
  channelId: number;
  chatroomId: number | null;
}

/** Learns channel ids for `channels`; streamers it cannot learn one for are simply absent from the map. */
export async function learnChannelIds(
  channels: Pick<KickChannel, "slug" | "broadcasterUserId">[],
  sources: { api: KickApi; legacy: LegacyLookup; manualChannelId?: number },
): Promise<Map<string, ResolvedIds>> {
  const ids = new Map<string, ResolvedIds>();
  if (sources.manualChannelId !== undefined && channels.length === 1) {
    ids.set(channels[0].slug, { channelId: sources.manualChannelId, chatroomId: null });
    return ids;
  }
  for (const channel of channels) {
    const found = await sources.legacy.lookup(channel.slug);
    if (found.kind === "found") {
      ids.set(channel.slug, { channelId: found.channelId, chatroomId: found.chatroomId });
    }
    // One Cloudflare block means the rest would be blocked too: don't knock on the door 60 times.
    if (found.kind === "blocked") break;
  }
  const missing = channels.filter((c) => !ids.has(c.slug));
  if (missing.length > 0) {
    const live = await sources.api.getLivestreams(missing.map((c) => c.broadcasterUserId))
      .catch(() => new Map());
    for (const channel of missing) {
      const stream = live.get(channel.broadcasterUserId);
      if (stream) ids.set(channel.slug, { channelId: stream.channelId, chatroomId: null });
    }
  }
  return ids;
}
