/**
 * The vocabulary of notifications (interface.md "Notifications"): targets (where people are told), deliveries
 * (one event for one target) and what a service answers. Shared by the store, the worker, the services and
 * the CLI; no I/O here.
 */

/** The services a target can be (interface.md's table, plus `console` for the demo). */
export const TARGET_KINDS = [
  "discord",
  "slack",
  "telegram",
  "ntfy",
  "webhook",
  "apprise",
  "console",
] as const;
/** One of {@link TARGET_KINDS}. */
export type TargetKind = typeof TARGET_KINDS[number];

/** Events a target can subscribe to with `--events`. */
export const EVENT_KINDS = ["online", "offline", "title"] as const;
/** One of {@link EVENT_KINDS}. */
export type EventKind = typeof EVENT_KINDS[number];

/** What a delivery is about: an event kind, or a `notify test` message. */
export type DeliveryKind = EventKind | "test";

/** Where a delivery stands: waiting (or retrying), done, or given up on. */
export type DeliveryState = "pending" | "delivered" | "failed";

/** Quiet hours as minutes after local midnight; `start > end` spans midnight (22:00-07:00). */
export interface QuietHours {
  /** When quiet begins, in minutes after local midnight. */
  startMinute: number;
  /** When quiet ends, in minutes after local midnight. */
  endMinute: number;
}

/** A configured target, as stored. `url` holds secrets: show it only through `maskTargetUrl`. */
export interface NotificationTarget {
  /** `notification_targets.id`. */
  id: number;
  /** The name the user gave it (`notify add <name>`). */
  name: string;
  /** Which service it is. */
  kind: TargetKind;
  /** Where messages go; holds secrets (webhook tokens, bot tokens). */
  url: string;
  /** Only these streamers; null: every streamer. */
  streamerIds: number[] | null;
  /** The events it is told about. */
  events: EventKind[];
  /** Who is mentioned in an online message (`--mention`), if anyone. */
  mention: string | null;
  /** The online message's template (`--template-online`); null: the default. */
  templateOnline: string | null;
  /** The offline message's template (`--template-offline`); null: the default. */
  templateOffline: string | null;
  /** When nothing is sent (deliveries wait until it ends); null: never quiet. */
  quietHours: QuietHours | null;
  /** IANA time zone of the quiet hours; null: UTC. */
  timezone: string | null;
  /** The signing secret of a generic webhook; null: unsigned. */
  secret: string | null;
  /** When it was added. */
  createdAt: Date;
}

/** A committed status event, as the writer hands it to `createDeliveries`. */
export interface CommittedEvent {
  /** status_events.id */
  id: number;
  /** `streamers.id`. */
  streamerId: number;
  /** The streamer's slug. */
  slug: string;
  /** What happened. */
  type: EventKind;
  /** When it happened. */
  occurredAt: Date;
  /** The stream title, if known. */
  title: string | null;
  /** The stream category, if known. */
  category: string | null;
  /** Kick's livestream id, if known. */
  livestreamId: number | null;
  /** Viewers at the time, if known. */
  viewers?: number | null;
  /** A baseline (the first status learned for a new streamer) never notifies. */
  baseline?: boolean;
}

/** What one message says: the facts of the event, and the online message an offline edits. */
export interface Notification {
  /** The delivery's id: the stable message id of a webhook (the same on every retry). */
  deliveryId: number;
  /** What the message is about. */
  kind: DeliveryKind;
  /** The streamer's slug. */
  slug: string;
  /** The stream title, if known. */
  title: string | null;
  /** The stream category, if known. */
  category: string | null;
  /** When the event happened. */
  occurredAt: Date;
  /** When the stream started: the online's time (an offline's online, or the online itself). */
  startedAt: Date | null;
  /** Viewers at the time, if known. */
  viewers: number | null;
  /** Offline: the service's reference of the online message to edit, when it was delivered. */
  editRef: string | null;
}

/** How a send went. `pauseMs`: the service asked us to send nothing more to this target for that long. */
export type SendResult =
  | { ok: true; messageRef: string | null; pauseMs: number | null }
  | {
    ok: false;
    /** false: the same request will get the same answer (404 unknown webhook, 401, 403, 400). */
    retryable: boolean;
    /** A 429: the request was refused only because of the rate. */
    rateLimited: boolean;
    /** What the service asked us to wait (Retry-After, Discord retry_after, Telegram retry_after). */
    retryAfterMs: number | null;
    /** Whether any HTTP answer came (false: connection refused, timeout…). */
    answered: boolean;
    /** What went wrong, for the log and `notify log` (no secrets). */
    reason: string;
  };
