/**
 * Whether an observation belongs to the session the status machine (src/monitor/status_machine.ts) knows:
 * pure helpers over the parts of its state that identify a session (livestream id, start time and whose clock
 * that is on). The rules that use them are in the status machine's header.
 */
import type { Evidence, Observation } from "../domain/types.ts";

/**
 * How far two start times of one broadcast may differ: Pusher's `created_at` and the API's `start_time` differ
 * by seconds (§3.5: 3 s in the captured sample); two answers of the API state the same `start_time`.
 */
export const SESSION_MATCH_MS = { acrossSources: 10_000, sameSource: 1_000 };

/** What identifies the open (or last) session: the parts of the machine's StreamerState these helpers read. */
export interface SessionView {
  /** When the current status began, if known. */
  since: Date | null;
  /** Livestream of the open session, or of the last one when offline. */
  livestreamId: number | null;
  /** Start of the open session, or of the last one when offline, if known. */
  sessionStartedAt: Date | null;
  /** Whose clock `sessionStartedAt` is on. */
  sessionStartedBy: Evidence | null;
}

/** A date in milliseconds; no date is before every other (`-Infinity`). */
export function timeOf(date: Date | null): number {
  return date?.getTime() ?? -Infinity;
}

/**
 * Whether an online observation is of the open session: by livestream id when both are known (push), else by
 * start time, within the tolerance of the clocks involved (a start time older than the session's is a
 * lagging answer about it, not a new broadcast); without either, it is taken as the same.
 */
export function sameSessionAs(state: SessionView, observation: Observation): boolean {
  if (observation.livestreamId !== null && state.livestreamId !== null) {
    return observation.livestreamId === state.livestreamId;
  }
  const started = observation.streamStartedAt ?? null;
  if (started === null || state.sessionStartedAt === null) return true;
  return started.getTime() <= state.sessionStartedAt.getTime() + startTolerance(state, observation);
}

/** Whether an online observation states the start time of the last session (within the clocks' tolerance). */
export function sameStart(state: SessionView, observation: Observation): boolean {
  const started = observation.streamStartedAt ?? null;
  if (started === null || state.sessionStartedAt === null) return false;
  return Math.abs(started.getTime() - state.sessionStartedAt.getTime()) <=
    startTolerance(state, observation);
}

/** How far apart two start times of one broadcast may be, by whose clocks they are on. */
export function startTolerance(state: SessionView, observation: Observation): number {
  const sameClock = observation.evidence === "poll" && state.sessionStartedBy === "poll";
  return sameClock ? SESSION_MATCH_MS.sameSource : SESSION_MATCH_MS.acrossSources;
}

/**
 * Whether a push online, while offline, is a new broadcast rather than a replay of the one that ended. By
 * livestream id when the push has one (Pusher); else by its start time (Kick's webhooks carry `started_at`
 * but no livestream id, and are delivered late or twice, kick-api.md §1.9.5): the ended session's start, or
 * one before our offline, is a replay.
 */
export function pushIsNewBroadcast(state: SessionView, observation: Observation): boolean {
  if (observation.livestreamId !== null) {
    return observation.livestreamId !== state.livestreamId ||
      observation.observedAt.getTime() > timeOf(state.since);
  }
  const started = observation.streamStartedAt ?? null;
  if (started === null) return observation.observedAt.getTime() > timeOf(state.since);
  return !sameStart(state, observation) && started.getTime() > timeOf(state.since);
}

/**
 * Whether a push offline ends another broadcast than the open one: a different livestream id (a replayed
 * StopStreamBroadcast), or, without ids, a start time that is not the open session's and before it (a late
 * webhook about an earlier broadcast).
 */
export function isStaleStop(state: SessionView, observation: Observation): boolean {
  if (observation.livestreamId !== null && state.livestreamId !== null) {
    return observation.livestreamId !== state.livestreamId;
  }
  const started = observation.streamStartedAt ?? null;
  return started !== null && state.sessionStartedAt !== null && !sameStart(state, observation) &&
    started.getTime() < state.sessionStartedAt.getTime();
}

/**
 * A session first seen without a start time takes the API's. One started by a push keeps Pusher's: a lagging
 * answer about the previous broadcast would otherwise become the session's start.
 */
export function adoptApiStart(
  state: SessionView,
  started: Date | null,
): { sessionStartedAt?: Date; sessionStartedBy?: "poll" } {
  return state.sessionStartedAt !== null || started === null
    ? {}
    : { sessionStartedAt: started, sessionStartedBy: "poll" as const };
}
