/**
 * The vocabulary shared by sources, the pipeline and storage. Data flows one way:
 * sources emit Observations → the status machine turns them into Transitions → sinks store them.
 */

/** A streamer's status as we know it; `unknown` until the first check. */
export type StreamerStatus = "online" | "offline" | "unknown";

/** The two kinds of transition, and of observation. */
export type LiveStatus = "online" | "offline";

/** Where an observation came from (interface.md: `source`). */
export type EventSource = "pusher" | "poll" | "webhook";

/**
 * What kind of evidence an observation is: `push` ("this just happened": Pusher, webhooks) or `poll` ("this is
 * how it looks now", through Kick's cached API). The status machine reasons about this, never about the source.
 */
export type Evidence = "push" | "poll";

/** "Streamer X looked online/offline at time T, per source S, livestream L." */
export interface Observation {
  /** The streamer's slug (lowercase). */
  slug: string;
  /** Looked online or offline. */
  status: LiveStatus;
  /** When the source says the change happened (stream start time, or when the event was seen). */
  observedAt: Date;
  /** When this process received it. */
  receivedAt: Date;
  /** Which source saw it. */
  source: EventSource;
  /** What kind of evidence it is (push or poll). */
  evidence: Evidence;
  /** Kick's livestream id, when the source names one. */
  livestreamId: number | null;
  /**
   * The broadcast's start time as Kick states it (the API's `start_time`, Pusher's `created_at`, the webhook's
   * `started_at`), used to tell the same session from a new one; null when the source gave none. Online
   * observations carry it; a webhook offline carries the start of the session that ended (it has no livestream
   * id to say which).
   */
  streamStartedAt?: Date | null;
  /** The stream title, if the source gave one. */
  title: string | null;
  /** The stream category, if the source gave one. */
  category: string | null;
  /** Viewers while live, if the source gave them. */
  viewers: number | null;
  /** The source's payload, kept for the event log. */
  raw: unknown;
}

/** A real change of status, decided by the status machine, to be recorded exactly once. */
export interface Transition {
  /** Stable identity; the database ignores a second row with the same key. */
  dedupeKey: string;
  /** The streamer's slug (lowercase). */
  slug: string;
  /** Went online or offline. */
  type: LiveStatus;
  /** When it happened (the real time, as the evidence dates it). */
  occurredAt: Date;
  /** When this process learned of it. */
  receivedAt: Date;
  /** The source whose observation made it. */
  source: EventSource;
  /** Kick's livestream id, when known. */
  livestreamId: number | null;
  /** The stream title, if known. */
  title: string | null;
  /** The stream category, if known. */
  category: string | null;
  /**
   * The first status learned for a newly added streamer: it sets the status and opens a session when live,
   * but writes no status event, because nothing "just happened".
   */
  baseline: boolean;
  /** The source's payload, kept for the event log. */
  raw: unknown;
  /**
   * The lease it was decided under (issue 16): the database records it only while `instance` still owns the
   * streamer under `epoch` (fencing). Absent for writes outside a monitor (`check`), which are not fenced.
   */
  lease?: TransitionLease;
}

/** Who may write a transition: the monitor instance and the epoch of its lease on the streamer. */
export interface TransitionLease {
  /** `KICK_MONITOR_INSTANCE` of the monitor that decided it. */
  instance: string;
  /** The epoch of that monitor's lease on the streamer. */
  epoch: number;
}

/** A transition as written to the journal (dates as ISO strings). */
export interface SerializedTransition extends Omit<Transition, "occurredAt" | "receivedAt"> {
  occurredAt: string;
  receivedAt: string;
}

/** Dates to strings, for the journal. */
export function serializeTransition(transition: Transition): SerializedTransition {
  return {
    ...transition,
    occurredAt: transition.occurredAt.toISOString(),
    receivedAt: transition.receivedAt.toISOString(),
  };
}

/** Strings back to dates. */
export function deserializeTransition(stored: SerializedTransition): Transition {
  return {
    ...stored,
    occurredAt: new Date(stored.occurredAt),
    receivedAt: new Date(stored.receivedAt),
  };
}
