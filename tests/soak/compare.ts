/**
 * The soak's verdict: the recorded history (status_events) against the fake's ground truth (FakeWorld.history),
 * per streamer. Pure: no I/O, so the rules are tested on their own (compare_test.ts).
 *
 * Each streamer's two sequences are aligned (an edit distance: a truth entry matches a recorded event of the same
 * type; an unmatched truth entry is missing, an unmatched recorded event is a duplicate), preferring matches close
 * in time. Then:
 * - missing: ground-truth transitions with no recorded event;
 * - duplicated: recorded events with no ground-truth transition (a second row for one transition, or an extra);
 * - out of order: recorded events whose time is earlier than the event recorded before them (by id);
 * - wrong time: matched events further from the truth than the tolerance, unless the truth fell in a window
 *   where the monitor could not observe in real time (killed and restarting): then reconciliation at restart
 *   records it with the restart time, and anything up to the window's end is right.
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
}

/** A time span (ms since the epoch) in which transitions are only seen by reconciliation at its end. */
export interface BlindWindow {
  from: number;
  until: number;
}

export interface CompareOptions {
  /** How far a recorded time may be from the truth outside blind windows (ms). */
  toleranceMs: number;
  blindWindows: BlindWindow[];
}

export interface Discrepancy {
  slug: string;
  kind: "missing" | "duplicated" | "out-of-order" | "wrong-time";
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
  outOfOrder: number;
  wrongTime: number;
  /** Largest |recorded − truth| over matched events outside blind windows (ms). */
  maxDelayMs: number;
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
    outOfOrder: 0,
    wrongTime: 0,
    maxDelayMs: 0,
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
    for (const step of align(mine, byTime, options)) {
      if (step.truth !== undefined && step.event === undefined) {
        result.missing++;
        note({ slug, kind: "missing", type: step.truth.type, at: iso(step.truth.at) });
      } else if (step.truth === undefined && step.event !== undefined) {
        result.duplicated++;
        note({ slug, kind: "duplicated", type: step.event.type, at: iso(step.event.at) });
      } else if (step.truth !== undefined && step.event !== undefined) {
        const verdict = timeVerdict(step.truth.at, step.event.at, options);
        if (verdict.inWindow) continue;
        result.maxDelayMs = Math.max(result.maxDelayMs, verdict.offsetMs);
        if (!verdict.ok) {
          result.wrongTime++;
          note({
            slug,
            kind: "wrong-time",
            type: step.truth.type,
            at: iso(step.truth.at),
            detail: `recorded at ${iso(step.event.at)}`,
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
  options: CompareOptions,
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
        best = Math.min(best, matchCost(truth[i].at, events[j].at, options) + cost[i + 1][j + 1]);
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
      cost[i][j] === matchCost(truth[i].at, events[j].at, options) + cost[i + 1][j + 1]
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
function matchCost(truthAt: number, recordedAt: number, options: CompareOptions): number {
  const verdict = timeVerdict(truthAt, recordedAt, options);
  if (verdict.ok) return 0;
  return 1 + Math.min(90, Math.abs(recordedAt - truthAt) / Math.max(1, options.toleranceMs));
}

function timeVerdict(
  truthAt: number,
  recordedAt: number,
  options: CompareOptions,
): { ok: boolean; inWindow: boolean; offsetMs: number } {
  const offsetMs = Math.abs(recordedAt - truthAt);
  const window = options.blindWindows.find((w) => truthAt >= w.from && truthAt <= w.until);
  if (window !== undefined) {
    const ok = recordedAt >= truthAt - options.toleranceMs && recordedAt <= window.until;
    if (ok) return { ok, inWindow: true, offsetMs };
  }
  return { ok: offsetMs <= options.toleranceMs, inWindow: false, offsetMs };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
