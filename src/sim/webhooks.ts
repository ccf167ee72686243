/**
 * The simulated Kick's webhooks (kick-api.md §1.8, §1.9): a per-run RSA key pair standing in for Kick's signing
 * key, the event subscriptions API (served through src/sim/kick.ts), and a sender that turns FakeWorld changes
 * into signed `livestream.status.updated` deliveries, with Kick's delivery faults on demand (§1.9.5: delays,
 * losses, duplicates, some under a new message id).
 */
import { signedBytes } from "../kick/webhook_signature.ts";

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
