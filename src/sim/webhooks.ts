/**
 * The simulated Kick's webhooks (kick-api.md §1.8, §1.9): a per-run RSA key pair standing in for Kick's signing
 * key, the event subscriptions API (served through src/sim/kick.ts), and a sender that turns FakeWorld changes
 * into signed `livestream.status.updated` deliveries, with Kick's delivery faults on demand (§1.9.5: delays,
 * losses, duplicates, some under a new message id).
 */
import { signedBytes } from "../kick/webhook_signature.ts";
import type { FakeLivestream, FakeStreamer, FakeWorld, WorldChange } from "./world.ts";

// ---- Signing key (§1.9.3) ----

/** A key pair that signs like Kick: RSASSA-PKCS1-v1_5 with SHA-256, the public half as an SPKI PEM. */
export interface WebhookSigningKey {
  /** `-----BEGIN PUBLIC KEY-----` PEM, what `/public/v1/public-key` serves. */
  publicKeyPem: string;
  privateKey: CryptoKey;
}

const ALGORITHM = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** A fresh 2048-bit RSA key pair (Kick's size, §1.9.3). */
export async function generateWebhookSigningKey(): Promise<WebhookSigningKey> {
  const pair = await crypto.subtle.generateKey(
    { ...ALGORITHM, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ["sign", "verify"],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  return { publicKeyPem: toPem(spki), privateKey: pair.privateKey };
}

/** The base64 `Kick-Event-Signature` of a delivery, as Kick computes it (§1.9.3). */
export async function signWebhook(
  privateKey: CryptoKey,
  message: { messageId: string; timestamp: string; body: string | Uint8Array },
): Promise<string> {
  const signature = await crypto.subtle.sign(ALGORITHM, privateKey, signedBytes(message));
  return encodeBase64(new Uint8Array(signature));
}

function toPem(der: Uint8Array): string {
  const lines = encodeBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN PUBLIC KEY-----\n${lines.join("\n")}\n-----END PUBLIC KEY-----\n`;
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

// ---- Ids ----

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A ULID (26 Crockford base32 characters, time first), the shape of Kick's message and subscription ids. */
export function newUlid(now: number = Date.now()): string {
  let time = "";
  let rest = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[rest % 32] + time;
    rest = Math.floor(rest / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  let tail = "";
  for (const byte of random) tail += CROCKFORD[byte % 32];
  return time + tail;
}

// ---- Event subscriptions API (§1.8) ----

/** One subscription the fake holds. */
export interface FakeSubscription {
  id: string;
  broadcasterUserId: number;
  event: string;
  version: number;
  createdAt: Date;
}

/** Options of {@link FakeEventSubscriptions}. */
export interface FakeEventSubscriptionsOptions {
  /** The app's cap; above it Kick answers 400 "event subscription limit reached" (default 10,000, §1.8). */
  limit?: number;
  /** Each new subscription is missing from the first listing after it was created (default false). */
  lagListing?: boolean;
}

/** An answer of the subscriptions API, serialised by src/sim/kick.ts. */
export interface FakeApiAnswer {
  status: number;
  /** JSON body; null for an empty one (204). */
  body: unknown;
}

const EVENT_NAMES = new Set([
  "chat.message.sent",
  "channel.followed",
  "channel.subscription.renewal",
  "channel.subscription.gifts",
  "channel.subscription.new",
  "channel.reward.redemption.updated",
  "livestream.status.updated",
  "livestream.metadata.updated",
  "moderation.banned",
  "kicks.gifted",
]);

/**
 * The app's event subscriptions as Kick keeps them, answering `GET`, `POST` and `DELETE
 * /public/v1/events/subscriptions` with the shapes of §1.8 (the fake Kick routes them here after checking the
 * token). Its misbehaviours are switches tests flip: the limit, a listing that lags new subscriptions once,
 * duplicates, webhooks disabled on the app.
 */
export class FakeEventSubscriptions {
  /** Every subscription, oldest first. Tests may add (duplicates) or remove (Kick unsubscribing) directly. */
  readonly subscriptions: FakeSubscription[] = [];
  limit: number;
  lagListing: boolean;
  /** The next this-many creations make each subscription twice, as a POST retried by Kick's edge would. */
  duplicateNextCreates = 0;
  /** When false, creations fail per element with "webhooks are not enabled for app" (§1.8). */
  webhooksEnabled = true;
  /** Ids created since the last listing (hidden from it when `lagListing`). */
  readonly #unlisted = new Set<string>();

  constructor(options: FakeEventSubscriptionsOptions = {}) {
    this.limit = options.limit ?? 10_000;
    this.lagListing = options.lagListing ?? false;
  }

  /** Whether `broadcasterUserId` is subscribed to `event`; its subscription id, else null. */
  subscriptionFor(broadcasterUserId: number, event: string): string | null {
    const found = this.subscriptions.find((s) =>
      s.broadcasterUserId === broadcasterUserId && s.event === event
    );
    return found?.id ?? null;
  }

  /** Answers one request (the token was checked by the caller). */
  handle(method: string, url: URL, body: string): FakeApiAnswer {
    if (method === "GET") return this.#list();
    if (method === "POST") return this.#create(body);
    if (method === "DELETE") return this.#delete(url.searchParams.getAll("id"));
    return { status: 405, body: { data: {}, message: "Method Not Allowed" } };
  }

  #list(): FakeApiAnswer {
    const hidden = this.lagListing ? new Set(this.#unlisted) : new Set<string>();
    this.#unlisted.clear();
    return {
      status: 200,
      body: {
        data: this.subscriptions.filter((s) => !hidden.has(s.id)).map((s) => ({
          app_id: "01JMEFN25GFCAPPFAKEKICK000",
          broadcaster_user_id: s.broadcasterUserId,
          created_at: s.createdAt.toISOString().replace(/\.\d+Z$/, "Z"),
          event: s.event,
          id: s.id,
          method: "webhook",
          updated_at: s.createdAt.toISOString().replace(/\.\d+Z$/, "Z"),
          version: s.version,
        })),
        message: "OK",
      },
    };
  }

  #create(text: string): FakeApiAnswer {
    let request: unknown;
    try {
      request = JSON.parse(text);
    } catch {
      return badRequest("Invalid request body");
    }
    const parsed = readCreate(request);
    if (typeof parsed === "string") return badRequest(parsed);
    const copies = this.duplicateNextCreates > 0 ? 2 : 1;
    if (this.duplicateNextCreates > 0) this.duplicateNextCreates--;
    if (this.subscriptions.length + parsed.events.length * copies > this.limit) {
      return badRequest("event subscription limit reached");
    }
    const data = parsed.events.map((kind) => {
      if (!this.webhooksEnabled) {
        return { ...kind, subscription_id: null, error: "webhooks are not enabled for app" };
      }
      let id = "";
      for (let copy = 0; copy < copies; copy++) {
        id = newUlid();
        this.subscriptions.push({
          id,
          broadcasterUserId: parsed.broadcasterUserId,
          event: kind.name,
          version: kind.version,
          createdAt: new Date(),
        });
        this.#unlisted.add(id);
      }
      return { ...kind, subscription_id: id, error: null };
    });
    return { status: 200, body: { data, message: "OK" } };
  }

  #delete(ids: string[]): FakeApiAnswer {
    if (ids.length === 0) return badRequest("id is required");
    const gone = new Set(ids);
    for (let i = this.subscriptions.length - 1; i >= 0; i--) {
      if (gone.has(this.subscriptions[i].id)) this.subscriptions.splice(i, 1);
    }
    return { status: 204, body: null };
  }
}

function badRequest(problem: string): FakeApiAnswer {
  return { status: 400, body: { data: problem, message: "Bad request" } };
}

/** The POST body of §1.8, or what is wrong with it. */
function readCreate(
  value: unknown,
): { broadcasterUserId: number; events: { name: string; version: number }[] } | string {
  if (typeof value !== "object" || value === null) return "Invalid request body";
  const body = value as Record<string, unknown>;
  if (body.method !== "webhook") return 'method must be "webhook"';
  const id = body.broadcaster_user_id;
  // Without an id an app token has no channel of its own (§1.8).
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
    return "broadcaster_user_id must be an integer";
  }
  if (!Array.isArray(body.events) || body.events.length === 0) return "events is required";
  const events: { name: string; version: number }[] = [];
  for (const event of body.events) {
    const name = (event as Record<string, unknown>)?.name;
    const version = (event as Record<string, unknown>)?.version;
    if (typeof name !== "string" || !EVENT_NAMES.has(name)) return "Invalid event name";
    if (version !== 1) return "Invalid event version";
    events.push({ name, version });
  }
  return { broadcasterUserId: id, events };
}

// ---- The sender (§1.9) ----

/** A misbehaviour of Kick's delivery (§1.9.5) given to the next event(s). */
export type FakeWebhookFault =
  /** The event is never delivered. */
  | { kind: "drop" }
  /** Delivered twice; the second under a new message id when `newId` (Kick does both, §1.9.5). */
  | { kind: "duplicate"; newId?: boolean }
  /** Delivered this much later (Kick has been minutes to hours late, §1.9.5). */
  | { kind: "delay"; delayMs: number };

/** Options of {@link startFakeWebhookSender}. */
export interface FakeWebhookSenderOptions {
  world: FakeWorld;
  /** The receiver's URL, path included. */
  targetUrl: string;
  /** Signs every delivery (the private half of the key the fake Kick serves). */
  privateKey: CryptoKey;
  /**
   * When given, only broadcasters subscribed to `livestream.status.updated` get deliveries, carrying their
   * subscription id (as on Kick); else every change is delivered.
   */
  subscriptions?: FakeEventSubscriptions;
  /** Probability that an event is dropped (default 0). */
  dropRate?: number;
  /** Probability that an event is delivered twice (default 0). */
  duplicateRate?: number;
  /** Of the duplicates, the share sent under a new message id (default 0.5). */
  newIdShare?: number;
  /** Random extra delay per delivery (default none). */
  delayMs?: { min: number; max: number };
  /** Attempts per delivery while the receiver does not answer 200 (default 1: no retry). */
  maxAttempts?: number;
  /** Randomness for the rates and delays; `Math.random` by default (seed it for a replayable run). */
  random?: () => number;
}

/** One delivery (or a dropped one) as the sender saw it. */
export interface FakeWebhookDelivery {
  messageId: string;
  slug: string;
  broadcasterUserId: number;
  isLive: boolean;
  /** `Kick-Event-Type`: `livestream.status.updated`, or `livestream.metadata.updated` for a retitle. */
  event: string;
  /** The message id of the delivery this one duplicates, or null. */
  duplicateOf: string | null;
  dropped: boolean;
  attempts: number;
  /** The receiver's last answer; null before the first or when it could not be reached. */
  status: number | null;
  error: string | null;
}

/** A running sender. */
export interface FakeWebhookSender {
  /** Every delivery, in the order the events happened (duplicates right after their original). */
  readonly deliveries: FakeWebhookDelivery[];
  /** Gives the next `times` events this fault. */
  injectFault(fault: FakeWebhookFault, times?: number): void;
  /** Delivers the streamer's current status now, as Kick would (tests, replays). */
  send(slug: string): Promise<FakeWebhookDelivery>;
  /** Resolves when every delivery scheduled so far has been answered or given up. */
  settled(): Promise<void>;
  /** Stops listening to the world and waits for the deliveries in flight. */
  close(): Promise<void>;
}

/**
 * Turns FakeWorld changes into signed `livestream.status.updated` deliveries (the payload of §1.9.2, the headers
 * of §1.9.1, the signature of §1.9.3) POSTed to `targetUrl`, with Kick's delivery faults by rate or on demand.
 *
 * @example
 * ```ts
 * const key = await generateWebhookSigningKey();
 * const sender = startFakeWebhookSender({ world, targetUrl: receiver.url, privateKey: key.privateKey });
 * world.goLive("xqc");
 * await sender.settled();
 * ```
 */
export function startFakeWebhookSender(options: FakeWebhookSenderOptions): FakeWebhookSender {
  return new WebhookSender(options);
}

class WebhookSender implements FakeWebhookSender {
  readonly deliveries: FakeWebhookDelivery[] = [];
  readonly #options: FakeWebhookSenderOptions;
  readonly #random: () => number;
  readonly #faults: { fault: FakeWebhookFault; remaining: number }[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stop: () => void;
  readonly #closing = new AbortController();

  constructor(options: FakeWebhookSenderOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#stop = options.world.onChange((change) => this.#onChange(change));
  }

  injectFault(fault: FakeWebhookFault, times = 1): void {
    this.#faults.push({ fault, remaining: times });
  }

  async send(slug: string): Promise<FakeWebhookDelivery> {
    const streamer = this.#options.world.get(slug);
    const live = streamer.live;
    const body = live === null
      ? statusBody(streamer, { isLive: false, title: null, startedAt: null, endedAt: null })
      : statusBody(streamer, {
        isLive: true,
        title: live.title,
        startedAt: live.startedAt,
        endedAt: null,
      });
    const delivery = this.#newDelivery(streamer, live !== null, null, STATUS_EVENT_NAME);
    await this.#deliver(delivery, body, 0);
    return delivery;
  }

  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async close(): Promise<void> {
    this.#stop();
    this.#closing.abort();
    await this.settled();
  }

  #onChange(change: WorldChange): void {
    // A rename is no stream status: Kick sends no livestream.status.updated for it.
    if (change.kind === "renamed") return;
    const { streamer, livestream } = change;
    const live = change.kind !== "offline";
    // A retitle is a `livestream.metadata.updated` (§1.9.2), lost, late or repeated like the others.
    const event = change.kind === "retitled" ? METADATA_EVENT_NAME : STATUS_EVENT_NAME;
    const body = change.kind === "retitled"
      ? metadataBody(streamer, livestream)
      : statusBody(streamer, {
        isLive: live,
        title: livestream.title,
        startedAt: livestream.startedAt,
        endedAt: change.kind === "offline" ? change.endedAt : null,
      });
    const fault = this.#takeFault();
    const o = this.#options;
    const delivery = this.#newDelivery(streamer, live, null, event);
    if (fault?.kind === "drop" || (fault === null && this.#random() < (o.dropRate ?? 0))) {
      delivery.dropped = true;
      return;
    }
    const delay = fault?.kind === "delay" ? fault.delayMs : this.#randomDelay();
    this.#track(this.#deliver(delivery, body, delay));
    const duplicate = fault?.kind === "duplicate" ||
      (fault === null && this.#random() < (o.duplicateRate ?? 0));
    if (duplicate) {
      const newId = fault?.kind === "duplicate"
        ? fault.newId ?? false
        : this.#random() < (o.newIdShare ?? 0.5);
      const copy = this.#newDelivery(streamer, live, delivery.messageId, event);
      if (!newId) copy.messageId = delivery.messageId;
      this.#track(this.#deliver(copy, body, delay + this.#randomDelay()));
    }
  }

  #newDelivery(
    streamer: FakeStreamer,
    isLive: boolean,
    duplicateOf: string | null,
    event: string,
  ): FakeWebhookDelivery {
    const delivery: FakeWebhookDelivery = {
      messageId: newUlid(),
      slug: streamer.slug,
      broadcasterUserId: streamer.broadcasterUserId,
      isLive,
      event,
      duplicateOf,
      dropped: false,
      attempts: 0,
      status: null,
      error: null,
    };
    const subscriptions = this.#options.subscriptions;
    if (
      subscriptions !== undefined &&
      subscriptions.subscriptionFor(streamer.broadcasterUserId, event) === null
    ) {
      // Not subscribed: Kick sends nothing; recorded as dropped so tests can see why.
      delivery.dropped = true;
      delivery.error = "not subscribed";
    }
    this.deliveries.push(delivery);
    return delivery;
  }

  async #deliver(delivery: FakeWebhookDelivery, body: string, delayMs: number): Promise<void> {
    if (delivery.dropped) return;
    const signal = this.#closing.signal;
    if (delayMs > 0 && !(await pause(delayMs, signal))) return;
    const attempts = Math.max(1, this.#options.maxAttempts ?? 1);
    const subscriptionId = this.#options.subscriptions?.subscriptionFor(
      delivery.broadcasterUserId,
      delivery.event,
    ) ?? newUlid();
    for (let attempt = 1; attempt <= attempts; attempt++) {
      delivery.attempts = attempt;
      // Each attempt is signed anew at its own send time, as a fresh request.
      const timestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      const signature = await signWebhook(this.#options.privateKey, {
        messageId: delivery.messageId,
        timestamp,
        body,
      });
      try {
        const response = await fetch(this.#options.targetUrl, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "Kick-Event-Message-Id": delivery.messageId,
            "Kick-Event-Subscription-Id": subscriptionId,
            "Kick-Event-Signature": signature,
            "Kick-Event-Message-Timestamp": timestamp,
            "Kick-Event-Type": delivery.event,
            "Kick-Event-Version": "1",
          },
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]),
        });
        await response.body?.cancel();
        delivery.status = response.status;
        delivery.error = null;
        if (response.status === 200) return;
      } catch (error) {
        delivery.error = error instanceof Error ? error.message : String(error);
        if (signal.aborted) return;
      }
      if (attempt < attempts && !(await pause(100 * attempt, signal))) return;
    }
  }

  #takeFault(): FakeWebhookFault | null {
    const head = this.#faults[0];
    if (head === undefined) return null;
    head.remaining--;
    if (head.remaining <= 0) this.#faults.shift();
    return head.fault;
  }

  #randomDelay(): number {
    const range = this.#options.delayMs;
    if (range === undefined) return 0;
    return Math.round(range.min + this.#random() * (range.max - range.min));
  }

  #track(promise: Promise<void>): void {
    this.#inFlight.add(promise);
    promise.finally(() => this.#inFlight.delete(promise));
  }
}

const STATUS_EVENT_NAME = "livestream.status.updated";
const METADATA_EVENT_NAME = "livestream.metadata.updated";

/** The broadcaster of §1.9.2, as Kick sends it: without `identity`, `is_verified` null (§1.9.4). */
function broadcasterOf(streamer: FakeStreamer): Record<string, unknown> {
  return {
    is_anonymous: false,
    user_id: streamer.broadcasterUserId,
    username: streamer.slug,
    is_verified: null,
    profile_picture:
      `https://files.kick.com/images/user/${streamer.broadcasterUserId}/profile_image/default.webp`,
    channel_slug: streamer.slug,
  };
}

/** The body of `livestream.metadata.updated` (§1.9.2). */
function metadataBody(streamer: FakeStreamer, livestream: FakeLivestream): string {
  return JSON.stringify({
    broadcaster: broadcasterOf(streamer),
    metadata: {
      title: livestream.title,
      language: livestream.language,
      has_mature_content: false,
      category: {
        id: livestream.category.id,
        name: livestream.category.name,
        thumbnail:
          `https://files.kick.com/images/subcategories/${livestream.category.id}/banner/default.webp`,
      },
    },
  });
}

/** The body of `livestream.status.updated` (§1.9.2). */
function statusBody(
  streamer: FakeStreamer,
  state: { isLive: boolean; title: string | null; startedAt: Date | null; endedAt: Date | null },
): string {
  return JSON.stringify({
    broadcaster: broadcasterOf(streamer),
    is_live: state.isLive,
    title: state.title ?? "",
    started_at: state.startedAt?.toISOString() ?? null,
    ended_at: state.endedAt?.toISOString() ?? null,
  });
}

/** Sleeps `ms`; false when `signal` aborted first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
