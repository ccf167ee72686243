/**
 * The records the store reads and writes: what the rest of the program knows of a stored streamer, event
 * or session. Plain data; the SQL is in store.ts.
 */
import type { EventSource, LiveStatus, StreamerStatus } from "../domain/types.ts";

/** The open session of a streamer, as `streamers list` shows it. */
export interface OpenSessionRecord {
  livestreamId: number | null;
  startedAt: Date;
  title: string | null;
  category: string | null;
}

/** A monitored streamer. */
export interface StreamerRecord {
  id: number;
  slug: string;
  broadcasterUserId: number | null;
  channelId: number | null;
  chatroomId: number | null;
  status: StreamerStatus;
  statusChangedAt: Date | null;
  lastCheckedAt: Date | null;
  addedAt: Date;
  session: OpenSessionRecord | null;
  /**
   * Why Kick no longer returns this channel (banned, deleted, or renamed while only its slug was known), or
   * null. While set, the streamer is shown as `unknown` (see {@link shownStatus}); `status` keeps what the
   * monitor last knew.
   */
  unavailableReason: string | null;
}

/** The status to show a person or a script: `unknown` while Kick does not return the channel. */
export function shownStatus(record: StreamerRecord): StreamerStatus {
  return record.unavailableReason === null ? record.status : "unknown";
}

/** A streamer to add; ids that are unknown yet may be null or left out. */
export interface NewStreamer {
  slug: string;
  broadcasterUserId: number | null;
  channelId?: number | null;
  chatroomId?: number | null;
}

/** Ids to change: a key left out stays as it is; null clears it. */
export interface StreamerIds {
  channelId?: number | null;
  chatroomId?: number | null;
  broadcasterUserId?: number | null;
}

/** A recorded status event (interface.md: `events list`). */
export interface EventRecord {
  id: number;
  slug: string;
  type: LiveStatus;
  occurredAt: Date;
  receivedAt: Date;
  source: EventSource;
  livestreamId: number | null;
  title: string | null;
}

/** Filter of `listEvents`. */
export interface EventFilter {
  slug?: string;
  /** Only events that occurred at or after this time. */
  since?: Date;
  /** Only events after this one in the listing's order (newest first): a page cursor. */
  before?: { occurredAt: Date; id: number };
  limit: number;
}

/** A stream session (interface.md: `streamers history`). */
export interface SessionRecord {
  livestreamId: number | null;
  startedAt: Date;
  /** Null while the session is open. */
  endedAt: Date | null;
  title: string | null;
  category: string | null;
  peakViewers: number | null;
}

/** What `db health` reports. */
export interface StoreHealth {
  serverVersion: string;
  schemaVersion: number | null;
  pendingMigrations: string[];
  /** Round trip of one trivial query, in milliseconds. */
  latencyMs: number;
}
