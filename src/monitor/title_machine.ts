/**
 * The title rules: when a live streamer's title or category change is real (issue 13's `title` event, issue 15
 * item 5). Pure functions over plain data, like the status machine (status_machine.ts), whose evidence rules
 * they mirror; the pipeline runs them beside it.
 *
 * ## Evidence
 *
 * - **push**: a webhook `livestream.metadata.updated` (kick-api.md §1.9.2) says "the title just changed":
 *   recorded at once, dated when Kick sent it. Pusher's public events carry the title only at go-live
 *   (§3.5), so they bring no change; neither does a status push, whose title is the go-live one (a replay
 *   of it would flip the title back).
 * - **poll**: the official API's `stream_title` and `category` "as Kick's cache sees it": they lag a push by
 *   seconds and one answer may show the old title again (§1.4), so an answer that differs is believed only
 *   when it holds.
 *
 * ## Rules (with their table test in tests/unit/title_machine_test.ts)
 *
 * 1. Only while live: a change is recorded only while the status machine holds the streamer online with no
 *    offline pending; at go-live the online event carries the title (the state starts from it), and after
 *    the offline nothing is recorded.
 * 2. A push whose title or category differs from the recorded one is recorded at once. A push dated before
 *    the recorded title's time is a late or repeated delivery (§1.9.5) and ignored; one that agrees records
 *    nothing.
 * 3. A poll answer that differs is only suspected; a second consecutive answer agreeing with it makes it
 *    real, dated when the first was received. An answer agreeing with the recorded title in between clears
 *    it (a one-answer flicker records nothing).
 * 4. A poll answer that differs within the shield (min(poll interval, API_LAG_ALLOWANCE_MS)) after the title
 *    was learned (the go-live, a metadata push, or the answer that confirmed a change) is the API's cache:
 *    ignored, so a poll never flips the title back to the old one just after a push reported the new one,
 *    nor just after a lagging answer showed it (two quick answers may lag differently; found by the soak
 *    with --api-lag: a go-live answer already showing the new title, then two older ones).
 * 5. A field the source did not give (null) is unknown, not a change; one we did not know yet is learned
 *    without an event (Pusher's go-live has no category; the poll fills it in). A poll answer missing a
 *    field we know (the API's drifting shape drops `stream_title` or the category now and then, kick-api.md
 *    §1.4) is no evidence at all: it cannot say whether that field changed with the other, and a change
 *    recorded from it would carry the stale value, then be recorded again from a whole answer (found by the
 *    soak with `--drift`: a retitle recorded once with the go-live title, once with its own).
 * 6. A poll answer about another broadcast (a start time more than SESSION_MATCH_MS.acrossSources from the
 *    one the title is about) is that broadcast's go-live title, not a change: learned without an event (the
 *    status machine decides whether it is a new session; a restart within the grace stays one. Found by the
 *    soak: a restarted stream's go-live title was recorded as a change of the old one).
 */
import type { Observation, Transition } from "../domain/types.ts";
import { API_LAG_ALLOWANCE_MS } from "./status_machine.ts";
import { SESSION_MATCH_MS } from "./session_match.ts";

/** The title and category of a streamer's open session, as recorded, and what is pending about them. */
export interface TitleState {
  /** The recorded title of the open session; null when not known. */
  title: string | null;
  /** The recorded category of the open session; null when not known. */
  category: string | null;
  /** Kick's livestream id of the open session, for the dedupe key. */
  livestreamId: number | null;
  /** The start of the broadcast the title is about (rule 6), if known. */
  startedAt: Date | null;
  /** When the recorded title was set (the go-live or the last change). */
  since: Date | null;
  /** When the title was learned (receivedAt); differing poll answers shortly after are the API's cache. */
  learnedAt: Date | null;
  /** A poll answer that differs, waiting for a second consecutive answer to agree (rule 3). */
  suspect: Observation | null;
}

/** The rules' answer to one input: the new state and the `title` transitions to record (zero or one). */
export interface TitleStep {
  state: TitleState;
  transitions: Transition[];
}

/** Options of {@link observeTitle}. */
export interface TitleOptions {
  /** Whether the streamer is live with no offline pending (rule 1), per the status machine. */
  live: boolean;
  /** The poll interval in milliseconds (rule 4's shield is min(this, API_LAG_ALLOWANCE_MS)); 0: none. */
  pollIntervalMs?: number;
}

/** Nothing known: a streamer not live, or not seen yet. */
export const NO_TITLE: TitleState = {
  title: null,
  category: null,
  livestreamId: null,
  startedAt: null,
  since: null,
  learnedAt: null,
  suspect: null,
};

/**
 * The state a session starts with: the title and category its online transition (or the stored open
 * session) carries, shielded from the poll for a while after `receivedAt` (rule 4; null: not shielded).
 */
export function titleAtGoLive(
  session: {
    title: string | null;
    category: string | null;
    livestreamId: number | null;
    startedAt?: Date | null;
  },
  options: { since: Date | null; receivedAt: Date | null },
): TitleState {
  return {
    title: session.title,
    category: session.category,
    livestreamId: session.livestreamId,
    startedAt: session.startedAt ?? options.since,
    since: options.since,
    learnedAt: options.receivedAt,
    suspect: null,
  };
}

/** The key the database dedupes a title change on (status_machine.ts's dedupeKeyOf, for `title`). */
export function titleDedupeKey(slug: string, livestreamId: number | null, at: Date): string {
  return `${slug}:title:${livestreamId ?? "-"}:${at.toISOString()}`;
}

/** Applies one observation's title and category (see the rules in the module's header). */
export function observeTitle(
  state: TitleState,
  observation: Observation,
  options: TitleOptions,
): TitleStep {
  const unchanged = { state, transitions: [] };
  if (!options.live) return unchanged;
  const started = observation.evidence === "poll" ? observation.streamStartedAt ?? null : null;
  const otherBroadcast = started !== null && state.startedAt !== null &&
    Math.abs(started.getTime() - state.startedAt.getTime()) > SESSION_MATCH_MS.acrossSources;
  if (otherBroadcast) {
    const since = new Date(Math.max(started.getTime(), (state.since?.getTime() ?? -Infinity) + 1));
    const session = { ...observation, startedAt: started };
    return {
      state: titleAtGoLive(session, {
        since,
        receivedAt: observation.receivedAt,
      }),
      transitions: [],
    };
  }
  // Rule 5: learn what was unknown; compare only what both sides know.
  const known = {
    ...state,
    title: state.title ?? observation.title,
    category: state.category ?? observation.category,
    livestreamId: state.livestreamId ?? observation.livestreamId,
    startedAt: state.startedAt ?? started,
  };
  const partial = (observation.title === null && known.title !== null) ||
    (observation.category === null && known.category !== null);
  if (observation.evidence === "poll" && partial) return { state: known, transitions: [] };
  const differs = (observation.title !== null && observation.title !== known.title) ||
    (observation.category !== null && observation.category !== known.category);
  if (observation.evidence === "push") {
    // Rule 2: a delivery older than what we recorded is late or repeated.
    if (observation.observedAt.getTime() < (state.since?.getTime() ?? -Infinity)) return unchanged;
    if (!differs) return { state: { ...known, suspect: null }, transitions: [] };
    return record(known, observation, observation.observedAt);
  }
  if (!differs) return { state: { ...known, suspect: null }, transitions: [] };
  // Rule 4: the API's cache still showing the title we just learned was replaced.
  const shieldMs = Math.min(options.pollIntervalMs ?? 0, API_LAG_ALLOWANCE_MS);
  const learnedAt = state.learnedAt?.getTime() ?? -Infinity;
  if (shieldMs > 0 && observation.receivedAt.getTime() < learnedAt + shieldMs) return unchanged;
  // Rule 3: a first answer is a suspect; a second agreeing one makes it real, dated at the first.
  const first = known.suspect;
  if (first === null || !sameMetadata(first, observation)) {
    return { state: { ...known, suspect: observation }, transitions: [] };
  }
  return record(known, observation, first.receivedAt);
}

/** Whether two answers report the same title and category. */
function sameMetadata(a: Observation, b: Observation): boolean {
  return a.title === b.title && a.category === b.category;
}

function record(
  state: TitleState,
  observation: Observation,
  at: Date,
): TitleStep {
  // History never goes backwards: a change is after the go-live or the change it follows.
  const occurredAt = new Date(Math.max(at.getTime(), (state.since?.getTime() ?? -Infinity) + 1));
  const title = observation.title ?? state.title;
  const category = observation.category ?? state.category;
  const livestreamId = state.livestreamId ?? observation.livestreamId;
  return {
    state: {
      title,
      category,
      livestreamId,
      startedAt: state.startedAt,
      since: occurredAt,
      learnedAt: observation.receivedAt,
      suspect: null,
    },
    transitions: [{
      dedupeKey: titleDedupeKey(observation.slug, livestreamId, occurredAt),
      slug: observation.slug,
      type: "title",
      occurredAt,
      receivedAt: observation.receivedAt,
      source: observation.source,
      livestreamId,
      title,
      category,
      baseline: false,
      raw: observation.raw,
    }],
  };
}
