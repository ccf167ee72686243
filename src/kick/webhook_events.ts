/**
 * What a webhook delivery from Kick means (kick-api.md §1.9), as pure decisions over the request: its method,
 * headers and raw body, the clock and a signature verifier in; an HTTP status and, when accepted, a typed event
 * out. The receiver (src/kick/webhook_receiver.ts) is the I/O around it.
 *
 * The order of the checks, and the answer of each (interface.md "Receiver answers"):
 *
 * 1. Not a POST: 405. A body over {@link MAX_WEBHOOK_BODY_BYTES}: 413 (read no further).
 * 2. A missing or malformed `Kick-Event-Message-Id`, `-Message-Timestamp`, `-Signature`, `-Type` or `-Version`
 *    (§1.9.1): 400.
 * 3. A timestamp further than the max age from now (KICK_WEBHOOK_MAX_AGE, either way: a replay, or a clock far
 *    off): 401. A signature that does not verify (§1.9.3): 401. Nothing unsigned goes further.
 * 4. A type or version the monitor does not read (§1.9.2: chat messages, follows…, or a future version): 200,
 *    counted and not parsed, so Kick does not retry it or unsubscribe us (§1.9.5).
 * 5. A body that does not match its type: 400. Otherwise 200 with the parsed event.
 */
import { z } from "zod";
import type { Observation } from "../domain/types.ts";
import { kickIdSchema, parseKickTime } from "./values.ts";
import { describeIssues } from "./schemas.ts";
import type { WebhookVerifier } from "./webhook_signature.ts";

/** Kick's largest payloads are a few KB (§1.9.2); 64 KiB leaves room and bounds memory. */
export const MAX_WEBHOOK_BODY_BYTES = 64 * 1024;

/** The event types the monitor reads (§1.9.2), both version 1. */
export const STATUS_EVENT = "livestream.status.updated";
export const METADATA_EVENT = "livestream.metadata.updated";
export const WEBHOOK_EVENT_VERSION = "1";

/** The headers of a delivery (§1.9.1), as received. */
export interface WebhookDelivery {
  /** `Kick-Event-Message-Id`: the idempotency key (§1.9.5). */
  messageId: string;
  /** `Kick-Event-Subscription-Id`, when sent (added 24/02/2025). */
  subscriptionId: string | null;
  /** `Kick-Event-Message-Timestamp`, parsed: when Kick sent it. */
  sentAt: Date;
  type: string;
  version: string;
}

/** `livestream.status.updated` (§1.9.2): a stream started or ended. */
export interface WebhookStatusEvent {
  type: typeof STATUS_EVENT;
  broadcasterUserId: number;
  /** `broadcaster.channel_slug`, lowercased; informational (the monitor looks streamers up by user id). */
  channelSlug: string | null;
  isLive: boolean;
  startedAt: Date | null;
  endedAt: Date | null;
  title: string | null;
  /** Kick's payload has no livestream id (§1.9.2); read if it ever carries `livestream_id`. */
  livestreamId: number | null;
}

/** `livestream.metadata.updated` (§1.9.2): the title or category changed. */
export interface WebhookMetadataEvent {
  type: typeof METADATA_EVENT;
  broadcasterUserId: number;
  channelSlug: string | null;
  title: string | null;
  category: string | null;
  language: string | null;
}

export type WebhookEvent = WebhookStatusEvent | WebhookMetadataEvent;

/** The decision about one request. `reason` is for logs and the answer's body; it never quotes the body. */
export type WebhookVerdict =
  | { status: 200; outcome: "accepted"; delivery: WebhookDelivery; event: WebhookEvent }
  | { status: 200; outcome: "ignored"; delivery: WebhookDelivery; reason: string }
  | { status: 400 | 401 | 405 | 413; outcome: "refused"; reason: string };

/** One request as the receiver read it. */
export interface WebhookRequest {
  method: string;
  headers: Headers;
  /** The raw body, exactly as received (the signature covers these bytes). */
  body: Uint8Array;
}

/** Options of {@link checkWebhookRequest}. */
export interface CheckOptions {
  /** The current time. */
  now: Date;
  /** KICK_WEBHOOK_MAX_AGE in seconds. */
  maxAgeSeconds: number;
  /** Checks the signature (a fixed key, or keys that follow Kick's rotation: src/kick/webhook_key.ts). */
  verifier: WebhookVerifier;
}

const MESSAGE_ID = /^[0-9A-Za-z_-]{1,128}$/;
/** RFC 3339 with a zone, as Kick sends it (`2025-04-01T07:56:19Z`, §1.9.4). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const SIGNATURE = /^[A-Za-z0-9+/]{16,2048}={0,2}$/;
const EVENT_TYPE = /^[a-z0-9_]+(\.[a-z0-9_]+){1,5}$/;
const EVENT_VERSION = /^\d{1,6}$/;

/**
 * Decides what to answer a request to the webhook path, and parses what it carries (see the module
 * documentation for the order of the checks).
 *
 * @example
 * ```ts
 * const verdict = await checkWebhookRequest(
 *   { method: "POST", headers: request.headers, body },
 *   { now: new Date(), maxAgeSeconds: 300, verifier },
 * );
 * if (verdict.outcome === "accepted") handle(verdict.event, verdict.delivery.messageId);
 * ```
 */
export async function checkWebhookRequest(
  request: WebhookRequest,
  options: CheckOptions,
): Promise<WebhookVerdict> {
  if (request.method !== "POST") return refused(405, `expected POST, got ${request.method}`);
  if (request.body.length > MAX_WEBHOOK_BODY_BYTES) {
    return refused(413, `body over ${MAX_WEBHOOK_BODY_BYTES} bytes`);
  }
  const headers = readHeaders(request.headers);
  if ("problem" in headers) return refused(400, headers.problem);
  const { delivery, raw } = headers;
  const ageMs = options.now.getTime() - delivery.sentAt.getTime();
  if (Math.abs(ageMs) > options.maxAgeSeconds * 1000) {
    return refused(
      401,
      `Kick-Event-Message-Timestamp ${raw.timestamp} is ${Math.round(Math.abs(ageMs) / 1000)} s ` +
        `${ageMs >= 0 ? "old" : "in the future"}; at most ${options.maxAgeSeconds} s is accepted`,
    );
  }
  const verified = await options.verifier.verify({
    messageId: delivery.messageId,
    timestamp: raw.timestamp,
    body: request.body,
    signature: raw.signature,
  }).catch(() => false);
  if (!verified) return refused(401, "Kick-Event-Signature does not verify");

  const type = delivery.type;
  const known = (type === STATUS_EVENT || type === METADATA_EVENT) &&
    delivery.version === WEBHOOK_EVENT_VERSION;
  if (!known) {
    return {
      status: 200,
      outcome: "ignored",
      delivery,
      reason: `event ${delivery.type} version ${delivery.version} is not read by the monitor`,
    };
  }
  const event = parseWebhookEvent(type, request.body);
  if ("problem" in event) return refused(400, `${delivery.type} body: ${event.problem}`);
  return { status: 200, outcome: "accepted", delivery, event: event.event };
}

function refused(
  status: 400 | 401 | 405 | 413,
  reason: string,
): WebhookVerdict {
  return { status, outcome: "refused", reason };
}

/** The delivery headers, or the first problem (naming the header, never quoting a long value). */
function readHeaders(
  headers: Headers,
):
  | { delivery: WebhookDelivery; raw: { timestamp: string; signature: string } }
  | { problem: string } {
  const read = (name: string, pattern: RegExp): string | { problem: string } => {
    const value = headers.get(name);
    if (value === null || value === "") return { problem: `${name} header is missing` };
    if (!pattern.test(value)) {
      const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
      return { problem: `${name} header is malformed: ${JSON.stringify(shown)}` };
    }
    return value;
  };
  const messageId = read("Kick-Event-Message-Id", MESSAGE_ID);
  if (typeof messageId !== "string") return messageId;
  const timestamp = read("Kick-Event-Message-Timestamp", RFC3339);
  if (typeof timestamp !== "string") return timestamp;
  const sentAt = Date.parse(timestamp);
  if (Number.isNaN(sentAt)) {
    return { problem: `Kick-Event-Message-Timestamp header is not a date: ${timestamp}` };
  }
  const signature = read("Kick-Event-Signature", SIGNATURE);
  if (typeof signature !== "string") return signature;
  const type = read("Kick-Event-Type", EVENT_TYPE);
  if (typeof type !== "string") return type;
  const version = read("Kick-Event-Version", EVENT_VERSION);
  if (typeof version !== "string") return version;
  const subscription = headers.get("Kick-Event-Subscription-Id");
  return {
    delivery: {
      messageId,
      subscriptionId: subscription !== null && MESSAGE_ID.test(subscription) ? subscription : null,
      sentAt: new Date(sentAt),
      type,
      version,
    },
    raw: { timestamp, signature },
  };
}

// ---- Payloads (§1.9.2) ----

/** A time that must be readable when present: the monitor dates sessions by it. */
const kickTime = z.union([z.string(), z.null()]).optional().transform((value, context) => {
  if (value === null || value === undefined || value === "") return null;
  const parsed = parseKickTime(value);
  if (parsed === null) {
    context.addIssue({
      code: "custom",
      message: `unreadable time ${JSON.stringify(value.slice(0, 40))}`,
    });
    return z.NEVER;
  }
  return parsed;
});

/** Text the monitor only shows: a non-empty string, else null, never a reason to refuse. */
const lenientText = z.unknown().transform((value): string | null =>
  typeof value === "string" && value !== "" ? value : null
);

/**
 * `broadcaster`: only the user id is relied on. The real payload has no `identity` and `is_verified: null`
 * (§1.9.2), so everything else is optional.
 */
const broadcasterSchema = z.object({
  user_id: kickIdSchema,
  channel_slug: lenientText.optional(),
}).transform((broadcaster) => ({
  broadcasterUserId: broadcaster.user_id,
  channelSlug: broadcaster.channel_slug?.toLowerCase() ?? null,
}));

const statusPayloadSchema = z.object({
  broadcaster: broadcasterSchema,
  is_live: z.boolean(),
  title: lenientText.optional(),
  started_at: kickTime,
  ended_at: kickTime,
  livestream_id: kickIdSchema.nullish(),
});

const metadataPayloadSchema = z.object({
  broadcaster: broadcasterSchema,
  metadata: z.object({
    title: lenientText.optional(),
    language: lenientText.optional(),
    category: z.unknown().optional().transform((value): string | null =>
      typeof value === "object" && value !== null && "name" in value &&
        typeof value.name === "string" && value.name !== ""
        ? value.name
        : null
    ),
  }),
});

/** Parses the body of a known event type; `problem` says which field was wrong (never quoting the body). */
export function parseWebhookEvent(
  type: typeof STATUS_EVENT | typeof METADATA_EVENT,
  body: Uint8Array | string,
): { event: WebhookEvent } | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body));
  } catch {
    return { problem: "not JSON" };
  }
  if (type === STATUS_EVENT) {
    const parsed = statusPayloadSchema.safeParse(json);
    if (!parsed.success) return { problem: describeIssues(parsed.error) };
    const payload = parsed.data;
    return {
      event: {
        type,
        ...payload.broadcaster,
        isLive: payload.is_live,
        startedAt: payload.started_at,
        endedAt: payload.ended_at,
        title: payload.title ?? null,
        livestreamId: payload.livestream_id ?? null,
      },
    };
  }
  const parsed = metadataPayloadSchema.safeParse(json);
  if (!parsed.success) return { problem: describeIssues(parsed.error) };
  const payload = parsed.data;
  return {
    event: {
      type,
      ...payload.broadcaster,
      title: payload.metadata.title ?? null,
      category: payload.metadata.category,
      language: payload.metadata.language ?? null,
    },
  };
}

// ---- Observations ----

/** Options of {@link toWebhookObservation}. */
export interface ObservationOptions {
  /** The monitored streamer's slug for a broadcaster user id; undefined when not monitored. */
  slugOf: (broadcasterUserId: number) => string | undefined;
  /** When the delivery arrived. */
  receivedAt: Date;
  /** When Kick sent it (`Kick-Event-Message-Timestamp`): the time of a change whose payload gives none. */
  sentAt: Date;
  /** Kept on the observation for the event log; the event itself by default. */
  raw?: unknown;
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * The creation time a ULID message id carries (its first 10 characters, milliseconds, §1.9.1), or null for an
 * id that is not a ULID. A retry keeps the message id (it is the idempotency key, §1.9.5) but is signed anew,
 * so this dates the event better than `Kick-Event-Message-Timestamp` when deliveries come late or out of order.
 *
 * @example
 * ```ts
 * ulidTime("01JQ8Z5X6N0000000000000000"); // 2025-03-27T…Z
 * ```
 */
export function ulidTime(id: string): Date | null {
  if (!/^[0-9A-HJKMNP-TV-Z]{26}$/i.test(id)) return null;
  let ms = 0;
  for (const char of id.slice(0, 10).toUpperCase()) ms = ms * 32 + CROCKFORD.indexOf(char);
  return ms > 8_000_000_000_000 ? null : new Date(ms);
}

/**
 * When a metadata change happened: the message id's ULID time when it is plausible (not after the send time,
 * which has whole seconds, §1.9.4), else the send time. The payload has no time of its own (§1.9.2). However
 * old, the ULID time stands: a delivery retried hours later is about an old title.
 */
export function metadataChangedAt(delivery: { messageId: string; sentAt: Date }): Date {
  const created = ulidTime(delivery.messageId);
  if (created === null || created.getTime() > delivery.sentAt.getTime() + 1_000) {
    return delivery.sentAt;
  }
  return created;
}

/**
 * A metadata event as the pipeline's Observation of kind `metadata` (push evidence: "the title or category
 * just changed"), or null when the broadcaster is not monitored. Dated at `options.sentAt`, which the caller
 * sets by {@link metadataChangedAt} (the message id's ULID time: a late delivery of an older title must not
 * look newer than the title that replaced it). It says nothing of the status: `status` is `online` because a change is only
 * recorded while live, and the pipeline gives it to the title rules only (src/monitor/title_machine.ts).
 */
export function toMetadataObservation(
  event: WebhookMetadataEvent,
  options: ObservationOptions,
): Observation | null {
  const slug = options.slugOf(event.broadcasterUserId);
  if (slug === undefined) return null;
  return {
    slug,
    kind: "metadata",
    status: "online",
    observedAt: options.sentAt,
    receivedAt: options.receivedAt,
    source: "webhook",
    evidence: "push",
    livestreamId: null,
    title: event.title,
    category: event.category,
    viewers: null,
    raw: options.raw ?? event,
  };
}

/**
 * A status event as the pipeline's Observation (source `webhook`, push evidence: "this just happened"), or
 * null when the broadcaster is not monitored. Dated at the stream's `started_at` (online) or `ended_at`
 * (offline) as Kick states them, else when Kick sent the delivery. The session key is the broadcaster and
 * `started_at` (§1.9.2: no livestream id), so `streamStartedAt` carries it, on offlines too.
 */
export function toWebhookObservation(
  event: WebhookStatusEvent,
  options: ObservationOptions,
): Observation | null {
  const slug = options.slugOf(event.broadcasterUserId);
  if (slug === undefined) return null;
  const online = event.isLive;
  return {
    slug,
    status: online ? "online" : "offline",
    observedAt: (online ? event.startedAt : event.endedAt) ?? options.sentAt,
    receivedAt: options.receivedAt,
    source: "webhook",
    evidence: "push",
    livestreamId: event.livestreamId,
    // On an offline too: with no livestream id (§1.9.2), the start time is what tells which session ended
    // (a delayed or repeated delivery about an earlier one is a replay, §1.9.5).
    streamStartedAt: event.startedAt,
    title: event.title,
    category: null,
    viewers: null,
    raw: options.raw ?? event,
  };
}
