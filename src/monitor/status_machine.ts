/**
 * The per-streamer status machine: pure functions over plain data, no clocks, sockets or databases.
 * It decides which observations are real transitions, so one real change is recorded once however many
 * sources, duplicate channel names (channel.{id} and channel_{id}) or reconnect replays report it — and so
 * that Kick's inconsistencies never become history.
 *
 * ## Evidence
 *
 * Sources say what kind of evidence an observation is (never the machine branching on a source's name):
 * - **push** (Pusher, webhooks): "this just happened". Trusted at once.
 * - **poll** (the official API): "this is how it looks now", as Kick's cache sees it. Kick's API lags its
 *   websocket by seconds and sometimes answers one request with the opposite state (kick-api.md §1.4, bug
 *   #321 and its flicker), so a poll answer that *contradicts* what we know is only believed when it holds.
 *
 * ## Rules (with their table test in tests/unit/status_machine_test.ts)
 *
 * 1. Unknown streamer: the first poll is a baseline (the state found, not a change that just happened); the
 *    first push is a real change.
 * 2. A poll online whose start time matches the current session (within SESSION_MATCH_MS, with the other
 *    session-matching helpers in src/monitor/session_match.ts: Pusher's
 *    `created_at` and the API's `start_time` differ by seconds, §3.5) confirms it and cancels any pending or
 *    suspected offline, whatever the dates.
 * 3. A poll offline while online is only *suspected*. A second consecutive poll offline makes it real, dated
 *    at the first sighting; a poll online of the same session in between clears it (a one-answer flicker
 *    records nothing). A poll offline asked within the allowance (min(poll interval, API_LAG_ALLOWANCE_MS))
 *    of a push online, or of the open session's start, is ignored and asked again later: it is the API's
 *    cache, not news (so an API lag shorter than that allowance plus an interval never records a false
 *    offline).
 * 4. Symmetrically, a poll online that is not a new broadcast (no start time, or one not after our offline)
 *    while offline is suspected, needs a second consecutive sighting, is dated at the first, and is ignored
 *    within one poll interval of a push offline. A poll online whose start time is after our offline is a
 *    new broadcast: real at once, at its start time.
 * 5. Offlines (push, or poll-confirmed) are held for the grace (KICK_MONITOR_OFFLINE_GRACE) and recorded
 *    with the time first seen; an online of any kind within the grace cancels them (a restart stays one
 *    session). A push offline for a livestream other than the current one is a stale replay and ignored.
 * 6. A new broadcast while online (a new livestream id from push, a later start time from the poll) whose
 *    gap since the last sign of life is longer than the grace means we missed an offline: both are
 *    recorded, the offline at the new broadcast's start (the latest it can have been).
 * 7. Any other report older than what we know is stale and ignored.
 */
import type { Evidence, Observation, StreamerStatus, Transition } from "../domain/types.ts";
import {
  adoptApiStart,
  isStaleStop,
  pushIsNewBroadcast,
  sameSessionAs,
  sameStart,
  timeOf,
} from "./session_match.ts";

/**
 * The most a poll answer is assumed to lag a push: a contradicting answer within min(poll interval, this) of
 * a push is the API's cache (issue 10 measured 4 s; `deno task lag-probe` measures it on the real service).
 */
export const API_LAG_ALLOWANCE_MS = 10_000;

/** What the machine remembers about one streamer. */
export interface StreamerState {
  slug: string;
  status: StreamerStatus;
  /** When the current status began (the real occurred time), if known. */
  since: Date | null;
  /** Livestream of the open session, or of the last one when offline. */
  livestreamId: number | null;
  /** Start of the open session, or of the last one when offline, if known. */
  sessionStartedAt: Date | null;
  /** Whose clock `sessionStartedAt` is on: the API's (`poll`) or Pusher's/webhooks' (`push`). */
  sessionStartedBy: Evidence | null;
  /**
   * An offline that has not yet held for the grace period (KICK_MONITOR_OFFLINE_GRACE). It is recorded with its
   * own time once the grace passes, and cancelled if the streamer comes back first (a restart stays one session).
   */
  pendingOffline: Observation | null;
  /** A poll answer contradicting the status, waiting for a second consecutive poll to agree (rules 3, 4). */
  suspect: Observation | null;
  /** When push evidence last set the status (receivedAt); poll answers shortly after it are the API's cache. */
  lastPushAt: Date | null;
  /** When we last had a sign the streamer was live (receivedAt of an online observation). */
  lastOnlineSeenAt: Date | null;
  /** The latest moment an answer said offline (its observedAt), while offline. */
  lastOfflineSeenAt: Date | null;
  /**
   * A poll answer contradicted a push too young to doubt: ask again after this moment (the reconciler does),
   * rather than wait a whole poll interval.
   */
  recheckAfter: Date | null;
}

/** Options of the machine. */
export interface MachineOptions {
  /** How long an offline must hold before it is recorded, in milliseconds. */
  offlineGraceMs: number;
  /**
   * The reconciliation poll's interval in milliseconds: a poll answer contradicting a push younger than this
   * (at most API_LAG_ALLOWANCE_MS) is ignored (rules 3 and 4). 0 or unset: no allowance (tests that model no
   * lag).
   */
  pollIntervalMs?: number;
}

/** The machine's answer to one input: its new state and the transitions to record. */
export interface Step {
  state: StreamerState;
  transitions: Transition[];
}

/** A fresh state for a streamer we have never checked. */
export function initialState(slug: string): StreamerState {
  return {
    slug,
    status: "unknown",
    since: null,
    livestreamId: null,
    sessionStartedAt: null,
    sessionStartedBy: null,
    pendingOffline: null,
    suspect: null,
    lastPushAt: null,
    lastOnlineSeenAt: null,
    lastOfflineSeenAt: null,
    recheckAfter: null,
  };
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

/** Applies one observation (see the rules in the module's header). */
export function observe(
  state: StreamerState,
  observation: Observation,
  options: MachineOptions,
): Step {
  if (state.status === "unknown") return baseline(state, observation);
  // A poll answer is the asking again that a deferred one waited for (deferred() sets it anew if shielded).
  const asked = observation.evidence === "poll" && state.recheckAfter !== null
    ? { ...state, recheckAfter: null }
    : state;
  if (observation.status === "online") return observeOnline(asked, observation, options);
  return observeOffline(asked, observation, options);
}

function baseline(state: StreamerState, observation: Observation): Step {
  const online = observation.status === "online";
  return {
    state: {
      ...state,
      status: observation.status,
      since: observation.observedAt,
      livestreamId: observation.livestreamId,
      sessionStartedAt: online ? observation.streamStartedAt ?? observation.observedAt : null,
      sessionStartedBy: online ? observation.evidence : null,
      pendingOffline: null,
      suspect: null,
      lastPushAt: observation.evidence === "push" ? observation.receivedAt : null,
      lastOnlineSeenAt: online ? observation.receivedAt : null,
      lastOfflineSeenAt: online ? null : observation.observedAt,
    },
    transitions: [transitionFrom(observation, observation.evidence === "poll", state.slug)],
  };
}

/** Whether a poll answer is shielded by a recent push (the API's cache has not caught up yet). */
function shieldMsOf(options: MachineOptions): number {
  return Math.min(options.pollIntervalMs ?? 0, API_LAG_ALLOWANCE_MS);
}

/** Whether a poll answer is shielded by a recent push (the API's cache has not caught up yet). */
/**
 * Since when a poll answer contradicting the state may be the API's cache rather than news: the last push,
 * and, for an offline answer about an open session, the session's start (an answer lagging by seconds may
 * describe the moment before the stream began; found by the soak with `--api-lag`).
 */
function shieldStart(state: StreamerState, observation: Observation): number {
  const sessionStart = observation.status === "offline" && state.status === "online"
    ? timeOf(state.sessionStartedAt)
    : -Infinity;
  return Math.max(timeOf(state.lastPushAt), sessionStart);
}

/** Whether a poll answer is shielded by a recent push or session start (the API's cache has not caught up). */
function shieldedByPush(state: StreamerState, observation: Observation, options: MachineOptions) {
  const shieldMs = shieldMsOf(options);
  // When the poll asked: an offline answer is dated by its request; an online one carries the stream's start
  // time instead, so its arrival stands in.
  const askedAt = observation.status === "offline"
    ? observation.observedAt
    : observation.receivedAt;
  return shieldMs > 0 && askedAt.getTime() < shieldStart(state, observation) + shieldMs;
}

/** A shielded answer is not believed, but asked again once the shield has passed. */
function deferred(state: StreamerState, observation: Observation, options: MachineOptions): Step {
  const recheckAfter = new Date(shieldStart(state, observation) + shieldMsOf(options));
  return { state: { ...state, recheckAfter }, transitions: [] };
}

function observeOnline(state: StreamerState, observation: Observation, options: MachineOptions) {
  const push = observation.evidence === "push";
  const started = observation.streamStartedAt ?? null;
  const seen = { ...state, lastOnlineSeenAt: observation.receivedAt };
  if (state.status === "online") {
    // The API's cache still showing the session a push just ended is not a confirmation (rule 3's shield).
    if (!push && state.pendingOffline !== null && shieldedByPush(state, observation, options)) {
      return deferred(state, observation, options);
    }
    const sameSession = sameSessionAs(state, observation);
    if (sameSession) {
      // Rule 2: a confirmation; cancels a pending or suspected offline whatever the dates.
      return {
        state: {
          ...seen,
          livestreamId: state.livestreamId ?? observation.livestreamId,
          // The API's own start time, once known, is what later poll answers are matched against.
          ...adoptApiStart(state, started),
          pendingOffline: null,
          suspect: null,
          lastPushAt: push ? observation.receivedAt : state.lastPushAt,
        },
        transitions: [],
      };
    }
    return newBroadcastWhileOnline(state, observation, options);
  }

  // Offline. A start time that is not the last session's, and not older than our offline and the answers
  // that said offline (less one interval, the API's lag), is a new broadcast (rule 4); so is a push online of
  // another livestream id, whatever Kick's clock says. Otherwise it is a stale answer about a broadcast that
  // had ended, or a lagging one about a broadcast that had begun: only a second answer tells which.
  const newBroadcast = push
    ? pushIsNewBroadcast(state, observation)
    : started !== null && !sameStart(state, observation) &&
      started.getTime() >=
        Math.max(timeOf(state.since), timeOf(state.lastOfflineSeenAt)) - shieldMsOf(options);
  if (newBroadcast) return goOnline(seen, observation);
  if (push) return { state, transitions: [] }; // A replay of the session we saw end.

  // A poll online contradicting our offline without being a new broadcast: the API's cache or a flicker,
  // unless it holds (rule 4).
  if (shieldedByPush(state, observation, options)) return deferred(state, observation, options);
  if (state.suspect === null || state.suspect.status !== "online") {
    return { state: { ...state, suspect: observation }, transitions: [] };
  }
  // Two consecutive poll answers say live: it is, since its stated start when that follows our offline,
  // else since we first saw it (a session cannot start before the offline that precedes it).
  const first = state.suspect;
  const since = started !== null && started.getTime() > timeOf(state.since)
    ? started.getTime()
    : Math.max(first.receivedAt.getTime(), timeOf(state.since) + 1);
  return goOnline(seen, { ...observation, observedAt: new Date(since) });
}

function goOnline(state: StreamerState, next: Observation): Step {
  // History never goes backwards: a start time Kick's clock puts before our offline (seconds of skew between
  // Pusher and the API, §3.5) is recorded just after it, or the store would keep it as history only.
  const observation = next.observedAt.getTime() > timeOf(state.since) ? next : {
    ...next,
    observedAt: new Date(timeOf(state.since) + 1),
  };
  return {
    state: {
      ...state,
      status: "online",
      since: observation.observedAt,
      livestreamId: observation.livestreamId,
      sessionStartedAt: observation.streamStartedAt ?? observation.observedAt,
      sessionStartedBy: observation.evidence,
      pendingOffline: null,
      suspect: null,
      lastPushAt: observation.evidence === "push" ? observation.receivedAt : state.lastPushAt,
    },
    transitions: [transitionFrom(observation, false, state.slug)],
  };
}

/** Rule 6, and rule 5's "an online within the grace cancels the offline". */
function newBroadcastWhileOnline(
  state: StreamerState,
  observation: Observation,
  options: MachineOptions,
): Step {
  const push = observation.evidence === "push";
  const lastAlive = state.pendingOffline?.observedAt ?? state.suspect?.observedAt ??
    state.lastOnlineSeenAt;
  const gapMs = observation.observedAt.getTime() - timeOf(lastAlive);
  if (options.offlineGraceMs > 0 && gapMs < options.offlineGraceMs) {
    // A restart within the grace stays one session: adopt the new livestream, keep the session.
    return {
      state: {
        ...state,
        livestreamId: observation.livestreamId ?? state.livestreamId,
        pendingOffline: null,
        suspect: null,
        lastPushAt: push ? observation.receivedAt : state.lastPushAt,
        lastOnlineSeenAt: observation.receivedAt,
      },
      transitions: [],
    };
  }
  // We missed an offline: the earlier sighting of it if we had one, else the new broadcast's start.
  const missed = state.pendingOffline ?? state.suspect;
  const candidate =
    missed !== null && missed.observedAt.getTime() < observation.observedAt.getTime()
      ? missed.observedAt.getTime()
      : observation.observedAt.getTime() - 1;
  // Never before the session it ends (Kick's clocks may put the new start right on the old one).
  const offlineAt = new Date(Math.max(candidate, timeOf(state.since) + 1));
  const offline: Observation = {
    ...observation,
    status: "offline",
    observedAt: offlineAt,
    livestreamId: state.livestreamId,
    title: null,
    category: null,
    viewers: null,
  };
  const closed = recordOffline(state, offline);
  const opened = goOnline(
    { ...closed.state, lastOnlineSeenAt: observation.receivedAt },
    observation,
  );
  return { state: opened.state, transitions: [...closed.transitions, ...opened.transitions] };
}

function observeOffline(state: StreamerState, observation: Observation, options: MachineOptions) {
  const push = observation.evidence === "push";
  if (state.status === "offline") {
    // Agreement; a suspected online was a flicker.
    const latest = Math.max(timeOf(state.lastOfflineSeenAt), observation.observedAt.getTime());
    return {
      state: { ...state, suspect: null, lastOfflineSeenAt: new Date(latest) },
      transitions: [],
    };
  }
  // Online. Rule 7: older than the session, or than a pending offline, is stale.
  const knownSince = state.pendingOffline?.observedAt ?? state.since;
  if (observation.observedAt.getTime() < timeOf(knownSince)) return { state, transitions: [] };
  if (push) {
    const staleStop = isStaleStop(state, observation);
    if (staleStop || state.pendingOffline !== null) return { state, transitions: [] };
    const lastPushAt = observation.receivedAt;
    // A suspected poll offline that saw it first dates it; a push stating an earlier end (a webhook's
    // `ended_at`, delivered late behind the poll's answer) is the real time (found by the soak's --webhooks).
    const first = state.suspect?.status === "offline" ? state.suspect : null;
    const offline = first === null || first.observedAt.getTime() >= observation.observedAt.getTime()
      ? observation
      : { ...observation, observedAt: first.observedAt };
    return holdOffline({ ...state, suspect: null, lastPushAt }, offline, options);
  }
  if (state.pendingOffline !== null) return { state, transitions: [] };
  if (shieldedByPush(state, observation, options)) return deferred(state, observation, options);
  if (state.suspect === null || state.suspect.status !== "offline") {
    return { state: { ...state, suspect: observation }, transitions: [] };
  }
  // Two consecutive poll offlines: real, since the first.
  return holdOffline({ ...state, suspect: null }, state.suspect, options);
}

function holdOffline(state: StreamerState, observation: Observation, options: MachineOptions) {
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
      ...state,
      status: "offline",
      since: observation.observedAt,
      livestreamId: offline.livestreamId,
      pendingOffline: null,
      suspect: null,
      lastOfflineSeenAt: new Date(
        Math.max(observation.observedAt.getTime(), observation.receivedAt.getTime()),
      ),
    },
    transitions: [transitionFrom(offline, false, state.slug)],
  };
}
