/**
 * The poll source: reconciliation through Kick's official API (`/public/v1/channels`), the source of truth when
 * Pusher events are missed. Each monitored streamer becomes one observation per pass. A live streamer whose
 * channel id we lack is looked up in `/public/v1/livestreams`, the one official place that reveals it.
 */
import type { Observation } from "../../domain/types.ts";
import { DEFAULT_BATCH_SIZE, type KickApi, type KickChannel } from "../../kick/api.ts";
import { log } from "../../lib/log.ts";

export interface PolledStreamer {
  slug: string;
  broadcasterUserId: number | null;
  channelId: number | null;
}

export interface ReconcileResult {
  observations: Observation[];
  /** Slugs Kick no longer knows (renamed or banned). */
  notFound: string[];
  /** Channel ids learned from live streams, to store and subscribe. */
  discoveredChannelIds: { slug: string; channelId: number }[];
  checkedAt: Date;
  durationMs: number;
}

/**
 * An answer slower than this came after retries or backoff (429s, 5xx, an expired token), so the time it was
 * asked says little about when Kick answered: that batch is asked again.
 */
const SLOW_ANSWER_MS = 2_000;

export class PollSource {
  #api: KickApi;
  #now: () => number;
  #batchSize: number;

  constructor(options: { api: KickApi; now?: () => number; batchSize?: number }) {
    this.#api = options.api;
    this.#now = options.now ?? Date.now;
    this.#batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
  }

  /** One pass over `streamers`; throws when Kick cannot be reached (the caller retries next interval). */
  async reconcile(streamers: PolledStreamer[], signal?: AbortSignal): Promise<ReconcileResult> {
    const started = this.#now();
    const channels = new Map<string, { channel: KickChannel; sentAt: Date }>();
    const notFound: string[] = [];
    // One batch at a time, each timed on its own: an offline answer is only known to be true from the moment
    // its request was sent, and that is its time, so a lagging answer never overrules a newer pusher event
    // (status_machine.ts). Timing the whole pass instead dated every offline back to the pass's start, which
    // retries during a 429 storm put many seconds before the stream really ended (found by the soak).
    for (let i = 0; i < streamers.length; i += this.#batchSize) {
      const slugs = streamers.slice(i, i + this.#batchSize).map((s) => s.slug);
      let sentAt = this.#now();
      let answer = await this.#api.getChannelsBySlug(slugs, { signal });
      if (this.#now() - sentAt > SLOW_ANSWER_MS) {
        sentAt = this.#now();
        answer = await this.#api.getChannelsBySlug(slugs, { signal });
      }
      for (const [slug, channel] of answer.channels) {
        channels.set(slug, { channel, sentAt: new Date(sentAt) });
      }
      notFound.push(...answer.notFound);
    }
    const receivedAt = new Date(this.#now());
    const observations: Observation[] = [];
    const liveWithoutChannelId: PolledStreamer[] = [];
    for (const streamer of streamers) {
      const found = channels.get(streamer.slug);
      if (found === undefined) continue;
      const { channel, sentAt } = found;
      if (channel.isLive && streamer.channelId === null) liveWithoutChannelId.push(streamer);
      observations.push({
        slug: streamer.slug,
        status: channel.isLive ? "online" : "offline",
        observedAt: channel.isLive ? (channel.startedAt ?? sentAt) : sentAt,
        receivedAt,
        source: "poll",
        livestreamId: null,
        title: channel.title,
        category: channel.category,
        viewers: channel.viewers,
        raw: channel,
      });
    }
    const discoveredChannelIds = await this.#discoverChannelIds(
      liveWithoutChannelId,
      new Map([...channels].map(([slug, found]) => [slug, found.channel])),
      signal,
    );
    return {
      observations,
      notFound,
      discoveredChannelIds,
      checkedAt: receivedAt,
      durationMs: this.#now() - started,
    };
  }

  async #discoverChannelIds(
    streamers: PolledStreamer[],
    channels: Map<string, { broadcasterUserId: number }>,
    signal?: AbortSignal,
  ): Promise<{ slug: string; channelId: number }[]> {
    if (streamers.length === 0) return [];
    const slugByUserId = new Map<number, string>();
    for (const s of streamers) {
      const userId = s.broadcasterUserId ?? channels.get(s.slug)?.broadcasterUserId;
      if (userId !== undefined && userId !== null) slugByUserId.set(userId, s.slug);
    }
    try {
      const livestreams = await this.#api.getLivestreams([...slugByUserId.keys()], { signal });
      const found: { slug: string; channelId: number }[] = [];
      for (const stream of livestreams.values()) {
        const slug = slugByUserId.get(stream.broadcasterUserId);
        if (slug !== undefined) found.push({ slug, channelId: stream.channelId });
      }
      return found;
    } catch (error) {
      // Best effort: the poll keeps covering these streamers without a channel id.
      log.warn("could not learn channel ids from live streams", { error });
      return [];
    }
  }
}
