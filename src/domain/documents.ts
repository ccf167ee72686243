/**
 * The JSON documents of interface.md, built in one place from store records, so every output that shows a
 * streamer (`streamers list --json`, `service status`, later the read API) says the same thing.
 */
import {
  type EventRecord,
  type SessionRecord,
  shownStatus,
  type StreamerRecord,
} from "../store/store.ts";
import type { StreamerStatus, TransitionType } from "./types.ts";

/** How a streamer is watched: `pusher` (a channel id to subscribe; the poll reconciles) or `poll_only`. */
export type Coverage = "pusher" | "poll_only";

/** One item of `streamers list --json` (interface.md), with the additions of the second round. */
export interface StreamerDocument {
  slug: string;
  broadcaster_user_id: number | null;
  channel_id: number | null;
  /** `unknown` too while Kick does not return the channel; `status_reason` says why. */
  status: StreamerStatus;
  /** Why the status is `unknown` although the streamer was checked (Kick no longer returns it), else null. */
  status_reason: string | null;
  coverage: Coverage;
  status_changed_at: string | null;
  last_checked_at: string | null;
  session: { started_at: string | null; title: string | null; category: string | null } | null;
}

/** How a streamer is watched. */
export function coverageOf(record: Pick<StreamerRecord, "channelId">): Coverage {
  return record.channelId === null ? "poll_only" : "pusher";
}

/** Formats a date for JSON output (ISO 8601 UTC) or null. */
export function isoOrNull(date: Date | null | undefined): string | null {
  return date instanceof Date ? date.toISOString() : null;
}

/** A stored streamer as its `streamers list --json` item. */
export function streamerDocument(record: StreamerRecord): StreamerDocument {
  return {
    slug: record.slug,
    broadcaster_user_id: record.broadcasterUserId,
    channel_id: record.channelId,
    status: shownStatus(record),
    status_reason: record.unavailableReason,
    coverage: coverageOf(record),
    status_changed_at: isoOrNull(record.statusChangedAt),
    last_checked_at: isoOrNull(record.lastCheckedAt),
    session: record.session === null ? null : {
      started_at: isoOrNull(record.session.startedAt),
      title: record.session.title,
      category: record.session.category,
    },
  };
}

/** One item of `events list --json` (interface.md). */
export interface EventDocument {
  id: number;
  slug: string;
  type: TransitionType;
  occurred_at: string | null;
  received_at: string | null;
  source: string;
  livestream_id: number | null;
  title: string | null;
  /** Only on `title` events (asked for with `--types`), so the documented online/offline items keep their shape. */
  category?: string | null;
}

/** A stored status event as its `events list --json` item. */
export function eventDocument(record: EventRecord): EventDocument {
  return {
    id: record.id,
    slug: record.slug,
    type: record.type,
    occurred_at: isoOrNull(record.occurredAt),
    received_at: isoOrNull(record.receivedAt),
    source: record.source,
    livestream_id: record.livestreamId,
    title: record.title,
    ...(record.type === "title" ? { category: record.category } : {}),
  };
}

/** One item of `streamers history --json`. */
export interface SessionDocument {
  livestream_id: number | null;
  started_at: string | null;
  ended_at: string | null;
  duration_seconds: number | null;
  title: string | null;
  category: string | null;
  peak_viewers: number | null;
}

/** A stored session as its `streamers history --json` item. */
export function sessionDocument(record: SessionRecord): SessionDocument {
  return {
    livestream_id: record.livestreamId,
    started_at: isoOrNull(record.startedAt),
    ended_at: isoOrNull(record.endedAt),
    duration_seconds: record.endedAt
      ? Math.round((record.endedAt.getTime() - record.startedAt.getTime()) / 1000)
      : null,
    title: record.title,
    category: record.category,
    peak_viewers: record.peakViewers,
  };
}
