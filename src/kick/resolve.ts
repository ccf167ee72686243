/**
 * Resolving slugs to everything the monitor needs: the broadcaster user id (official API) and the Pusher channel
 * id, which the official channels endpoint does not expose (kick-api.md §1.4, issue #396). The channel id comes
 * from, in order: the user, the legacy website API (best effort; Cloudflare often blocks it, §2.2), or the
 * official live-streams list while the streamer is live (§1.5).
 */
import type { KickApi } from "./api.ts";
import type { KickChannel } from "./channels.ts";
import type { LegacyLookup, LegacyLookupResult } from "./legacy.ts";

export interface ResolvedIds {
  channelId: number;
  chatroomId: number | null;
}

/** Where {@link learnChannelIds} looks. */
export interface ChannelIdSources {
  api: KickApi;
  legacy: LegacyLookup;
  manualChannelId?: number;
  signal?: AbortSignal;
  /**
   * Shared across calls of one resolution: once the legacy website failed twice in a row (a Cloudflare block,
   * a timeout, a 5xx, an odd body: from a server it usually fails for good, §2.2), later calls skip it.
   */
  legacyState?: LegacyState;
}

/** How the legacy website has answered so far in one resolution. */
export interface LegacyState {
  /** Set once it failed LEGACY_FAILURES_TO_STOP times in a row: not asked again in this resolution. */
  blocked: boolean;
  /** Failures in a row (any kind but "not found", which is an answer). */
  failures: number;
}

/** Consecutive legacy failures after which a resolution stops asking it (issue 10: any kind, not only 403). */
export const LEGACY_FAILURES_TO_STOP = 2;

/**
 * Counts one website answer: a failure of any kind but "not found" (an answer) adds one, anything else resets
 * the count; returns true once LEGACY_FAILURES_TO_STOP failures in a row say to stop asking.
 */
export function noteLegacyAnswer(state: LegacyState, found: LegacyLookupResult): boolean {
  state.failures = found.kind === "blocked" || found.kind === "failed" ? state.failures + 1 : 0;
  if (state.failures >= LEGACY_FAILURES_TO_STOP) state.blocked = true;
  return state.blocked;
}

/** A fresh {@link LegacyState}. */
export function freshLegacyState(): LegacyState {
  return { blocked: false, failures: 0 };
}

/** Learns channel ids for `channels`; streamers it cannot learn one for are simply absent from the map. */
export async function learnChannelIds(
  channels: Pick<KickChannel, "slug" | "broadcasterUserId">[],
  sources: ChannelIdSources,
): Promise<Map<string, ResolvedIds>> {
  const ids = new Map<string, ResolvedIds>();
  if (sources.manualChannelId !== undefined && channels.length === 1) {
    ids.set(channels[0].slug, { channelId: sources.manualChannelId, chatroomId: null });
    return ids;
  }
  const legacyState = sources.legacyState ?? freshLegacyState();
  for (const channel of channels) {
    if (legacyState.blocked) break;
    sources.signal?.throwIfAborted();
    const found = await sources.legacy.lookup(channel.slug);
    if (found.kind === "found") {
      ids.set(channel.slug, { channelId: found.channelId, chatroomId: found.chatroomId });
    }
    // Two failures in a row mean the rest would fail too: don't knock on the door 60 times.
    noteLegacyAnswer(legacyState, found);
  }
  const missing = channels.filter((c) => !ids.has(c.slug));
  if (missing.length > 0) {
    const live = await sources.api.getLivestreams(missing.map((c) => c.broadcasterUserId), {
      signal: sources.signal,
    }).catch(() => new Map());
    for (const channel of missing) {
      const stream = live.get(channel.broadcasterUserId);
      if (stream) ids.set(channel.slug, { channelId: stream.channelId, chatroomId: null });
    }
  }
  return ids;
}

/** One batch of a {@link resolveInBatches} run. */
export interface ResolvedBatch {
  /** The slugs of this batch, as asked for. */
  slugs: string[];
  /** Channels Kick knows, by normalised slug. */
  channels: Map<string, KickChannel>;
  /** Channel ids learned for them. */
  ids: Map<string, ResolvedIds>;
  /** Slugs of this batch Kick has no channel for. */
  notFound: string[];
}

/**
 * Resolves `slugs` one API batch at a time (`batchSize` slugs per `/public/v1/channels` request), yielding each
 * batch as soon as it is known, so a caller can store and print it before the next one is asked for and keep
 * what was resolved when it is interrupted. The legacy lookups, one request per slug, are what make a long list
 * slow; a Cloudflare block seen in one batch skips them in the next.
 */
export async function* resolveInBatches(
  slugs: string[],
  options: { api: KickApi; legacy: LegacyLookup; batchSize: number; signal?: AbortSignal },
): AsyncGenerator<ResolvedBatch> {
  const legacyState = freshLegacyState();
  const size = Math.max(1, options.batchSize);
  for (let start = 0; start < slugs.length; start += size) {
    options.signal?.throwIfAborted();
    const batch = slugs.slice(start, start + size);
    const { channels, notFound } = await options.api.getChannelsBySlug(batch, {
      signal: options.signal,
    });
    const ids = await learnChannelIds([...channels.values()], {
      api: options.api,
      legacy: options.legacy,
      signal: options.signal,
      legacyState,
    });
    yield { slugs: batch, channels, ids, notFound };
  }
}

/** What {@link judgeManualChannelId} concludes about a `--channel-id` the user gave. */
export type ManualChannelIdVerdict =
  /** Use it as given. */
  | { kind: "accept"; channelId: number }
  /** Kick's live-streams list names another channel id for this broadcaster: use Kick's. */
  | { kind: "corrected"; channelId: number; given: number }
  /** It is the broadcaster's user id, which is never the channel id (§3.4), and Kick cannot say the real one. */
  | { kind: "user-id"; given: number };

/**
 * Checks a channel id given by hand against what Kick says (pure). `kick.liveChannelId` is the `channel_id`
 * of `/public/v1/livestreams` for this broadcaster, or null when it is not live (the only time Kick exposes
 * it, §1.5). The user id and the channel id are different numbers (§3.4: xqc is user 676, channel 668); mistaking
 * one for the other subscribes to someone else's channel, or to nobody.
 *
 * @example
 * ```ts
 * judgeManualChannelId(676, { broadcasterUserId: 676, liveChannelId: null }); // { kind: "user-id", given: 676 }
 * judgeManualChannelId(676, { broadcasterUserId: 676, liveChannelId: 668 }); // corrected to 668
 * ```
 */
export function judgeManualChannelId(
  given: number,
  kick: { broadcasterUserId: number; liveChannelId: number | null },
): ManualChannelIdVerdict {
  const { broadcasterUserId, liveChannelId } = kick;
  if (liveChannelId !== null) {
    return liveChannelId === given
      ? { kind: "accept", channelId: given }
      : { kind: "corrected", channelId: liveChannelId, given };
  }
  if (given === broadcasterUserId) return { kind: "user-id", given };
  return { kind: "accept", channelId: given };
}
