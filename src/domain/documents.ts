/**
 * The JSON documents of interface.md, built in one place from store records, so every output that shows a
 * streamer (`streamers list --json`, `service status`, later the read API) says the same thing.
 */
import { shownStatus, type StreamerRecord } from "../store/store.ts";
import type { StreamerStatus } from "./types.ts";

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

function isoOrNull(date: Date | null | undefined): string | null {
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
