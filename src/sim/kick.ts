/**
 * The simulated Kick HTTP server: OAuth (id.kick.com), the official API (api.kick.com) and the legacy
 * website API (kick.com) on one 127.0.0.1 port, serving the FakeWorld with the exact shapes of
 * kick-api.md (§1.2 OAuth, §1.3 envelope and errors, §1.4 channels, §1.5 livestreams, §1.6 users,
 * §1.7 public key, §2.1 legacy channel). Tests and benchmarks inject faults per route, and can turn on a
 * server-side rate limit.
 *
 * By default the fake is perfectly consistent. {@link FakeKickHabits} switch on, per test, the real API's habits
 * (kick-api.md §1.4 known bugs, §1.5): answers that lag the truth, one-answer flickers, odd-but-harmless fields,
 * rarely a broken item, and owner-only fields on the app owner's channel only (src/sim/habits.ts bends the items).
 */
import { TokenBucket } from "../lib/http.ts";
import { sleep } from "../lib/backoff.ts";
import { KICK_WEBHOOK_PUBLIC_KEY_PEM } from "../kick/public_key.ts";
import type { FakeChannelState, FakeLivestream, FakeStreamer, FakeWorld } from "./world.ts";
import { SeededRandom } from "./random.ts";
import {
  breakChannelItem,
  driftChannelItem,
  driftLivestreamItem,
  type FakeKickQuirk,
  markOwnerOnlyFields,
} from "./habits.ts";

export type { FakeKickQuirk };
import {
  FakeEventSubscriptions,
  type FakeEventSubscriptionsOptions,
  type WebhookSigningKey,
} from "./webhooks.ts";

/** The routes the fake serves. */
export type FakeKickRoute =
  | "oauth"
  | "channels"
  | "livestreams"
  | "users"
  | "public-key"
  | "subscriptions"
  | "legacy";

/** Where a fault applies: one route, or whichever request comes next. */
export type FakeKickFaultRoute = FakeKickRoute | "any";

/** A misbehaviour the next request(s) of a route get instead of (or on top of) the normal answer. */
export type FakeKickFault =
  /** Answer this status with the route's error body; `retryAfter` sets the header (seconds or HTTP date). */
  | { kind: "status"; status: number; retryAfter?: string }
  /** Cloudflare's 403: the "Just a moment..." challenge page (default) or the JSON block of §2.2. */
  | { kind: "cloudflare"; variant?: "challenge" | "json" }
  /** Wait before answering normally. */
  | { kind: "slow"; delayMs: number }
  /** The normal 200 answer cut in half. */
  | { kind: "truncated-json" }
  /** The normal answer with a field of the wrong type (e.g. `stream.is_live` as a string). */
  | { kind: "wrong-types" }
  /** 400 with an empty body (seen from id.kick.com, #156). */
  | { kind: "empty-400" }
  /** Headers, then the connection closes before the promised body. */
  | { kind: "drop" }
  /** Channels only: add an item that was not asked for (§1.4 bug #321); a made-up one unless `slug`. */
  | { kind: "stray-channel"; slug?: string };

/**
 * Habits of the real official API, each off unless set (kick-api.md §1.4 "Known bugs", §1.5). They apply to
 * `/public/v1/channels` and `/public/v1/livestreams`; OAuth, users and the legacy API stay exact.
 */
export interface FakeKickHabits {
  /** The API answers the world as it was this many milliseconds ago (per channel, from its remembered past). */
  lagMs?: number;
  /**
   * On top of `lagMs`, a lag drawn per channel per answer from [0, lagJitterMs]: the API lags "by up to" this.
   * While `lagMs + lagJitterMs` is below the client's poll interval, successive answers never go back in time.
   */
  lagJitterMs?: number;
  /**
   * Chance, per channel item per answer, of one answer of the opposite state: a live channel reported
   * `is_live: false`, or an offline one reported live with its last broadcast's start time.
   */
  flickerRate?: number;
  /** Chance, per item per answer, of odd-but-harmless fields (`category: {}`, `viewer_count: "12"`, …). */
  driftRate?: number;
  /** Channels (slugs when set) whose every item carries odd fields, a different mix in each answer. */
  driftSlugs?: string[];
  /**
   * Chance, per channel item per answer, of a genuinely broken item (no `stream`, or no `stream.is_live`): a
   * client must take it as no observation of that channel.
   */
  brokenRate?: number;
  /**
   * The app owner's channel (a slug when set): only it carries `active_subscribers_count`,
   * `canceled_subscribers_count`, `stream.key` and `stream.url` (§1.4); every other item lacks them. Unset, every
   * item carries them zeroed, as before.
   */
  ownerSlug?: string;
  /** Seed of the habits' random draws (lag, flicker, drift, broken); random when unset. */
  seed?: number;
}

/** A habit shown in one answer about one channel, as {@link FakeKickRequest.quirks} records it. */
export interface FakeKickQuirkNote {
  slug: string;
  quirk: FakeKickQuirk;
}

/** One request as the fake saw it. */
export interface FakeKickRequest {
  method: string;
  path: string;
  /** The query string without "?". */
  query: string;
  route: FakeKickRoute | null;
  /** Arrival time, `Date.now()` milliseconds. */
  time: number;
  /** Status answered; null while the answer is pending; 0 when the connection was dropped. */
  status: number | null;
  /**
   * Channels this answer showed a habit for: "lag" when the lagged state differed from the truth, and every
   * flicker, drift and broken item. Absent when there was none.
   */
  quirks?: FakeKickQuirkNote[];
}

/** Options of {@link startFakeKick}. */
export interface FakeKickOptions {
  world: FakeWorld;
  clientId: string;
  clientSecret: string;
  /** `expires_in` of minted tokens, which really expire (default 5184000, 60 days as in #239). */
  tokenTtlSeconds?: number;
  /** Port to bind on 127.0.0.1; a free one by default. */
  port?: number;
  /** Server-side limit over all routes: above it, 429 without Retry-After (counted in `stats.throttled`). */
  rateLimitPerSecond?: number;
  /** The real API's habits; none by default (a perfectly consistent Kick). */
  habits?: FakeKickHabits;
  /**
   * Webhooks (src/sim/webhooks.ts): `signingKey` makes `/public/v1/public-key` serve this key instead of the
   * one in Kick's docs (whose private half nobody has), so deliveries signed by the fake sender verify.
   */
  webhooks?: FakeEventSubscriptionsOptions & { signingKey?: WebhookSigningKey };
}

/** A running fake Kick. */
export interface FakeKick {
  /** Base URL (`http://127.0.0.1:PORT`) for KICK_OAUTH_URL, KICK_API_URL and KICK_WEB_URL alike. */
  readonly url: string;
  /** Every request, in the order they arrived (logged on arrival). */
  readonly requests: FakeKickRequest[];
  readonly stats: { requests: number; throttled: number; tokensIssued: number };
  /** Requests of one route. */
  requestsTo(route: FakeKickRoute): FakeKickRequest[];
  /** Gives the next `times` requests of `route` this fault (route-specific faults go before "any"). */
  injectFault(route: FakeKickFaultRoute, fault: FakeKickFault, times?: number): void;
  /** Removes every pending fault. */
  clearFaults(): void;
  /** Makes every token issued so far invalid (the next API call answers 401). */
  expireTokens(): void;
  /**
   * Replaces the habits (a test may switch them on and off while it runs). The random draws continue unless
   * `seed` changes.
   */
  setHabits(habits: FakeKickHabits): void;
  /**
   * Gives the next `times` channel items about `slug` this quirk, whatever the habits' rates: "flicker", "drift",
   * "missing-stream" or "missing-is-live" ("lag" comes from {@link FakeKickHabits.lagMs} only).
   */
  injectQuirk(slug: string, quirk: Exclude<FakeKickQuirk, "lag">, times?: number): void;
  /** The app's event subscriptions (§1.8), for tests to inspect and bend. */
  readonly subscriptions: FakeEventSubscriptions;
  /** What `/public/v1/public-key` serves; set it to simulate a key rotation. */
  webhookPublicKeyPem: string;
  /** Stops the server; pending slow answers are cut short. */
  close(): Promise<void>;
}

const JSON_TYPE = "application/json";
const MAX_ITEMS = 50;
const MAX_SLUG_LENGTH = 25;
const DEFAULT_TOKEN_TTL_SECONDS = 5_184_000;
const OFFLINE_START_TIME = "0001-01-01T00:00:00Z";
const LEGACY_NOT_FOUND = "No query results for model [App\\Models\\Channel].";

const REASONS: Record<number, string> = {
  400: "Bad request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

const CLOUDFLARE_PAGE = `<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta name="robots" content="noindex,nofollow">
</head><body><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">kick.com</h1><h2 class="h2" id="challenge-running">Checking if the site connection is secure</h2>
<noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript></div></div></body></html>`;

/** An answer before serialisation: JSON values are serialised last, so faults can bend them. */
interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** The body is already text (HTML, empty). */
  raw?: boolean;
}

/** Starts the fake on 127.0.0.1. */
export function startFakeKick(options: FakeKickOptions): Promise<FakeKick> {
  return Promise.resolve(new FakeKickServer(options));
}

class FakeKickServer implements FakeKick {
  readonly url: string;
  readonly requests: FakeKickRequest[] = [];
  readonly stats = { requests: 0, throttled: 0, tokensIssued: 0 };
  readonly subscriptions: FakeEventSubscriptions;
  webhookPublicKeyPem: string;
  readonly #world: FakeWorld;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #tokenTtlMs: number;
  readonly #limiter: TokenBucket | null;
  readonly #tokens = new Map<string, number>();
  readonly #faults = new Map<FakeKickFaultRoute, { fault: FakeKickFault; remaining: number }[]>();
  /** Injected quirks by broadcaster user id (which survives a rename). */
  readonly #quirks = new Map<
    number,
    { quirk: Exclude<FakeKickQuirk, "lag">; remaining: number }[]
  >();
  #habits: FakeKickHabits = {};
  #random = new SeededRandom(0);
  #seed: number | null = null;
  #ownerUserId: number | null = null;
  #driftUserIds = new Set<number>();
  readonly #byUserId = new Map<number, FakeStreamer>();
  #indexedSize = -1;
  readonly #dropped = new WeakSet<Response>();
  readonly #closing = new AbortController();
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  #closed: Promise<void> | null = null;

  constructor(options: FakeKickOptions) {
    this.#world = options.world;
    this.subscriptions = new FakeEventSubscriptions(options.webhooks);
    this.webhookPublicKeyPem = options.webhooks?.signingKey?.publicKeyPem ??
      KICK_WEBHOOK_PUBLIC_KEY_PEM;
    this.#clientId = options.clientId;
    this.#clientSecret = options.clientSecret;
    this.#tokenTtlMs = (options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS) * 1000;
    this.#limiter = options.rateLimitPerSecond
      ? new TokenBucket({ ratePerSecond: options.rateLimitPerSecond })
      : null;
    this.setHabits(options.habits ?? {});
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
      (request) => this.#handle(request),
    );
    this.url = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  requestsTo(route: FakeKickRoute): FakeKickRequest[] {
    return this.requests.filter((request) => request.route === route);
  }

  injectFault(route: FakeKickFaultRoute, fault: FakeKickFault, times = 1): void {
    const queue = this.#faults.get(route) ?? [];
    queue.push({ fault, remaining: times });
    this.#faults.set(route, queue);
  }

  clearFaults(): void {
    this.#faults.clear();
  }

  expireTokens(): void {
    this.#tokens.clear();
  }

  setHabits(habits: FakeKickHabits): void {
    this.#habits = { ...habits };
    // A new seed starts a new stream of draws; the same seed (or none) continues the current one, so a test
    // that moves its drifting channels does not replay the same flickers and mixes.
    if (this.#seed === null || (habits.seed !== undefined && habits.seed !== this.#seed)) {
      this.#seed = habits.seed ?? Math.floor(Math.random() * 2 ** 31);
      this.#random = new SeededRandom(this.#seed);
    }
    this.#ownerUserId = habits.ownerSlug === undefined
      ? null
      : this.#world.get(habits.ownerSlug).broadcasterUserId;
    this.#driftUserIds = new Set(
      (habits.driftSlugs ?? []).map((slug) => this.#world.get(slug).broadcasterUserId),
    );
  }

  injectQuirk(slug: string, quirk: Exclude<FakeKickQuirk, "lag">, times = 1): void {
    const userId = this.#world.get(slug).broadcasterUserId;
    const queue = this.#quirks.get(userId) ?? [];
    queue.push({ quirk, remaining: times });
    this.#quirks.set(userId, queue);
  }

  close(): Promise<void> {
    if (this.#closed === null) {
      this.#closing.abort();
      this.#closed = this.#server.shutdown();
    }
    return this.#closed;
  }

  async #handle(request: Request): Promise<Response> {
    const time = Date.now();
    const url = new URL(request.url);
    const route = routeOf(request.method, url.pathname);
    const entry: FakeKickRequest = {
      method: request.method,
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      route,
      time,
      status: null,
    };
    this.requests.push(entry);
    this.stats.requests++;
    const response = await this.#answer(request, url, route, entry);
    entry.status = this.#dropped.has(response) ? 0 : response.status;
    return response;
  }

  async #answer(
    request: Request,
    url: URL,
    route: FakeKickRoute | null,
    entry: FakeKickRequest,
  ): Promise<Response> {
    if (this.#limiter !== null && !this.#limiter.tryTake()) {
      this.stats.throttled++;
      return toResponse(errorAnswer(route, 429));
    }
    if (route === null) {
      const known = routeOf("GET", url.pathname) ?? routeOf("POST", url.pathname);
      return toResponse(errorAnswer(route, known === null ? 404 : 405));
    }
    const fault = this.#takeFault(route);
    if (fault !== null) {
      switch (fault.kind) {
        case "status": {
          const answer = errorAnswer(route, fault.status);
          if (fault.retryAfter !== undefined) answer.headers = { "retry-after": fault.retryAfter };
          return toResponse(answer);
        }
        case "cloudflare":
          return cloudflareResponse(fault.variant ?? "challenge");
        case "empty-400":
          return toResponse({ status: 400, body: "", raw: true });
        case "drop": {
          const response = dropResponse();
          this.#dropped.add(response);
          return response;
        }
        case "slow":
          try {
            await sleep(fault.delayMs, this.#closing.signal);
          } catch {
            return toResponse(errorAnswer(route, 503));
          }
          break;
        default:
          break;
      }
    }
    const answer = await this.#serve(request, url, route, fault, (note) => {
      (entry.quirks ??= []).push(note);
    });
    if (fault?.kind === "wrong-types" && answer.status === 200) bendTypes(route, answer);
    if (fault?.kind === "truncated-json" && !answer.raw) {
      const text = JSON.stringify(answer.body);
      return new Response(text.slice(0, Math.max(1, Math.floor(text.length / 2))), {
        status: answer.status,
        headers: { "content-type": JSON_TYPE },
      });
    }
    return toResponse(answer);
  }

  #takeFault(route: FakeKickRoute): FakeKickFault | null {
    for (const key of [route, "any"] as const) {
      const queue = this.#faults.get(key);
      if (queue === undefined || queue.length === 0) continue;
      const head = queue[0];
      head.remaining--;
      if (head.remaining <= 0) queue.shift();
      return head.fault;
    }
    return null;
  }

  #serve(
    request: Request,
    url: URL,
    route: FakeKickRoute,
    fault: FakeKickFault | null,
    note: (quirk: FakeKickQuirkNote) => void,
  ): Promise<Answer> | Answer {
    switch (route) {
      case "oauth":
        return this.#oauthToken(request);
      case "public-key":
        return ok({ public_key: this.webhookPublicKeyPem });
      case "legacy":
        return this.#legacyChannel(
          decodeURIComponent(url.pathname.slice("/api/v2/channels/".length)),
        );
    }
    if (!this.#authorized(request)) return errorAnswer(route, 401);
    switch (route) {
      case "channels":
        return this.#channels(url.searchParams, fault, note);
      case "livestreams":
        return this.#livestreams(url.searchParams, note);
      case "users":
        return this.#users(url.searchParams);
      case "subscriptions":
        return this.#subscriptions(request, url);
    }
  }

  async #subscriptions(request: Request, url: URL): Promise<Answer> {
    const answer = this.subscriptions.handle(request.method, url, await request.text());
    if (answer.body === null) return { status: answer.status, body: null, raw: true };
    return answer;
  }

  // ---- OAuth (§1.2) ----

  async #oauthToken(request: Request): Promise<Answer> {
    const type = request.headers.get("content-type") ?? "";
    if (!type.startsWith("application/x-www-form-urlencoded")) {
      return oauthError(400, "invalid_request", "The request must be form-encoded.");
    }
    const form = new URLSearchParams(await request.text());
    const grantType = form.get("grant_type");
    const clientId = form.get("client_id");
    const clientSecret = form.get("client_secret");
    if (!grantType || !clientId || !clientSecret) {
      return oauthError(
        400,
        "invalid_request",
        "The request is missing a required parameter (grant_type, client_id or client_secret).",
      );
    }
    if (grantType !== "client_credentials") {
      return oauthError(
        400,
        "unsupported_grant_type",
        "The authorization grant type is not supported.",
      );
    }
    if (clientId !== this.#clientId || clientSecret !== this.#clientSecret) {
      return oauthError(
        401,
        "invalid_client",
        "Client authentication failed (e.g., unknown client, no client authentication included, " +
          "or unsupported authentication method).",
      );
    }
    const token = randomToken();
    this.#tokens.set(token, Date.now() + this.#tokenTtlMs);
    this.stats.tokensIssued++;
    return {
      status: 200,
      body: {
        access_token: token,
        token_type: "Bearer",
        expires_in: Math.round(this.#tokenTtlMs / 1000),
      },
    };
  }

  #authorized(request: Request): boolean {
    const match = /^Bearer (\S+)$/i.exec(request.headers.get("authorization") ?? "");
    if (match === null) return false;
    const expiresAt = this.#tokens.get(match[1]);
    return expiresAt !== undefined && Date.now() < expiresAt;
  }

  // ---- Official API (§1.4–§1.6) ----

  #channels(
    params: URLSearchParams,
    fault: FakeKickFault | null,
    note: (quirk: FakeKickQuirkNote) => void,
  ): Answer {
    const problem = unknownParameter(params, ["slug", "broadcaster_user_id"]);
    if (problem !== null) return badRequest(problem);
    const slugs = params.getAll("slug");
    const ids = params.getAll("broadcaster_user_id");
    if (slugs.length > 0 && ids.length > 0) {
      return badRequest("Invalid parameters or mixed parameter types");
    }
    if (slugs.length > MAX_ITEMS || ids.length > MAX_ITEMS) {
      return badRequest(`At most ${MAX_ITEMS} values per parameter`);
    }
    let found: FakeStreamer[];
    if (slugs.length > 0) {
      if (slugs.some((slug) => slug.length > MAX_SLUG_LENGTH)) {
        return badRequest(`A slug has at most ${MAX_SLUG_LENGTH} characters`);
      }
      found = [];
      for (const slug of new Set(slugs.map((s) => s.toLowerCase()))) {
        const streamer = this.#world.streamers.get(slug);
        if (streamer !== undefined) found.push(streamer);
      }
    } else {
      const parsed = parseIds(ids);
      if (parsed === null) return badRequest("broadcaster_user_id must be integers");
      found = this.#streamersById(parsed);
    }
    // A banned channel is simply absent, like an unknown one (§1.3).
    found = found.filter((streamer) => !streamer.banned);
    // No parameters means "the token owner's channel"; an app token has no owner (§1.4).
    const data = found.map((streamer) => this.#habitualChannelItem(streamer, note));
    if (fault?.kind === "stray-channel") data.push(this.#strayChannel(fault.slug));
    return ok(data);
  }

  /** The channel item as the real API would show it: lagged, flickering, drifting or broken per the habits. */
  #habitualChannelItem(
    streamer: FakeStreamer,
    note: (quirk: FakeKickQuirkNote) => void,
  ): Record<string, unknown> {
    const slug = streamer.slug;
    let view = this.#lagged(streamer);
    if (view.live?.id !== streamer.live?.id) note({ slug, quirk: "lag" });
    const injected = this.#takeQuirk(streamer.broadcasterUserId);
    if (injected === "flicker" || this.#chance(this.#habits.flickerRate)) {
      const flipped = flicker(view);
      if (flipped !== null) {
        view = flipped;
        note({ slug, quirk: "flicker" });
      }
    }
    const item = this.#channelItem(streamer, view);
    if (this.#ownerUserId !== null) {
      markOwnerOnlyFields(item, streamer.broadcasterUserId === this.#ownerUserId);
    }
    if (
      injected === "drift" || this.#driftUserIds.has(streamer.broadcasterUserId) ||
      this.#chance(this.#habits.driftRate)
    ) {
      driftChannelItem(item, this.#random);
      note({ slug, quirk: "drift" });
    }
    if (injected === "missing-stream" || injected === "missing-is-live") {
      breakChannelItem(item, injected);
      note({ slug, quirk: injected });
    } else if (this.#chance(this.#habits.brokenRate)) {
      const broken = this.#random.pick(["missing-stream", "missing-is-live"] as const);
      breakChannelItem(item, broken);
      note({ slug, quirk: broken });
    }
    return item;
  }

  /** The streamer as the API sees it now: the world some lag ago (the present without a lag habit). */
  #lagged(streamer: FakeStreamer): FakeChannelState {
    const base = this.#habits.lagMs ?? 0;
    const jitter = this.#habits.lagJitterMs ?? 0;
    const lag = base + (jitter > 0 ? this.#random.next() * jitter : 0);
    if (lag <= 0) return { live: streamer.live, lastLivestream: streamer.lastLivestream };
    return this.#world.stateAt(streamer, Date.now() - lag);
  }

  #chance(rate: number | undefined): boolean {
    return rate !== undefined && rate > 0 && this.#random.next() < rate;
  }

  #takeQuirk(userId: number): Exclude<FakeKickQuirk, "lag"> | null {
    const queue = this.#quirks.get(userId);
    if (queue === undefined || queue.length === 0) return null;
    const head = queue[0];
    head.remaining--;
    if (head.remaining <= 0) queue.shift();
    return head.quirk;
  }

  #channelItem(streamer: FakeStreamer, view: FakeChannelState): Record<string, unknown> {
    const live = view.live;
    const shown = live ?? view.lastLivestream;
    return {
      active_subscribers_count: 0,
      banner_picture: "https://kick.com/img/default-banner-pictures/default2.jpeg",
      broadcaster_user_id: streamer.broadcasterUserId,
      canceled_subscribers_count: 0,
      category: shown === null ? null : categoryOf(shown),
      channel_description: streamer.description,
      slug: streamer.slug,
      stream: {
        custom_tags: [],
        is_live: live !== null,
        is_mature: false,
        // Only the token owner's channel with streamkey:read shows these (§1.4).
        key: "",
        language: live?.language ?? "en",
        start_time: live === null ? OFFLINE_START_TIME : live.startedAt.toISOString(),
        thumbnail: live === null ? "" : thumbnailOf(streamer, live),
        url: "",
        viewer_count: live?.viewers ?? 0,
      },
      stream_title: shown?.title ?? "",
    };
  }

  #strayChannel(slug: string | undefined): Record<string, unknown> {
    const streamer = slug === undefined ? undefined : this.#world.streamers.get(slug);
    if (streamer !== undefined) return this.#channelItem(streamer, streamer);
    const made: FakeStreamer = {
      slug: slug ?? `stray-${this.stats.requests}`,
      broadcasterUserId: 900_000_000 + this.stats.requests,
      channelId: 0,
      chatroomId: 0,
      description: "not asked for",
      live: null,
      lastLivestream: null,
      banned: false,
    };
    return this.#channelItem(made, made);
  }

  #livestreams(params: URLSearchParams, note: (quirk: FakeKickQuirkNote) => void): Answer {
    const problem = unknownParameter(params, [
      "broadcaster_user_id",
      "category_id",
      "language",
      "limit",
      "sort",
    ]);
    if (problem !== null) return badRequest(problem);
    const ids = parseIds(params.getAll("broadcaster_user_id"));
    if (ids === null) return badRequest("broadcaster_user_id must be integers");
    const limitText = params.get("limit") ?? "25";
    const limit = /^\d+$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= 100)) return badRequest("limit must be from 1 to 100");
    const sort = params.get("sort") ?? "viewer_count";
    if (sort !== "viewer_count" && sort !== "started_at") {
      return badRequest("sort must be viewer_count or started_at");
    }
    const categoryId = params.get("category_id");
    const language = params.get("language");
    const asked = ids.length > 0 ? this.#streamersById(ids) : [...this.#world.streamers.values()];
    const candidates = asked.filter((streamer) => !streamer.banned);
    // The list lags like the channels do (§1.5): a stream shows up, and leaves, some seconds late.
    const live: { streamer: FakeStreamer; stream: FakeLivestream }[] = [];
    for (const streamer of candidates) {
      const stream = this.#lagged(streamer).live;
      if (stream?.id !== streamer.live?.id) note({ slug: streamer.slug, quirk: "lag" });
      if (
        stream !== null &&
        (categoryId === null || String(stream.category.id) === categoryId) &&
        (language === null || stream.language === language)
      ) {
        live.push({ streamer, stream });
      }
    }
    live.sort((a, b) =>
      sort === "viewer_count"
        ? b.stream.viewers - a.stream.viewers
        : b.stream.startedAt.getTime() - a.stream.startedAt.getTime()
    );
    return ok(
      live.slice(0, limit).map(({ streamer, stream }) => {
        const item: Record<string, unknown> = {
          broadcaster_user_id: streamer.broadcasterUserId,
          category: categoryOf(stream),
          channel_id: streamer.channelId,
          custom_tags: [],
          has_mature_content: false,
          language: stream.language,
          profile_picture: profilePictureOf(streamer),
          slug: streamer.slug,
          started_at: stream.startedAt.toISOString(),
          stream_title: stream.title,
          thumbnail: thumbnailOf(streamer, stream),
          viewer_count: stream.viewers,
        };
        if (
          this.#driftUserIds.has(streamer.broadcasterUserId) || this.#chance(this.#habits.driftRate)
        ) {
          driftLivestreamItem(item, this.#random);
          note({ slug: streamer.slug, quirk: "drift" });
        }
        return item;
      }),
    );
  }

  #users(params: URLSearchParams): Answer {
    const problem = unknownParameter(params, ["id"]);
    if (problem !== null) return badRequest(problem);
    const ids = parseIds(params.getAll("id"));
    if (ids === null) return badRequest("id must be integers");
    return ok(
      this.#streamersById(ids).map((streamer) => ({
        user_id: streamer.broadcasterUserId,
        name: streamer.slug,
        // Only the token owner's e-mail is shown (§1.6); an app token owns no user.
        email: "",
        profile_picture: profilePictureOf(streamer),
      })),
    );
  }

  /** Streamers with these user ids, in order, unknown ones skipped. Rebuilds the index at most once. */
  #streamersById(ids: number[]): FakeStreamer[] {
    const streamers = this.#world.streamers;
    let fresh = false;
    if (this.#indexedSize !== streamers.size) {
      this.#reindex();
      fresh = true;
    }
    const found: FakeStreamer[] = [];
    for (const id of new Set(ids)) {
      let streamer = this.#byUserId.get(id);
      const stale = streamer !== undefined &&
        (streamers.get(streamer.slug) !== streamer || streamer.broadcasterUserId !== id);
      if ((streamer === undefined || stale) && !fresh) {
        this.#reindex();
        fresh = true;
        streamer = this.#byUserId.get(id);
      }
      if (streamer !== undefined) found.push(streamer);
    }
    return found;
  }

  #reindex(): void {
    this.#byUserId.clear();
    for (const streamer of this.#world.streamers.values()) {
      this.#byUserId.set(streamer.broadcasterUserId, streamer);
    }
    this.#indexedSize = this.#world.streamers.size;
  }

  // ---- Legacy website API (§2.1) ----

  #legacyChannel(slug: string): Answer {
    const streamer = this.#world.streamers.get(slug.toLowerCase());
    if (streamer === undefined) return { status: 404, body: { message: LEGACY_NOT_FOUND } };
    const live = streamer.banned ? null : streamer.live;
    return {
      status: 200,
      body: {
        id: streamer.channelId,
        user_id: streamer.broadcasterUserId,
        slug: streamer.slug,
        is_banned: streamer.banned,
        playback_url: `https://fa723fc1b171.us-west-2.playback.live-video.net/api/video/v1/` +
          `us-west-2.196233775518.channel.${streamer.slug}.m3u8`,
        vod_enabled: true,
        subscription_enabled: true,
        followers_count: 0,
        subscriber_badges: [],
        banner_image: { url: "" },
        livestream: live === null ? null : {
          id: live.id,
          slug: `${live.id.toString(16)}-${live.title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`,
          channel_id: streamer.channelId,
          created_at: legacyTime(live.startedAt),
          session_title: live.title,
          is_live: true,
          start_time: legacyTime(live.startedAt),
          risk_level_id: null,
          source: null,
          twitch_channel: null,
          duration: 0,
          language: "English",
          is_mature: false,
          viewer_count: live.viewers,
          thumbnail: { url: thumbnailOf(streamer, live), responsive: "" },
          categories: [{
            id: live.category.id,
            category_id: 1,
            name: live.category.name,
            slug: live.category.name.toLowerCase().replace(/[^a-z0-9]+/g, "-"),
            tags: [],
            category: { id: 1, name: "Games", slug: "games", icon: "" },
          }],
          tags: [],
        },
        role: null,
        muted: false,
        follower_badges: [],
        offline_banner_image: { src: "", srcset: "" },
        verified: null,
        recent_categories: [],
        can_host: true,
        user: {
          id: streamer.broadcasterUserId,
          username: streamer.slug,
          bio: "",
          instagram: "",
          twitter: "",
          youtube: "",
          discord: "",
          tiktok: "",
          facebook: "",
          profile_pic: profilePictureOf(streamer),
        },
        chatroom: {
          id: streamer.chatroomId,
          chatable_type: "App\\Models\\Channel",
          channel_id: streamer.channelId,
          chat_mode: "public",
          slow_mode: false,
          followers_mode: false,
          subscribers_mode: false,
          emotes_mode: false,
          message_interval: 0,
          following_min_duration: 10,
          created_at: "2023-01-01T00:00:00.000000Z",
          updated_at: "2023-01-01T00:00:00.000000Z",
        },
      },
    };
  }
}

function routeOf(method: string, path: string): FakeKickRoute | null {
  if (method === "POST" && path === "/oauth/token") return "oauth";
  if (path === "/public/v1/events/subscriptions" && ["GET", "POST", "DELETE"].includes(method)) {
    return "subscriptions";
  }
  if (method !== "GET") return null;
  if (path === "/public/v1/channels") return "channels";
  if (path === "/public/v1/livestreams") return "livestreams";
  if (path === "/public/v1/users") return "users";
  if (path === "/public/v1/public-key") return "public-key";
  if (/^\/api\/v2\/channels\/[^/]+$/.test(path)) return "legacy";
  return null;
}

function ok(data: unknown): Answer {
  return { status: 200, body: { data, message: "OK" } };
}

/** 400 in the API envelope, like `{"data":"event subscription limit reached","message":"Bad request"}`. */
function badRequest(problem: string): Answer {
  return { status: 400, body: { data: problem, message: "Bad request" } };
}

function oauthError(status: number, error: string, description: string): Answer {
  return { status, body: { error, error_description: description } };
}

/** The error body each host uses (§1.2, §1.3, §2.1). */
function errorAnswer(route: FakeKickRoute | null, status: number): Answer {
  const reason = REASONS[status] ?? "Error";
  if (route === "oauth") {
    return status === 401
      ? oauthError(401, "invalid_client", "Client authentication failed.")
      : { status, body: { error: reason.toLowerCase().replace(/ /g, "_") } };
  }
  if (route === "legacy") return { status, body: { message: reason } };
  return { status, body: { data: {}, message: reason } };
}

function toResponse(answer: Answer): Response {
  const headers: Record<string, string> = { ...answer.headers };
  if (answer.raw) return new Response(answer.body as string, { status: answer.status, headers });
  headers["content-type"] = JSON_TYPE;
  return new Response(JSON.stringify(answer.body), { status: answer.status, headers });
}

function cloudflareResponse(variant: "challenge" | "json"): Response {
  const headers = {
    server: "cloudflare",
    "cf-ray": "8f2a1b3c4d5e6f70-AMS",
    "content-type": variant === "challenge" ? "text/html; charset=UTF-8" : JSON_TYPE,
  };
  if (variant === "challenge") {
    return new Response(CLOUDFLARE_PAGE, {
      status: 403,
      headers: { ...headers, "cf-mitigated": "challenge" },
    });
  }
  const body = JSON.stringify({
    error: "Request blocked by security policy.",
    reference: "9e4db7e3",
  });
  return new Response(body, { status: 403, headers });
}

/**
 * Sends headers promising 100 bytes, then ends the stream at once: the client sees the connection end
 * mid-answer, which is as close to "no answer" as Deno.serve allows without noise.
 */
function dropResponse(): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.close();
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": JSON_TYPE, "content-length": "100" },
  });
}

/** Puts one field of the wrong type into a 200 body, per route. */
function bendTypes(route: FakeKickRoute, answer: Answer): void {
  const body = answer.body as Record<string, unknown>;
  const items = Array.isArray(body.data) ? body.data as Record<string, unknown>[] : null;
  switch (route) {
    case "oauth":
      body.access_token = 12345;
      return;
    case "channels":
      if (items === null || items.length === 0) body.data = "not a list";
      else {
        for (const item of items) {
          const stream = item.stream as Record<string, unknown> | undefined;
          if (stream !== undefined) stream.is_live = "true";
        }
      }
      return;
    case "livestreams":
      if (items === null || items.length === 0) body.data = "not a list";
      else for (const item of items) item.viewer_count = "100";
      return;
    case "users":
      if (items === null || items.length === 0) body.data = "not a list";
      else for (const item of items) item.user_id = "someone";
      return;
    case "public-key":
      body.data = { public_key: 42 };
      return;
    case "subscriptions":
      if (items === null || items.length === 0) body.data = "not a list";
      else for (const item of items) item.broadcaster_user_id = "someone";
      return;
    case "legacy":
      body.chatroom = { id: "unknown" };
      return;
  }
}

/**
 * One answer of the opposite state: a live channel as offline (still showing this broadcast's title), or an
 * offline one as live with its last broadcast's start time. Null for a channel that never streamed.
 */
function flicker(view: FakeChannelState): FakeChannelState | null {
  if (view.live !== null) return { live: null, lastLivestream: view.live };
  if (view.lastLivestream === null) return null;
  return { live: view.lastLivestream, lastLivestream: view.lastLivestream };
}

function unknownParameter(params: URLSearchParams, allowed: string[]): string | null {
  for (const key of params.keys()) {
    if (!allowed.includes(key)) {
      return `Invalid parameters: unknown parameter ${JSON.stringify(key)}`;
    }
  }
  return null;
}

function parseIds(values: string[]): number[] | null {
  if (values.some((value) => !/^\d+$/.test(value))) return null;
  return values.map(Number);
}

function categoryOf(livestream: FakeLivestream): { id: number; name: string; thumbnail: string } {
  return {
    id: livestream.category.id,
    name: livestream.category.name,
    thumbnail:
      `https://files.kick.com/images/subcategories/${livestream.category.id}/banner/default.webp`,
  };
}

function thumbnailOf(streamer: FakeStreamer, livestream: FakeLivestream): string {
  return `https://images.kick.com/video_thumbnails/${streamer.slug}/${livestream.id}/720.webp`;
}

function profilePictureOf(streamer: FakeStreamer): string {
  return `https://files.kick.com/images/user/${streamer.broadcasterUserId}/profile_image/default.webp`;
}

/** "2023-04-23 09:57:28": the legacy API's zone-less UTC time (§2.1). */
function legacyTime(date: Date): string {
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "");
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
