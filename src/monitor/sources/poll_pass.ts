/**
 * The poll source: reconciliation through Kick's official API (`/public/v1/channels`), the source of truth when
 * push events are missed. Its observations are `poll` evidence: how Kick's cached API sees a channel now
 * (status_machine.ts says how much that is trusted).
 *
 * - Streamers are asked for by `broadcaster_user_id` where we know it (kick-api.md §1.4: "key your state on
 *   broadcaster_user_id"), so a renamed channel is still found and its new slug reported; by slug otherwise.
 * - Batches fail alone: a batch Kick refuses costs only its own streamers (no observation for them this pass),
 *   never the whole pass. The pass fails only when every batch did.
 * - A channel Kick does not return is reported `missing` (renamed without a known id, banned or deleted).
 * - A live streamer whose Pusher channel id we lack, or whose stored id differs from Kick's, is looked up in
 *   `/public/v1/livestreams`, the one official place that reveals it (§1.5).
 */
import type { Observation } from "../../domain/types.ts";
import { DEFAULT_BATCH_SIZE, type KickApi } from "../../kick/api.ts";
import type { KickChannel } from "../../kick/channels.ts";
import { describeError } from "../../lib/errors.ts";
import { log } from "../../lib/log.ts";

/** A monitored streamer as the poll needs it. */
export interface PolledStreamer {
  slug: string;
  broadcasterUserId: number | null;
  channelId: number | null;
}

/** What one reconciliation pass learned. */
export interface ReconcileResult {
  observations: Observation[];
  /** Slugs (as we know them) Kick did not return: renamed without a known id, banned or deleted. */
  missing: string[];
  /** Channels Kick returned under another slug than ours (found by broadcaster user id). */
  renamed: { slug: string; newSlug: string }[];
  /** Broadcaster user ids learned for streamers we asked for by slug. */
  learnedUserIds: { slug: string; broadcasterUserId: number }[];
  /** Channel ids learned from live streams (new, or correcting a stored one), to store and subscribe. */
  discoveredChannelIds: { slug: string; channelId: number; previous: number | null }[];
  /** Slugs whose batch failed this pass (no observation for them). */
  failed: string[];
  /** Why batches failed, one line each; empty when all succeeded. */
  errors: string[];
  /** Slugs Kick answered without a readable `stream.is_live` (no observation). */
  unreadable: string[];
  checkedAt: Date;
  durationMs: number;
}

/**
 * An answer slower than this came after retries or backoff (429s, 5xx, an expired token), so the time it was
 * asked says little about when Kick answered: that batch is asked again.
 */
const SLOW_ANSWER_MS = 2_000;

/** How long one batch may take, retries included, before the pass gives up on it (default). */
export const DEFAULT_BATCH_DEADLINE_MS = 10_000;

type Batch =
  | { by: "id"; streamers: PolledStreamer[] }
  | { by: "slug"; streamers: PolledStreamer[] };

/** Reconciliation passes over the official API. */
export class PollSource {
  #api: KickApi;
  #now: () => number;
  #batchSize: number;
  #batchDeadlineMs: number;
  /** Slugs whose stored channel id `/livestreams` confirmed (checked once per run). */
  #verified = new Set<string>();

  constructor(
    options: { api: KickApi; now?: () => number; batchSize?: number; batchDeadlineMs?: number },
  ) {
    this.#api = options.api;
    this.#now = options.now ?? Date.now;
    this.#batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.#batchDeadlineMs = options.batchDeadlineMs ?? DEFAULT_BATCH_DEADLINE_MS;
  }

  /** The API client's item counters (rejected items, channels without a stream), for /metrics. */
  apiStats(): KickApi["stats"] {
    return this.#api.stats;
  }

  /** One pass over `streamers`; throws only when every batch failed (the caller retries next interval). */
  async reconcile(streamers: PolledStreamer[], signal?: AbortSignal): Promise<ReconcileResult> {
    const started = this.#now();
    const found = new Map<string, { channel: KickChannel; sentAt: Date }>();
    const result: Omit<ReconcileResult, "checkedAt" | "durationMs" | "observations"> = {
      missing: [],
      renamed: [],
      learnedUserIds: [],
      discoveredChannelIds: [],
      failed: [],
      errors: [],
      unreadable: [],
    };
    const batches = this.#batches(streamers);
    let firstError: unknown = null;
    // One batch at a time, each timed on its own: a poll answer is only known to be true from the moment its
    // request was sent, and that is its time (found by the soak: timing the whole pass dated offlines back to
    // the pass's start, which retries during a 429 storm put seconds before the stream really ended).
    for (const batch of batches) {
      signal?.throwIfAborted();
      try {
        const answered = await this.#ask(batch, signal);
        for (const streamer of batch.streamers) {
          const channel = answered.channels.get(streamer);
          if (channel === undefined) {
            result.missing.push(streamer.slug);
            continue;
          }
          found.set(streamer.slug, { channel, sentAt: answered.sentAt });
          if (channel.slug.toLowerCase() !== streamer.slug) {
            result.renamed.push({ slug: streamer.slug, newSlug: channel.slug.toLowerCase() });
          }
          if (streamer.broadcasterUserId === null) {
            result.learnedUserIds.push({
              slug: streamer.slug,
              broadcasterUserId: channel.broadcasterUserId,
            });
          }
        }
      } catch (error) {
        if (signal?.aborted) throw error;
        firstError ??= error;
        result.failed.push(...batch.streamers.map((s) => s.slug));
        result.errors.push(describeError(error));
      }
    }
    // Every batch failed: the first failure says why (a credentials error keeps its exit code, 78).
    if (batches.length > 0 && result.failed.length === streamers.length) throw firstError;
    const receivedAt = new Date(this.#now());
    const observations: Observation[] = [];
    const needChannelId: PolledStreamer[] = [];
    for (const streamer of streamers) {
      const answer = found.get(streamer.slug);
      if (answer === undefined) continue;
      const { channel, sentAt } = answer;
      if (channel.isLive === null) {
        result.unreadable.push(streamer.slug);
        continue;
      }
      if (channel.isLive) needChannelId.push(streamer);
      observations.push({
        slug: streamer.slug,
        status: channel.isLive ? "online" : "offline",
        observedAt: channel.isLive ? (channel.startedAt ?? sentAt) : sentAt,
        receivedAt,
        source: "poll",
        evidence: "poll",
        livestreamId: null,
        streamStartedAt: channel.isLive ? channel.startedAt : null,
        title: channel.title,
        category: channel.category,
        viewers: channel.viewers,
        raw: channel,
      });
    }
    result.discoveredChannelIds = await this.#checkChannelIds(
      needChannelId,
      new Map([...found].map(([slug, answer]) => [slug, answer.channel.broadcasterUserId])),
      signal,
    );
    return { ...result, observations, checkedAt: receivedAt, durationMs: this.#now() - started };
  }

  /** Streamers with a known user id are asked for by id, the others by slug; never mixed (§1.4: 400). */
  #batches(streamers: PolledStreamer[]): Batch[] {
    const byId = streamers.filter((s) => s.broadcasterUserId !== null);
    const bySlug = streamers.filter((s) => s.broadcasterUserId === null);
    const batches: Batch[] = [];
    for (let i = 0; i < byId.length; i += this.#batchSize) {
      batches.push({ by: "id", streamers: byId.slice(i, i + this.#batchSize) });
    }
    for (let i = 0; i < bySlug.length; i += this.#batchSize) {
      batches.push({ by: "slug", streamers: bySlug.slice(i, i + this.#batchSize) });
    }
    return batches;
  }

  /** Asks for one batch; asks again when the answer was slow (see SLOW_ANSWER_MS). */
  async #ask(
    batch: Batch,
    outer?: AbortSignal,
  ): Promise<{ channels: Map<PolledStreamer, KickChannel>; sentAt: Date }> {
    // A batch gives up after its deadline rather than ride out the HTTP client's whole retry schedule: the
    // next pass asks again with a fresh time, and the rest of this pass goes on (found by the soak: a batch
    // retrying a 5xx for 20 s kept the poll blind long after the API had recovered).
    const deadline = AbortSignal.timeout(this.#batchDeadlineMs);
    const signal = outer === undefined ? deadline : AbortSignal.any([outer, deadline]);
    let sentAt = this.#now();
    let channels = await this.#askOnce(batch, signal);
    if (this.#now() - sentAt > SLOW_ANSWER_MS) {
      sentAt = this.#now();
      channels = await this.#askOnce(batch, signal);
    }
    return { channels, sentAt: new Date(sentAt) };
  }

  async #askOnce(batch: Batch, signal?: AbortSignal): Promise<Map<PolledStreamer, KickChannel>> {
    const out = new Map<PolledStreamer, KickChannel>();
    const options = { signal, batchSize: Math.min(50, batch.streamers.length) };
    if (batch.by === "id") {
      const ids = batch.streamers.map((s) => s.broadcasterUserId!);
      const answer = await this.#api.getChannelsByBroadcasterId(ids, options);
      for (const streamer of batch.streamers) {
        const channel = answer.channels.get(streamer.broadcasterUserId!);
        if (channel !== undefined) out.set(streamer, channel);
      }
    } else {
      const answer = await this.#api.getChannelsBySlug(batch.streamers.map((s) => s.slug), options);
      for (const streamer of batch.streamers) {
        const channel = answer.channels.get(streamer.slug);
        if (channel !== undefined) out.set(streamer, channel);
      }
    }
    return out;
  }

  /**
   * The channel ids of live streamers, from `/public/v1/livestreams` (§1.5), where we lack one or hold one
   * that Kick contradicts (users paste the broadcaster user id, the only id Kick shows them: §3.4). A stored
   * id is checked once per run, the first time its streamer is seen live.
   */
  async #checkChannelIds(
    live: PolledStreamer[],
    userIds: Map<string, number>,
    signal?: AbortSignal,
  ): Promise<{ slug: string; channelId: number; previous: number | null }[]> {
    const ask = live.filter((s) => s.channelId === null || !this.#verified.has(s.slug));
    if (ask.length === 0) return [];
    const byUserId = new Map<number, PolledStreamer>();
    for (const s of ask) {
      const userId = s.broadcasterUserId ?? userIds.get(s.slug);
      if (userId !== undefined) byUserId.set(userId, s);
    }
    try {
      const livestreams = await this.#api.getLivestreams([...byUserId.keys()], { signal });
      const found: { slug: string; channelId: number; previous: number | null }[] = [];
      for (const stream of livestreams.values()) {
        const streamer = byUserId.get(stream.broadcasterUserId);
        if (streamer === undefined) continue;
        this.#verified.add(streamer.slug);
        if (streamer.channelId !== stream.channelId) {
          found.push({
            slug: streamer.slug,
            channelId: stream.channelId,
            previous: streamer.channelId,
          });
        }
      }
      return found;
    } catch (error) {
      // Best effort: the poll keeps covering these streamers without a channel id.
      log.warn("could not learn channel ids from live streams", { error: describeError(error) });
      return [];
    }
  }
}
