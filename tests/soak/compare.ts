/**
 * The soak's verdict: the recorded history (status_events) against the fake's ground truth (FakeWorld.history),
 * per streamer. Pure: no I/O, so the rules are tested on their own (compare_test.ts).
 *
 * Each streamer's two sequences are aligned (an edit distance: a truth entry matches a recorded event of the same
 * type; an unmatched truth entry is missing, an unmatched recorded event is extra), preferring matches close
 * in time. Then:
 * - missing: ground-truth transitions with no recorded event;
 * - duplicated: extra recorded events that repeat the state recorded just before them (by id): a second row for
 *   one transition;
 * - false: extra recorded events that change the recorded state although the truth did not (e.g. an offline and
 *   an online recorded for one flicker of Kick's API);
 * - out of order: recorded events whose time is earlier than the event recorded before them (by id);
 * - wrong time: matched events outside their tolerance ({@link Tolerance}: an online is dated from the start time
 *   Kick reports, an offline seen by a push source when it arrived, one found by the poll up to a poll interval,
 *   a pass and the API's lag late), unless the truth fell in a window where the monitor could not observe in real
 *   time (killed and restarting; an API outage for streamers only the poll sees): then the first reconciliation
 *   after it records the change with its own time, and anything up to the window's end is right.
 */

export type TransitionType = "online" | "offline";

export interface TruthEntry {
  slug: string;
  type: TransitionType;
  at: number;
}

export interface RecordedEvent {
  id: number;
  slug: string;
  type: TransitionType;
  at: number;
  /** `status_events.source`; absent counts as a push source. */
  source?: "pusher" | "poll" | "webhook";
}

/**
 * A time span (ms since the epoch) in which transitions are only seen by reconciliation at its end: for every
 * streamer, or only for `slugs` (those only the poll sees, during an API outage).
 */
export interface BlindWindow {
  from: number;
  until: number;
  slugs?: ReadonlySet<string>;
}

/** How far a recorded time may be from the truth, outside blind windows (ms). */
export interface Tolerance {
  /** Onlines (dated from the start time Kick reports), and offlines seen by a push source (Pusher, webhook). */
  exactMs: number;
  /** How late an offline found by the poll may be: a poll interval + one full pass + the API's lag + slack. */
  pollLateMs: number;
  /** How early an offline found by the poll may be: one request's duration (a slower answer is asked again). */
  pollEarlyMs: number;
}

/** What {@link soakTolerance} computes the poll's lateness from. */
export interface ToleranceInputs {
  streamers: number;
  pollIntervalSeconds: number;
  /** The daemon's KICK_API_RATE (requests per second). */
  apiRatePerSecond: number;
  /** The daemon's KICK_API_BATCH_SIZE (channels per request, at most 50). */
  apiBatchSize: number;
  /** The most the official API lags the truth (s). */
  apiLagSeconds: number;
}

/** The tolerance, with the parts of the poll's lateness for the report. */
export interface SoakTolerance extends Tolerance {
  pollIntervalMs: number;
  /** One full pass over every streamer: ⌈streamers / batch⌉ requests at the API rate. */
  passMs: number;
  passRequests: number;
  apiRatePerSecond: number;
  apiLagMs: number;
  slackMs: number;
}

/** Push sources (and Kick's start times) are within about a second of the truth. */
const EXACT_MS = 1_000;
/** Slack for a loaded machine on top of the poll's computed lateness. */
const SLACK_MS = 1_000;
/** The poll source asks again when an answer took longer than this (poll_source.ts SLOW_ANSWER_MS). */
const POLL_EARLY_MS = 2_000;

/**
 * The soak's explicit tolerance (README Guarantees, "Times"): an online is dated from the start time Kick reports
 * and an offline seen by Pusher when it arrived, both within ~1 s; an offline found only by the poll is seen at
 * the first request that shows it, so it may be late by one poll interval, plus one full pass (the streamer's
 * batch may come last), plus the API's lag, plus 1 s of slack; early by at most one request's duration.
 */
export function soakTolerance(inputs: ToleranceInputs): SoakTolerance {
  const passRequests = Math.ceil(inputs.streamers / Math.max(1, inputs.apiBatchSize));
  const passMs = Math.round(passRequests / inputs.apiRatePerSecond * 1000);
  const pollIntervalMs = inputs.pollIntervalSeconds * 1000;
  const apiLagMs = Math.round(inputs.apiLagSeconds * 1000);
  return {
    exactMs: EXACT_MS,
    pollLateMs: pollIntervalMs + passMs + apiLagMs + SLACK_MS,
    pollEarlyMs: POLL_EARLY_MS,
    pollIntervalMs,
    passMs,
    passRequests,
    apiRatePerSecond: inputs.apiRatePerSecond,
    apiLagMs,
    slackMs: SLACK_MS,
  };
}

export interface CompareOptions {
  tolerance: Tolerance;
  blindWindows: BlindWindow[];
}

export interface Discrepancy {
  slug: string;
  kind: "missing" | "duplicated" | "false" | "out-of-order" | "wrong-time";
  type: TransitionType;
  /** The truth time (missing, wrong-time) or the recorded time (duplicated, out-of-order), ISO. */
  at: string;
  detail?: string;
}

export interface Comparison {
  expected: number;
  recorded: number;
  missing: number;
  duplicated: number;
  /** Recorded transitions the truth does not contain. */
  falseTransitions: number;
  outOfOrder: number;
  wrongTime: number;
  /** Largest |recorded − truth| over matched events outside blind windows (ms). */
  maxDelayMs: number;
  /** The same, by kind of evidence: onlines, offlines seen by a push source, offlines found by the poll. */
  maxOffsetMs: { online: number; offlinePush: number; offlinePoll: number };
  /** The first discrepancies, for the report. */
  examples: Discrepancy[];
}

const GAP_COST = 100;
const MAX_EXAMPLES = 20;

/** Compares recorded events with the ground truth. */
export function compareHistories(
  truth: TruthEntry[],
  recorded: RecordedEvent[],
  options: CompareOptions,
): Comparison {
  const result: Comparison = {
    expected: truth.length,
    recorded: recorded.length,
    missing: 0,
    duplicated: 0,
    falseTransitions: 0,
    outOfOrder: 0,
    wrongTime: 0,
    maxDelayMs: 0,
    maxOffsetMs: { online: 0, offlinePush: 0, offlinePoll: 0 },
    examples: [],
  };
  const note = (d: Discrepancy) => {
    if (result.examples.length < MAX_EXAMPLES) result.examples.push(d);
  };
  const slugs = new Set([...truth.map((t) => t.slug), ...recorded.map((r) => r.slug)]);
  for (const slug of [...slugs].sort()) {
    const mine = truth.filter((t) => t.slug === slug);
    const byId = recorded.filter((r) => r.slug === slug).sort((a, b) => a.id - b.id);
    for (let i = 1; i < byId.length; i++) {
      if (byId[i].at < byId[i - 1].at) {
        result.outOfOrder++;
        note({
          slug,
          kind: "out-of-order",
          type: byId[i].type,
          at: iso(byId[i].at),
          detail: `recorded after an event at ${iso(byId[i - 1].at)}`,
        });
      }
    }
    const byTime = [...byId].sort((a, b) => a.at - b.at || a.id - b.id);
    const windows = options.blindWindows.filter((w) => w.slugs === undefined || w.slugs.has(slug));
    // The state before this streamer's first recorded event: the one its first true transition left.
    const initial: TransitionType | null = mine.length === 0
      ? null
      : mine[0].type === "online"
      ? "offline"
      : "online";
    for (const step of align(mine, byTime, options.tolerance, windows)) {
      if (step.truth !== undefined && step.event === undefined) {
        result.missing++;
        note({ slug, kind: "missing", type: step.truth.type, at: iso(step.truth.at) });
      } else if (step.truth === undefined && step.event !== undefined) {
        const event = step.event;
        const index = byId.indexOf(event);
        const before = index > 0 ? byId[index - 1].type : initial;
        if (before === event.type) {
          result.duplicated++;
          note({ slug, kind: "duplicated", type: event.type, at: iso(event.at) });
        } else {
          result.falseTransitions++;
          note({ slug, kind: "false", type: event.type, at: iso(event.at), detail: event.source });
        }
      } else if (step.truth !== undefined && step.event !== undefined) {
        const verdict = timeVerdict(step.truth.at, step.event, options.tolerance, windows);
        if (verdict.inWindow) continue;
        result.maxDelayMs = Math.max(result.maxDelayMs, verdict.offsetMs);
        const kind = evidenceOf(step.event);
        result.maxOffsetMs[kind] = Math.max(result.maxOffsetMs[kind], verdict.offsetMs);
        if (!verdict.ok) {
          result.wrongTime++;
          note({
            slug,
            kind: "wrong-time",
            type: step.truth.type,
            at: iso(step.truth.at),
            detail: `recorded at ${iso(step.event.at)} by ${step.event.source ?? "pusher"}`,
          });
        }
      }
    }
  }
  return result;
}

interface AlignedStep {
  truth?: TruthEntry;
  event?: RecordedEvent;
}

/** Minimum-cost alignment of one streamer's truth and recorded sequences (both in time order). */
function align(
  truth: TruthEntry[],
  events: RecordedEvent[],
  tolerance: Tolerance,
  windows: BlindWindow[],
): AlignedStep[] {
  const n = truth.length;
  const m = events.length;
  // cost[i][j]: best cost of aligning truth[i..] with events[j..].
  const cost: number[][] = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n; i >= 0; i--) {
    for (let j = m; j >= 0; j--) {
      if (i === n && j === m) continue;
      let best = Infinity;
      if (i < n) best = Math.min(best, GAP_COST + cost[i + 1][j]);
      if (j < m) best = Math.min(best, GAP_COST + cost[i][j + 1]);
      if (i < n && j < m && truth[i].type === events[j].type) {
        best = Math.min(
          best,
          matchCost(truth[i].at, events[j], tolerance, windows) + cost[i + 1][j + 1],
        );
      }
      cost[i][j] = best;
    }
  }
  const steps: AlignedStep[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (
      i < n && j < m && truth[i].type === events[j].type &&
      cost[i][j] === matchCost(truth[i].at, events[j], tolerance, windows) + cost[i + 1][j + 1]
    ) {
      steps.push({ truth: truth[i++], event: events[j++] });
    } else if (i < n && cost[i][j] === GAP_COST + cost[i + 1][j]) {
      steps.push({ truth: truth[i++] });
    } else {
      steps.push({ event: events[j++] });
    }
  }
  return steps;
}

/** 0 for a time within the tolerance, growing (but below two gaps) with the distance. */
function matchCost(
  truthAt: number,
  event: RecordedEvent,
  tolerance: Tolerance,
  windows: BlindWindow[],
): number {
  const verdict = timeVerdict(truthAt, event, tolerance, windows);
  if (verdict.ok) return 0;
  const { lateMs } = allowance(event, tolerance);
  return 1 + Math.min(90, Math.abs(event.at - truthAt) / Math.max(1, lateMs));
}

/** Which tolerance an event gets: onlines carry Kick's start time; offlines the time their source saw them. */
function evidenceOf(event: RecordedEvent): "online" | "offlinePush" | "offlinePoll" {
  if (event.type === "online") return "online";
  return event.source === "poll" ? "offlinePoll" : "offlinePush";
}

function allowance(
  event: RecordedEvent,
  tolerance: Tolerance,
): { earlyMs: number; lateMs: number } {
  if (evidenceOf(event) === "offlinePoll") {
    return { earlyMs: tolerance.pollEarlyMs, lateMs: tolerance.pollLateMs };
  }
  return { earlyMs: tolerance.exactMs, lateMs: tolerance.exactMs };
}

function timeVerdict(
  truthAt: number,
  event: RecordedEvent,
  tolerance: Tolerance,
  windows: BlindWindow[],
): { ok: boolean; inWindow: boolean; offsetMs: number } {
  const recordedAt = event.at;
  const offsetMs = Math.abs(recordedAt - truthAt);
  const { earlyMs, lateMs } = allowance(event, tolerance);
  // Every window that holds the truth counts (an API outage's and a restart's may overlap): the latest end.
  const covering = windows.filter((w) => truthAt >= w.from && truthAt <= w.until);
  if (covering.length > 0) {
    const until = Math.max(...covering.map((w) => w.until));
    const ok = recordedAt >= truthAt - earlyMs && recordedAt <= Math.max(until, truthAt + lateMs);
    if (ok) return { ok, inWindow: true, offsetMs };
  }
  const ok = recordedAt >= truthAt - earlyMs && recordedAt <= truthAt + lateMs;
  return { ok, inWindow: false, offsetMs };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
