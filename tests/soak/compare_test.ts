/** The soak's verdict (compare.ts) on hand-made histories. */
import assert from "node:assert/strict";
import { compareHistories, type RecordedEvent, soakTolerance, type TruthEntry } from "./compare.ts";
import { isPollOnly } from "./harness.ts";

const T0 = Date.parse("2026-11-26T00:00:00Z");
const tolerance = { exactMs: 4_000, pollLateMs: 4_000, pollEarlyMs: 4_000 };
const options = { tolerance, blindWindows: [] };

function truth(slug: string, ...steps: [string, number][]): TruthEntry[] {
  return steps.map(([type, s]) => ({
    slug,
    type: type as "online" | "offline",
    at: T0 + s * 1000,
  }));
}

let nextId = 1;
function recorded(slug: string, ...steps: [string, number, string?][]): RecordedEvent[] {
  return steps.map(([type, s, source]) => ({
    id: nextId++,
    slug,
    type: type as "online" | "offline",
    at: T0 + s * 1000,
    source: (source ?? "pusher") as "pusher" | "poll",
  }));
}

Deno.test("compare: the same history is clean", () => {
  const t = truth("a", ["online", 10], ["offline", 30], ["online", 50]);
  const r = recorded("a", ["online", 10], ["offline", 31], ["online", 50]);
  const c = compareHistories(t, r, options);
  assert.deepEqual(
    [c.expected, c.recorded, c.missing, c.duplicated, c.outOfOrder, c.wrongTime],
    [3, 3, 0, 0, 0, 0],
  );
  assert.equal(c.maxDelayMs, 1_000);
});

Deno.test("compare: a missed flip is two missing, a second row is a duplicate", () => {
  const t = truth("a", ["online", 10], ["offline", 30], ["online", 50], ["offline", 70]);
  const r = recorded("a", ["online", 10], ["offline", 70]);
  const missed = compareHistories(t, r, options);
  assert.equal(missed.missing, 2);
  assert.equal(missed.duplicated, 0);
  assert.deepEqual(missed.examples.map((e) => [e.kind, e.type]), [
    ["missing", "offline"],
    ["missing", "online"],
  ]);

  const twice = compareHistories(
    truth("b", ["online", 10]),
    recorded("b", ["online", 10], ["online", 10]),
    options,
  );
  assert.equal(twice.duplicated, 1);
  assert.equal(twice.missing, 0);
});

Deno.test("compare: order by insertion, time against the tolerance and the blind windows", () => {
  const t = truth("a", ["online", 10], ["offline", 30], ["online", 50]);
  // The offline recorded 15 s late, and inserted after the online that followed it.
  const r = [
    ...recorded("a", ["online", 10]),
    ...recorded("a", ["online", 50]),
    ...recorded("a", ["offline", 45]),
  ];
  const late = compareHistories(t, r, options);
  assert.equal(late.outOfOrder, 1);
  assert.equal(late.wrongTime, 1);
  assert.equal(late.missing, 0);
  // The offline fell while the daemon was down: its restart time is right, up to the window's end.
  const excused = compareHistories(t, r, {
    ...options,
    blindWindows: [{ from: T0 + 25_000, until: T0 + 55_000 }],
  });
  assert.equal(excused.wrongTime, 0);
});

Deno.test("compare: streamers are compared separately", () => {
  const t = [...truth("a", ["online", 10]), ...truth("b", ["offline", 10])];
  const r = [...recorded("b", ["offline", 10]), ...recorded("c", ["online", 5])];
  const c = compareHistories(t, r, options);
  assert.equal(c.missing, 1);
  // c went online although nothing happened to c: a false transition.
  assert.equal(c.falseTransitions, 1);
  assert.equal(c.duplicated, 0);
});

Deno.test("compare: a flicker recorded is two false transitions; a repeated row is a duplicate", () => {
  const t = truth("a", ["online", 10], ["offline", 60]);
  // One poll answer said offline at 30; the next said online again with the same start time.
  const r = recorded("a", ["online", 10], ["offline", 30, "poll"], ["online", 10, "poll"], [
    "offline",
    60,
  ]);
  const c = compareHistories(t, r, options);
  assert.equal(c.falseTransitions, 2);
  assert.equal(c.duplicated, 0);
  assert.equal(c.missing, 0);
  assert.deepEqual(c.examples.filter((e) => e.kind === "false").map((e) => e.type).sort(), [
    "offline",
    "online",
  ]);
  // An online recorded while offline, with no truth behind it, is false too (from the initial state).
  const made = compareHistories([], recorded("b", ["online", 5, "poll"]), options);
  assert.equal(made.falseTransitions, 1);
  const again = compareHistories(
    truth("c", ["offline", 10]),
    recorded("c", ["offline", 10], ["offline", 12]),
    options,
  );
  assert.equal(again.duplicated, 1);
  assert.equal(again.falseTransitions, 0);
});

Deno.test("compare: a poll offline may be late up to pollLateMs, a push one only exactMs", () => {
  const strict = { exactMs: 1_000, pollLateMs: 5_000, pollEarlyMs: 2_000 };
  const t = truth("a", ["online", 10], ["offline", 30]);
  const late = (source: string, s: number) =>
    compareHistories(t, recorded("a", ["online", 10.5], ["offline", s, source]), {
      tolerance: strict,
      blindWindows: [],
    });
  assert.equal(late("poll", 34.9).wrongTime, 0);
  assert.equal(late("poll", 35.5).wrongTime, 1);
  assert.equal(late("poll", 28.5).wrongTime, 0, "early by less than a request");
  assert.equal(late("poll", 27.5).wrongTime, 1);
  assert.equal(late("pusher", 30.9).wrongTime, 0);
  assert.equal(late("pusher", 32).wrongTime, 1);
  const ok = late("poll", 33);
  assert.equal(ok.maxOffsetMs.offlinePoll, 3_000);
  assert.equal(ok.maxOffsetMs.online, 500);
  // A window for other streamers excuses nothing here; one for this streamer does.
  const windowed = (slugs: string[]) =>
    compareHistories(t, recorded("a", ["online", 10], ["offline", 45, "poll"]), {
      tolerance: strict,
      blindWindows: [{ from: T0 + 25_000, until: T0 + 50_000, slugs: new Set(slugs) }],
    }).wrongTime;
  assert.equal(windowed(["b"]), 1);
  assert.equal(windowed(["a"]), 0);
});

Deno.test("compare: the poll's tolerance is a poll interval + one full pass + the API lag + 1 s", () => {
  // 200 streamers, 50 per request at 1 request/s: a pass is 4 requests, 4 s.
  const t = soakTolerance({
    streamers: 200,
    pollIntervalSeconds: 3,
    apiRatePerSecond: 1,
    apiBatchSize: 50,
    apiLagSeconds: 2,
  });
  assert.equal(t.passRequests, 4);
  assert.equal(t.passMs, 4_000);
  assert.equal(t.pollLateMs, 3_000 + 4_000 + 2_000 + 1_000);
  assert.equal(t.exactMs, 1_000);
  assert.equal(
    soakTolerance({
      streamers: 201,
      pollIntervalSeconds: 3,
      apiRatePerSecond: 50,
      apiBatchSize: 50,
      apiLagSeconds: 0,
    }).pollLateMs,
    3_000 + 100 + 1_000,
  );
});

Deno.test("soak: --poll-only PCT makes exactly that share of the streamers poll-only, spread out", () => {
  const pick = (percent: number, count: number) =>
    Array.from({ length: count }, (_, i) => i).filter((i) => isPollOnly(i, percent));
  assert.equal(pick(25, 200).length, 50);
  assert.deepEqual(pick(25, 8), [3, 7]);
  assert.equal(pick(0, 200).length, 0);
  assert.equal(pick(100, 200).length, 200);
  assert.equal(pick(10, 45).length, 4);
});

Deno.test("compare: overlapping blind windows all count (the latest end wins)", () => {
  const truth = [{ slug: "s", type: "offline" as const, at: 10_000 }];
  const recorded: RecordedEvent[] = [{
    id: 1,
    slug: "s",
    type: "offline",
    at: 30_000,
    source: "poll",
  }];
  const result = compareHistories(truth as TruthEntry[], recorded, {
    tolerance: { exactMs: 1_000, pollLateMs: 5_000, pollEarlyMs: 2_000 },
    blindWindows: [{ from: 5_000, until: 12_000 }, { from: 8_000, until: 31_000 }],
  });
  assert.equal(result.wrongTime, 0);
});
