/**
 * The records the store reads and writes: what the rest of the program knows of a stored streamer, event
 * or session. Plain data; the SQL is in store.ts.
 */
import type { EventSource, StreamerStatus, TransitionType } from "../domain/types.ts";

export type { EventSource, LiveStatus, StreamerStatus } from "../domain/types.ts";

/** The open session of a streamer, as `streamers list` shows it. */
export interface OpenSessionRecord {
  /** Kick's livestream id, when a source named it. */
  livestreamId: number | null;
  /** When the broadcast started. */
  startedAt: Date;
  /** The stream title when it started, if known. */
  title: string | null;
  /** The stream category when it started, if known. */
  category: string | null;
}

/** A monitored streamer. */
export interface StreamerRecord {
  /** `streamers.id`. */
  id: number;
  /** The channel's slug (lowercase), as in kick.com/SLUG. */
  slug: string;
  /** Kick's broadcaster user id, once known (the official API's key). */
  broadcasterUserId: number | null;
  /** The Pusher channel id (`channel.{id}`), once known; never the user id. */
  channelId: number | null;
  /** The chatroom id, once known (from the legacy website API). */
  chatroomId: number | null;
  /** The status last recorded. */
  status: StreamerStatus;
  /** When `status` began (the real occurred time), if known. */
  statusChangedAt: Date | null;
  /** When Kick last answered for the streamer (a poll pass that found the channel). */
  lastCheckedAt: Date | null;
  /** When the streamer was added. */
  addedAt: Date;
  /** The open session while online, else null. */
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
  /** The channel's slug, normalised (lowercase). */
  slug: string;
  /** Kick's broadcaster user id, if already known. */
  broadcasterUserId: number | null;
  /** The Pusher channel id, if already known. */
  channelId?: number | null;
  /** The chatroom id, if already known. */
  chatroomId?: number | null;
}

/** Ids to change: a key left out stays as it is; null clears it. */
export interface StreamerIds {
  /** The Pusher channel id. */
  channelId?: number | null;
  /** The chatroom id. */
  chatroomId?: number | null;
  /** Kick's broadcaster user id. */
  broadcasterUserId?: number | null;
}

/** A recorded status event (interface.md: `events list`). */
export interface EventRecord {
  /** `status_events.id`. */
  id: number;
  /** The streamer's slug now (after any rename). */
  slug: string;
  /** Went online or offline, or (`title`) changed the title or category while live. */
  type: TransitionType;
  /** When it happened, as the source said (or as first seen). */
  occurredAt: Date;
  /** When this process learned of it. */
  receivedAt: Date;
  /** Which source reported it. */
  source: EventSource;
  /** Kick's livestream id, when the source named it. */
  livestreamId: number | null;
  /** The stream title at the time, if known. */
  title: string | null;
  /** The stream category at the time, if known. */
  category: string | null;
}

/** Filter of `listEvents`. */
export interface EventFilter {
  /** Only this streamer's events. */
  slug?: string;
  /** Only events that occurred at or after this time. */
  since?: Date;
  /** Only events after this one in the listing's order (newest first): a page cursor. */
  before?: { occurredAt: Date; id: number };
  /** At most this many events, the latest first. */
  limit: number;
  /** Only these types; online and offline when unset (DEFAULT_EVENT_TYPES: `title` is opt-in). */
  types?: readonly TransitionType[];
}

/** A stream session (interface.md: `streamers history`). */
export interface SessionRecord {
  /** Kick's livestream id, when a source named it. */
  livestreamId: number | null;
  /** When the broadcast started. */
  startedAt: Date;
  /** Null while the session is open. */
  endedAt: Date | null;
  /** The stream title, if known. */
  title: string | null;
  /** The stream category, if known. */
  category: string | null;
  /** The most viewers seen during the session, if any were reported. */
  peakViewers: number | null;
}

/** What `db health` reports. */
export interface StoreHealth {
  /** The database server's version string (`SELECT version()`). */
  serverVersion: string;
  /** The highest applied migration version, or null on an empty database. */
  schemaVersion: number | null;
  /** Migration files not applied yet. */
  pendingMigrations: string[];
  /** Round trip of one trivial query, in milliseconds. */
  latencyMs: number;
}
