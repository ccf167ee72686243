/**
 * The per-streamer status machine: pure functions over plain data, no clocks, sockets or databases.
 * It decides which observations are real transitions, so one real change is recorded once however many
 * sources, duplicate channel names (channel.{id} and channel_{id}) or reconnect replays report it.
 */
import type { Observation, StreamerStatus, Transition } from "../domain/types.ts";

/** What the machine remembers about one streamer. */
export interface StreamerState {
  slug: string;
  status: StreamerStatus;
  /** When the current status began (the real occurred time), if known. */
  since: Date | null;
  /** Livestream of the open session, or of the last one when offline. */
  livestreamId: number | null;
  /**
   * An offline that has not yet held for the grace period (KICK_MONITOR_OFFLINE_GRACE). It is recorded with its
   * own time once the grace passes, and cancelled if the streamer comes back first (a restart stays one session).
   */
  pendingOffline: Observation | null;
}

export interface MachineOptions {
  /** How long an offline must hold before it is recorded, in milliseconds. */
  offlineGraceMs: number;
}

export interface Step {
  state: StreamerState;
  transitions: Transition[];
}

/** A fresh state for a streamer we have never checked. */
export function initialState(slug: string): StreamerState {
  return { slug, status: "unknown", since: null, livestreamId: null, pendingOffline: null };
}

/** The key the database dedupes on: the same transition replayed from the journal is a no-op. */
export function dedupeKeyOf(
  slug: string,
  type: "online" | "offline",
  occurredAt: Date,
  livestreamId: number | null,
): string {
  return `${slug}:${type}:${livestreamId ?? "-"}:${occurredAt.toISOString()}`;
}

function transitionFrom(observation: Observation, baseline: boolean, slug: string): Transition {
  return {
    dedupeKey: dedupeKeyOf(
      slug,
      observation.status,
      observation.observedAt,
      observation.livestreamId,
    ),
    slug,
    type: observation.status,
    occurredAt: observation.observedAt,
    receivedAt: observation.receivedAt,
    source: observation.source,
    livestreamId: observation.livestreamId,
    title: observation.title,
    category: observation.category,
    baseline,
    raw: observation.raw,
  };
}

/**
 * Applies one observation. Rules:
 * - unknown: the first poll records a baseline (the state it found, not a change that just happened); a pusher
 *   event is a real change.
 * - online → online: nothing (duplicate frame, second channel name, or the poll confirming); it also cancels a
 *   pending offline (the stream came back within the grace).
 * - online → offline: recorded at once when the grace is 0, else held as pending. A StopStreamBroadcast for a
 *   livestream other than the current one is stale (a replay of an old stream) and ignored.
 * - offline → online: a transition. offline → offline: nothing.
 */
export function observe(
  state: StreamerState,
  observation: Observation,
  options: MachineOptions,
): Step {
  const slug = state.slug;
  if (state.status === "unknown") {
    const baseline = observation.source === "poll";
    return {
      state: {
        slug,
        status: observation.status,
        since: observation.observedAt,
        livestreamId: observation.livestreamId,
        pendingOffline: null,
      },
      transitions: [transitionFrom(observation, baseline, slug)],
    };
  }

  // A report older than what we already know is stale (a lagging poll answer, a replayed frame): the poll's
  // online carries the stream's start time and its offline the time the request was sent, so it never
  // overrules a newer pusher event.
  // A livestream id we have not seen is a new broadcast, never stale, whatever Kick's clock says.
  const knownSince = state.pendingOffline?.observedAt ?? state.since;
  const newBroadcast = observation.status === "online" && observation.livestreamId !== null &&
    observation.livestreamId !== state.livestreamId;
  if (
    !newBroadcast && knownSince !== null && observation.observedAt.getTime() < knownSince.getTime()
  ) {
    return { state, transitions: [] };
  }

  if (observation.status === "online") {
    if (state.status === "online") {
      const livestreamId = state.livestreamId ?? observation.livestreamId;
      if (state.pendingOffline === null && livestreamId === state.livestreamId) {
        return { state, transitions: [] };
      }
      return { state: { ...state, livestreamId, pendingOffline: null }, transitions: [] };
    }
    return {
      state: {
        slug,
        status: "online",
        since: observation.observedAt,
        livestreamId: observation.livestreamId,
        pendingOffline: null,
      },
      transitions: [transitionFrom(observation, false, slug)],
    };
  }

  // observation.status === "offline"
  if (state.status === "offline") return { state, transitions: [] };
  const stale = observation.livestreamId !== null && state.livestreamId !== null &&
    observation.livestreamId !== state.livestreamId;
  if (stale) return { state, transitions: [] };
  if (state.pendingOffline !== null) return { state, transitions: [] };
  if (options.offlineGraceMs <= 0) return recordOffline(state, observation);
  return { state: { ...state, pendingOffline: observation }, transitions: [] };
}

/** Records a pending offline whose grace has passed by `now` (milliseconds since the epoch). */
export function tick(state: StreamerState, now: number, options: MachineOptions): Step {
  const pending = state.pendingOffline;
  if (pending === null || now - pending.receivedAt.getTime() < options.offlineGraceMs) {
    return { state, transitions: [] };
  }
  return recordOffline(state, pending);
}

function recordOffline(state: StreamerState, observation: Observation): Step {
  const offline: Observation = {
    ...observation,
    livestreamId: observation.livestreamId ?? state.livestreamId,
  };
  return {
    state: {
      slug: state.slug,
      status: "offline",
      since: observation.observedAt,
      livestreamId: offline.livestreamId,
      pendingOffline: null,
    },
    transitions: [transitionFrom(offline, false, state.slug)],
  };
}
