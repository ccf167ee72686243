/**
 * The legacy website API, `GET {webUrl}/api/v2/channels/{slug}` (kick-api.md §2), used only to learn the
 * channel and chatroom ids Pusher needs, which the official API does not give (§1.4, #396).
 *
 * Best effort by design: Cloudflare blocks non-browser clients (§2.2) and Kick no longer supports external
 * use (#354). So a lookup never throws; it says what happened, and the first Cloudflare block is logged once.
 * Give it its own HttpClient with few retries, so its failures never hold back the official API's limiter.
 */
import type { HttpClient, HttpResponse } from "../lib/http.ts";
import { log } from "../lib/log.ts";
import { describeError } from "../lib/errors.ts";
import { KickBlockedError } from "./errors.ts";
import { legacyChannelSchema, parseBody, parseKickTime } from "./schemas.ts";

/** The live broadcast the legacy API reports. */
export interface LegacyLive {
  /** Kick's livestream id. */
  livestreamId: number;
  /** The stream title, if any. */
  title: string | null;
  /** When the broadcast started, if readable. */
  startedAt: Date | null;
  /** Current viewers, if given. */
  viewers: number | null;
}

/** What a legacy lookup found out. */
export type LegacyLookupResult =
  | {
    kind: "found";
    slug: string;
    /** The channel id (Pusher `channel.{id}`), never the user id (§3.4). */
    channelId: number;
    /** The chatroom id (Pusher `chatrooms.{id}.v2`). */
    chatroomId: number;
    userId: number;
    live: LegacyLive | null;
  }
  | { kind: "not-found" }
  | { kind: "blocked"; reason: string }
  | { kind: "failed"; reason: string };

/** Options of {@link LegacyLookup}. */
export interface LegacyLookupOptions {
  http: HttpClient;
  /** Website base URL, e.g. `https://kick.com` (KICK_WEB_URL). */
  webUrl: string;
}

export const LEGACY_BLOCKED_WARNING =
  "Kick's website API is blocked by Cloudflare; streamers are still " +
  "monitored through the official API; set a channel id with `streamers add --channel-id`";

/** Best-effort lookups of channel ids through the legacy website API. */
export class LegacyLookup {
  readonly #http: HttpClient;
  readonly #webUrl: string;
  #warnedBlocked = false;

  /** A lookup over its own HTTP client (few retries: Cloudflare's answer will not change). */
  constructor(options: LegacyLookupOptions) {
    this.#http = options.http;
    this.#webUrl = options.webUrl.replace(/\/+$/, "");
  }

  /** Looks a slug up. Never throws, not even when `signal` aborts (that is a "failed" result). */
  async lookup(slug: string, signal?: AbortSignal): Promise<LegacyLookupResult> {
    const url = `${this.#webUrl}/api/v2/channels/${encodeURIComponent(slug)}`;
    let response: HttpResponse;
    try {
      response = await this.#http.request(url, { signal });
    } catch (error) {
      if (error instanceof KickBlockedError) return this.#blocked(error.reason);
      return { kind: "failed", reason: describeError(error) };
    }
    if (response.status === 404) return { kind: "not-found" };
    if (response.status === 403) return this.#blocked("HTTP 403");
    if (response.status !== 200) {
      return { kind: "failed", reason: `unexpected HTTP ${response.status} from the website API` };
    }
    const parsed = parseBody(legacyChannelSchema, response.body);
    if (!parsed.ok) {
      return {
        kind: "failed",
        reason: `unexpected answer from the website API: ${parsed.problem}`,
      };
    }
    const channel = parsed.value;
    const stream = channel.livestream;
    // The live test of §2.1: a livestream object that says is_live.
    const live: LegacyLive | null = stream !== null && stream.is_live
      ? {
        livestreamId: stream.id,
        title: stream.session_title || null,
        startedAt: parseKickTime(stream.start_time ?? stream.created_at),
        viewers: stream.viewer_count ?? stream.viewers ?? null,
      }
      : null;
    return {
      kind: "found",
      slug: channel.slug,
      channelId: channel.id,
      chatroomId: channel.chatroom.id,
      userId: channel.user_id,
      live,
    };
  }

  #blocked(reason: string): LegacyLookupResult {
    if (!this.#warnedBlocked) {
      this.#warnedBlocked = true;
      log.warn(LEGACY_BLOCKED_WARNING, { reason });
    }
    return { kind: "blocked", reason };
  }
}
