/**
 * The official Kick REST API (kick-api.md §1): channels by slug or broadcaster id, live streams, users, the
 * webhook public key and the app's event subscriptions (§1.8; the planning is in src/kick/subscriptions.ts),
 * through the shared HttpClient with the app access token. The request itself (token, 401, error mapping) is
 * src/kick/requests.ts; the channel, live stream and user types and their normalisers are src/kick/channels.ts;
 * the event-subscription endpoints are src/kick/subscriptions_api.ts, exposed here.
 *
 * - Lookups are batched (25 per request by default, at most 50, §1.4) and run a few batches at a time;
 *   the client's rate limiter decides the pace.
 * - Unknown slugs or ids are not errors: Kick omits them (§1.3); they come back as `notFound`.
 * - Kick has returned data for channels that were not asked for (§1.4, bug #321): such items are dropped,
 *   logged and counted in `stats.mismatches`, never trusted.
 * - A 401 drops the token, mints a new one and retries the request once (§1.2, #223).
 * - Items are validated one by one (kick-api.md §1.4: Kick reshapes fields it never documented): an item
 *   whose fields the monitor relies on are unreadable is dropped, counted in `stats.itemsRejected` and logged
 *   once per field; the rest of the batch stands. An envelope that does not validate is a KickResponseError
 *   (exit 1), not retried (see src/kick/errors.ts).
 */
import { log } from "../lib/log.ts";
import { checkSlug } from "../domain/slug.ts";
import type { AppTokenProvider } from "./oauth.ts";
import {
  channelSchema,
  describeIssues,
  listResponseSchema,
  livestreamSchema,
  publicKeyResponseSchema,
  userSchema,
} from "./schemas.ts";
import type { z } from "zod";
import type { EventKind, EventSubscription } from "./subscriptions.ts";
import type { ChannelPayload } from "./schemas.ts";
import type { HttpClient } from "../lib/http.ts";
import {
  type KickChannel,
  type KickLivestream,
  type KickUser,
  toKickChannel,
  toKickLivestream,
} from "./channels.ts";
import { type KickApiStats, KickRequester, neverAborted } from "./requests.ts";
import { KickSubscriptionsApi } from "./subscriptions_api.ts";

/** Options of {@link KickApi}. */
export interface KickApiOptions {
  http: HttpClient;
  tokens: AppTokenProvider;
  /** API base URL, e.g. `https://api.kick.com` (KICK_API_URL). */
  apiUrl: string;
  /** Default items per request (default 25, at most 50). */
  batchSize?: number;
  /** Batches in flight at once (default 4). */
  concurrency?: number;
}

/** Per-call options of the batched lookups. */
export interface BatchOptions {
  /** Items per request for this call, 1 to 50. */
  batchSize?: number;
  /** Cancels every batch of the call. */
  signal?: AbortSignal;
}

/** Result of {@link KickApi.getChannelsBySlug}. */
export interface ChannelsBySlug {
  /** By the normalised (lowercase) slug that was asked for. */
  channels: Map<string, KickChannel>;
  /** Slugs asked for that Kick did not return (or that no Kick slug can be). */
  notFound: string[];
  /** Slugs Kick returned without being asked for; dropped. */
  dropped: string[];
}

/** Result of {@link KickApi.getChannelsByBroadcasterId}. */
export interface ChannelsById {
  /** By the broadcaster user id that was asked for. */
  channels: Map<number, KickChannel>;
  /** Ids asked for that Kick did not return. */
  notFound: number[];
  /** Ids Kick returned without being asked for; dropped. */
  dropped: number[];
}

/** Kick's documented maximum of slugs or ids per request (§1.4). */
export const MAX_BATCH_SIZE = 50;
/** Below the maximum because of bug #321 (wrong data at 50 per request). */
export const DEFAULT_BATCH_SIZE = 25;

/** Client of the official API. */
export class KickApi {
  /**
   * `mismatches`: items Kick returned that were not asked for (§1.4 bug #321); `itemsRejected`: items dropped
   * because a field the monitor relies on was unreadable; `noStream`: channels answered without a readable
   * `stream.is_live`.
   */
  readonly stats: KickApiStats;
  readonly #requests: KickRequester;
  readonly #subscriptions: KickSubscriptionsApi;
  readonly #batchSize: number;
  readonly #concurrency: number;

  /** A client over the shared HTTP client and app token provider. */
  constructor(options: KickApiOptions) {
    this.#requests = new KickRequester(options);
    this.#subscriptions = new KickSubscriptionsApi(this.#requests);
    this.stats = this.#requests.stats;
    this.#batchSize = checkBatchSize(options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.#concurrency = Math.max(1, options.concurrency ?? 4);
  }

  /**
   * Channels by slug (`GET /public/v1/channels?slug=a&slug=b`). Slugs are normalised to lowercase and
   * deduplicated; the map is keyed by the normalised slug.
   */
  async getChannelsBySlug(slugs: string[], options: BatchOptions = {}): Promise<ChannelsBySlug> {
    const normalised = new Set<string>();
    const notFound: string[] = [];
    for (const input of new Set(slugs)) {
      const checked = checkSlug(input);
      // A string no Kick slug can be (e.g. 26 characters) would make Kick refuse the whole batch.
      if ("problem" in checked) notFound.push(input);
      else normalised.add(checked.slug);
    }
    const wanted = [...normalised];
    const { found, dropped } = await this.#lookup(wanted, options, {
      path: "/public/v1/channels",
      param: "slug",
      schema: channelSchema,
      keyOf: (item) => item.slug.toLowerCase(),
      convert: (item) => this.#toChannel(item),
    });
    for (const slug of wanted) if (!found.has(slug)) notFound.push(slug);
    return { channels: found, notFound, dropped };
  }

  /** Channels by broadcaster user id (`GET /public/v1/channels?broadcaster_user_id=…`). */
  async getChannelsByBroadcasterId(
    ids: number[],
    options: BatchOptions = {},
  ): Promise<ChannelsById> {
    const wanted = [...new Set(ids)];
    const { found, dropped } = await this.#lookup(wanted, options, {
      path: "/public/v1/channels",
      param: "broadcaster_user_id",
      schema: channelSchema,
      keyOf: (item) => item.broadcaster_user_id,
      convert: (item) => this.#toChannel(item),
    });
    return { channels: found, notFound: wanted.filter((id) => !found.has(id)), dropped };
  }

  /**
   * Live streams of these broadcasters (`GET /public/v1/livestreams?broadcaster_user_id=…`), keyed by
   * broadcaster user id. Offline broadcasters are simply absent (§1.5). Deprecated by Kick on 2026-06-23
   * but still served, and the only official source of `channel_id`.
   */
  async getLivestreams(
    broadcasterUserIds: number[],
    options: BatchOptions = {},
  ): Promise<Map<number, KickLivestream>> {
    const { found } = await this.#lookup([...new Set(broadcasterUserIds)], options, {
      path: "/public/v1/livestreams",
      param: "broadcaster_user_id",
      // The default page is 25 items (§1.5); ask for the maximum so no live stream of a batch is cut off.
      extra: [["limit", "100"]],
      schema: livestreamSchema,
      keyOf: (item) => item.broadcaster_user_id,
      convert: toKickLivestream,
    });
    return found;
  }

  /**
   * Some live streams, the most watched first (`GET /public/v1/livestreams?limit=N&sort=viewer_count`, §1.5):
   * the one official way to learn live channels' Pusher channel ids. For the lag probe and live tests.
   */
  async listLivestreams(
    limit: number,
    signal?: AbortSignal,
  ): Promise<{ slug: string; broadcasterUserId: number; channelId: number }[]> {
    const params: [string, string][] = [
      ["limit", String(Math.max(1, Math.min(100, limit)))],
      ["sort", "viewer_count"],
    ];
    const body = await this.#requests.get(
      "/public/v1/livestreams",
      params,
      listResponseSchema,
      signal ?? neverAborted(),
    );
    const out: { slug: string; broadcasterUserId: number; channelId: number }[] = [];
    for (const [index, raw] of body.data.entries()) {
      const parsed = livestreamSchema.safeParse(raw);
      if (!parsed.success) {
        this.#requests.reject("/public/v1/livestreams", index, raw, describeIssues(parsed.error));
        continue;
      }
      out.push({
        slug: parsed.data.slug.toLowerCase(),
        broadcasterUserId: parsed.data.broadcaster_user_id,
        channelId: parsed.data.channel_id,
      });
    }
    return out;
  }

  /** Users by id (`GET /public/v1/users?id=…`, §1.6). */
  async getUsers(
    ids: number[],
    options: BatchOptions = {},
  ): Promise<{ users: Map<number, KickUser>; notFound: number[] }> {
    const wanted = [...new Set(ids)];
    const { found } = await this.#lookup(wanted, options, {
      path: "/public/v1/users",
      param: "id",
      schema: userSchema,
      keyOf: (item) => item.user_id,
      convert: (item) => ({
        userId: item.user_id,
        name: item.name,
        profilePicture: item.profile_picture ?? null,
      }),
    });
    return { users: found, notFound: wanted.filter((id) => !found.has(id)) };
  }

  /** The PEM public key Kick signs webhooks with (`GET /public/v1/public-key`, §1.7; no token needed). */
  async getPublicKey(signal?: AbortSignal): Promise<string> {
    const path = "/public/v1/public-key";
    const body = await this.#requests.getPublic(path, publicKeyResponseSchema, signal);
    return body.data.public_key;
  }

  /** The app's event subscriptions (`GET /public/v1/events/subscriptions`, §1.8); see src/kick/subscriptions_api.ts. */
  listEventSubscriptions(signal?: AbortSignal): Promise<EventSubscription[]> {
    return this.#subscriptions.list(signal);
  }

  /**
   * Subscribes the app's webhook to `events` of one broadcaster (§1.8) and returns the new subscription ids by
   * event name; see {@link KickSubscriptionsApi.create} for the errors.
   */
  createEventSubscriptions(
    broadcasterUserId: number,
    events: readonly EventKind[],
    signal?: AbortSignal,
  ): Promise<Map<string, string>> {
    return this.#subscriptions.create(broadcasterUserId, events, signal);
  }

  /** Deletes subscriptions by id (§1.8), 50 per request. */
  deleteEventSubscriptions(ids: readonly string[], signal?: AbortSignal): Promise<void> {
    return this.#subscriptions.delete(ids, signal);
  }

  /**
   * A batched lookup: asks for `wanted` in batches as repeated `query.param` keys (§1.4: `?slug=a&slug=b`,
   * not `slug[]=`), and keeps each item whose key was asked for. Items not asked for are dropped and
   * counted (§1.4 bug #321); the first item per key wins.
   */
  async #lookup<K extends string | number, I, V>(
    wanted: K[],
    options: BatchOptions,
    query: {
      path: string;
      param: string;
      extra?: [string, string][];
      schema: z.ZodType<I>;
      keyOf: (item: I) => K;
      convert: (item: I) => V;
    },
  ): Promise<{ found: Map<K, V>; dropped: K[] }> {
    const found = new Map<K, V>();
    const dropped: K[] = [];
    await this.#inBatches(wanted, options, async (batch, signal) => {
      const asked = new Set(batch);
      const params = batch.map((key): [string, string] => [query.param, String(key)]);
      params.push(...(query.extra ?? []));
      const body = await this.#requests.get(query.path, params, listResponseSchema, signal);
      for (const [index, raw] of body.data.entries()) {
        const parsed = query.schema.safeParse(raw);
        if (!parsed.success) {
          this.#requests.reject(query.path, index, raw, describeIssues(parsed.error));
          continue;
        }
        const item = parsed.data;
        const key = query.keyOf(item);
        if (!asked.has(key)) {
          this.stats.mismatches++;
          dropped.push(key);
          log.warn(
            "Kick returned an item that was not asked for; ignoring it (kick-api.md §1.4, #321)",
            {
              request: query.path,
              returned: key,
              batchSize: batch.length,
            },
          );
          continue;
        }
        if (!found.has(key)) found.set(key, query.convert(item));
      }
    });
    return { found, dropped };
  }

  /** {@link toKickChannel}, counting and logging channels without a readable stream. */
  #toChannel(item: ChannelPayload): KickChannel {
    const channel = toKickChannel(item);
    if (channel.isLive === null) {
      this.stats.noStream++;
      if (this.#requests.firstReport(`no-stream ${item.slug}`)) {
        log.warn(
          "Kick answered a channel without a readable stream.is_live; no observation for it",
          {
            slug: item.slug,
          },
        );
      }
    }
    return channel;
  }

  /**
   * Runs `run` over batches of `keys`, a few at a time. The first failure cancels the other batches and
   * is rethrown once they have stopped; the caller's signal cancels everything.
   */
  async #inBatches<K>(
    keys: K[],
    options: BatchOptions,
    run: (batch: K[], signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    const size = checkBatchSize(options.batchSize ?? this.#batchSize);
    const batches: K[][] = [];
    for (let i = 0; i < keys.length; i += size) batches.push(keys.slice(i, i + size));
    if (batches.length === 0) return;
    const controller = new AbortController();
    const callerSignal = options.signal;
    const onAbort = (): void => controller.abort(callerSignal?.reason);
    callerSignal?.addEventListener("abort", onAbort, { once: true });
    let next = 0;
    const failures: unknown[] = [];
    const worker = async (): Promise<void> => {
      while (failures.length === 0 && next < batches.length) {
        const batch = batches[next++];
        try {
          await run(batch, controller.signal);
        } catch (error) {
          failures.push(error);
          controller.abort(error);
        }
      }
    };
    try {
      const workers = Math.min(this.#concurrency, batches.length);
      await Promise.all(Array.from({ length: workers }, () => worker()));
    } finally {
      callerSignal?.removeEventListener("abort", onAbort);
    }
    callerSignal?.throwIfAborted();
    if (failures.length > 0) throw failures[0];
  }
}

function checkBatchSize(size: number): number {
  if (!Number.isInteger(size) || size < 1 || size > MAX_BATCH_SIZE) {
    throw new RangeError(
      `Batch size must be a whole number from 1 to ${MAX_BATCH_SIZE}, got ${size}`,
    );
  }
  return size;
}
